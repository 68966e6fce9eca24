package platform

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

func hexSum(h []byte) string { return hex.EncodeToString(h) }

// signed returns an INVITE from source carrying the credentials a phone
// computes (icholy/digest, as sipgo's client) for chal as user:password.
func signed(t *testing.T, chal string, user, password string) *sip.Request {
	t.Helper()
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: "INVITE", URI: "sip:7000@127.0.0.1", Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.INVITE, sip.Uri{User: "7000", Host: "127.0.0.1"})
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	return req
}

func TestDigestVerification(t *testing.T) {
	md5ha1 := hexSum(func() []byte { h := md5.Sum([]byte("alice:sb:pw")); return h[:] }())
	shaha1 := hexSum(func() []byte { h := sha256.Sum256([]byte("alice:sb:pw")); return h[:] }())
	now := time.Unix(1e9, 0)
	a, err := newAuthenticator("sb", []User{{Name: "alice", HA1: md5ha1, HA1SHA256: shaha1}}, 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return now }
	src := netip.MustParseAddr("192.0.2.1")
	other := netip.MustParseAddr("192.0.2.2")
	chals := a.challenges(src, false)
	if len(chals) != 2 || !strings.Contains(chals[0], "algorithm=SHA-256") || !strings.Contains(chals[1], "algorithm=MD5") {
		t.Fatalf("challenges %q, want SHA-256 then MD5 (RFC 8760)", chals)
	}
	for _, c := range chals {
		if name, err := a.verify(signed(t, c, "alice", "pw"), src); name != "alice" || err != nil {
			t.Errorf("%s: %q, %v; want alice", c, name, err)
		}
	}
	if name, err := a.verify(sip.NewRequest(sip.INVITE, sip.Uri{Host: "x"}), src); name != "" || err != nil {
		t.Errorf("no credentials: %q, %v; want neither", name, err)
	}
	// Our nonce, answered from another address: not ours for it.
	if _, err := a.verify(signed(t, chals[1], "alice", "pw"), other); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("nonce replayed from another source: %v, want ErrBadCredentials", err)
	}
	// Expired nonce: stale, and not a failure.
	old := signed(t, chals[1], "alice", "pw")
	now = now.Add(nonceLife + time.Second)
	if _, err := a.verify(old, src); !errors.Is(err, errStale) {
		t.Errorf("expired nonce: %v, want stale", err)
	}
	if c := a.challenges(src, true); !strings.Contains(c[0], "stale=true") {
		t.Errorf("stale challenge %q", c[0])
	}
	chal := a.challenges(src, false)[1]
	for range 3 {
		if _, err := a.verify(signed(t, chal, "alice", "wrong"), src); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := a.verify(signed(t, chal, "alice", "pw"), src); !errors.Is(err, ErrLockedOut) {
		t.Errorf("right password after 3 failures: %v, want ErrLockedOut", err)
	}
	if name, _ := a.verify(signed(t, a.challenges(other, false)[1], "alice", "pw"), other); name != "alice" {
		t.Errorf("another source is not locked out: %q", name)
	}
	now = now.Add(time.Minute)
	if name, err := a.verify(signed(t, a.challenges(src, false)[1], "alice", "pw"), src); name != "alice" {
		t.Errorf("after the lockout period: %q, %v", name, err)
	}
	if _, err := a.verify(signed(t, a.challenges(src, false)[1], "mallory", "pw"), src); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestUsersConfigErrors(t *testing.T) {
	good := strings.Repeat("ab", 16)
	for _, u := range [][]User{
		{{Name: "", HA1: good}},
		{{Name: "a@b", HA1: good}},
		{{Name: "alice", HA1: "xyz"}},
		{{Name: "alice", HA1: good, HA1SHA256: "12"}},
		{{Name: "alice", HA1: good}, {Name: "alice", HA1: good}},
	} {
		if _, err := newAuthenticator("sb", u, 5, time.Minute); err == nil {
			t.Errorf("%+v accepted", u)
		}
	}
}

// FuzzDigestCredentials verifies arbitrary Authorization headers: no
// input panics, and none authenticates without the password (the
// fuzzer does not know it).
func FuzzDigestCredentials(f *testing.F) {
	a, err := newAuthenticator("sb", []User{{Name: "alice", HA1: hexSum(func() []byte { h := md5.Sum([]byte("alice:sb:pw")); return h[:] }())}}, 1<<30, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.1")
	n := a.nonce(src)
	for _, s := range []string{
		`Digest username="alice", realm="sb", nonce="` + n + `", uri="sip:7000@x", response="00000000000000000000000000000000"`,
		`Digest username="alice", realm="sb", nonce="` + n + `", uri="sip:7000@x", qop=auth, nc=00000001, cnonce="c", response="0"`,
		`Digest username="alice", realm="sb", nonce="` + n + `", algorithm=SHA-256, response=""`,
		`Digest realm="sb", nonce="AAAA"`, `Digest `, `Basic YWxpY2U6cHc=`, `Digest realm="sb", nc=zz`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		req := sip.NewRequest(sip.INVITE, sip.Uri{User: "7000", Host: "127.0.0.1"})
		req.AppendHeader(sip.NewHeader("Authorization", v))
		if name, err := a.verify(req, src); name != "" && err == nil {
			t.Fatalf("%q authenticated as %q", v, name)
		}
	})
}
