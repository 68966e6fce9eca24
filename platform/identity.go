package platform

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Identity is who sent a request, as far as the platform can tell. It
// comes from authentication or from a trusted peer, never from a header
// alone: an unauthenticated request's From is a claim, shown but not
// believed, and its Identity is the zero value.
type Identity struct {
	// URI is the identity, such as sip:alice@example.com; "" when the
	// sender is not known.
	URI string
	// By says how the identity was established.
	By IdentitySource
}

// Known reports whether the identity was established at all.
func (id Identity) Known() bool { return id.URI != "" }

// IdentitySource says how an Identity was established.
type IdentitySource string

// Identity sources.
const (
	// IdentityNone: not authenticated; From is only a claim.
	IdentityNone IdentitySource = ""
	// IdentityAsserted: a P-Asserted-Identity from a trusted peer (RFC
	// 3325), such as Kamailio after it authenticated the user.
	IdentityAsserted IdentitySource = "asserted"
	// IdentityTrustedPeer: the From of a request from a trusted peer that
	// asserted no identity.
	IdentityTrustedPeer IdentitySource = "trusted-peer"
	// IdentityDigest: a user of Config.Users authenticated by SIP digest
	// (RFC 3261 section 22, RFC 8760).
	IdentityDigest IdentitySource = "digest"
	// IdentityLocal: an application endpoint of this platform.
	IdentityLocal IdentitySource = "local"
)

// User is a user who may authenticate by digest: the credentials a
// phone's account holds, given as HA1 so that no password is stored.
type User struct {
	// Name is the user name (the digest username and the identity's user
	// part).
	Name string `yaml:"name"`
	// HA1 is MD5(name ":" realm ":" password) in hex, as Kamailio's
	// subscriber table and Asterisk's md5_cred keep it (printf
	// 'alice:switchboard:secret' | md5sum).
	HA1 string `yaml:"ha1"`
	// HA1SHA256 is the same with SHA-256 (RFC 8760), for phones that
	// answer the SHA-256 challenge. Optional.
	HA1SHA256 string `yaml:"ha1_sha256"`
}

// Authentication failures and lockouts.
var (
	// ErrLockedOut: too many failed authentications from this source
	// (Config.AuthMaxFailures within Config.AuthLockout).
	ErrLockedOut = errors.New("platform: too many failed authentications from this source")
	// ErrBadCredentials: credentials that do not match a user, or a nonce
	// that was not ours.
	ErrBadCredentials = errors.New("platform: bad credentials")
	// errStale: a nonce of ours that has expired: challenge again with
	// stale=true, the phone answers without asking its user.
	errStale = errors.New("platform: stale nonce")
)

// nonceLife is how long a challenge's nonce is accepted.
const nonceLife = 5 * time.Minute

// authenticator verifies SIP digest credentials against Config.Users.
// Nonces are stateless (a time and an HMAC of it with the source address
// under a key made at start-up), so a challenge costs no memory and a
// flood of unanswered challenges keeps nothing; failures are counted per
// source address for the lockout. Written here because no library served
// to us verifies SIP digest on the server side: icholy/digest (which
// sipgo's client uses) parses challenges and credentials and computes a
// client's answer, which is what we reuse.
type authenticator struct {
	realm     string
	users     map[string]User
	key       [32]byte
	maxFail   int
	lockout   time.Duration
	now       func() time.Time
	mu        sync.Mutex
	failures  map[netip.Addr]*failures
	lastSweep time.Time
}

type failures struct {
	n     int
	since time.Time
}

func newAuthenticator(realm string, users []User, maxFail int, lockout time.Duration) (*authenticator, error) {
	a := &authenticator{realm: realm, users: make(map[string]User, len(users)), maxFail: maxFail, lockout: lockout,
		now: time.Now, failures: make(map[netip.Addr]*failures)}
	for _, u := range users {
		if u.Name == "" || strings.ContainsAny(u.Name, "@:;\" \t\r\n") {
			return nil, fmt.Errorf("platform: user %q: a user name must be non-empty, without @ : ; quotes or spaces", u.Name)
		}
		if _, dup := a.users[u.Name]; dup {
			return nil, fmt.Errorf("platform: user %q is listed twice", u.Name)
		}
		if b, err := hex.DecodeString(u.HA1); err != nil || len(b) != md5.Size {
			return nil, fmt.Errorf("platform: user %q: ha1 must be 32 hex digits, MD5(%s:%s:password)", u.Name, u.Name, realm)
		}
		if u.HA1SHA256 != "" {
			if b, err := hex.DecodeString(u.HA1SHA256); err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("platform: user %q: ha1_sha256 must be 64 hex digits", u.Name)
			}
		}
		u.HA1, u.HA1SHA256 = strings.ToLower(u.HA1), strings.ToLower(u.HA1SHA256)
		a.users[u.Name] = u
	}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, err
	}
	return a, nil
}

// nonce returns a nonce for a challenge sent to source.
func (a *authenticator) nonce(source netip.Addr) string {
	var b [8 + sha256.Size]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().Unix()))
	copy(b[8:], a.mac(b[:8], source))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (a *authenticator) mac(stamp []byte, source netip.Addr) []byte {
	m := hmac.New(sha256.New, a.key[:])
	m.Write(stamp)
	src, _ := source.MarshalBinary()
	m.Write(src)
	return m.Sum(nil)
}

// checkNonce reports whether nonce is one of ours for source, and not
// expired (errStale).
func (a *authenticator) checkNonce(nonce string, source netip.Addr) error {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+sha256.Size || !hmac.Equal(b[8:], a.mac(b[:8], source)) {
		return ErrBadCredentials
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	if age := a.now().Sub(issued); age > nonceLife || age < -time.Minute {
		return errStale
	}
	return nil
}

// challenges returns the WWW-Authenticate values for a 401: SHA-256
// first (RFC 8760 section 2.4: the preferred algorithm first), then MD5,
// when users have SHA-256 credentials; else MD5 alone.
func (a *authenticator) challenges(source netip.Addr, stale bool) []string {
	n := a.nonce(source)
	algs := []string{"MD5"}
	for _, u := range a.users {
		if u.HA1SHA256 != "" {
			algs = []string{"SHA-256", "MD5"}
			break
		}
	}
	out := make([]string, 0, len(algs))
	for _, alg := range algs {
		c := digest.Challenge{Realm: a.realm, Nonce: n, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		out = append(out, c.String())
	}
	return out
}

// verify checks the credentials of req (Authorization or
// Proxy-Authorization) from source. It returns the user name, or
// ErrLockedOut, ErrBadCredentials or errStale; ("", nil) when req carries
// no credentials for our realm.
func (a *authenticator) verify(req *sip.Request, source netip.Addr) (string, error) {
	var creds *digest.Credentials
	for _, name := range []string{"Authorization", "Proxy-Authorization"} {
		for _, h := range req.GetHeaders(name) {
			c, err := digest.ParseCredentials(h.Value())
			if err != nil || c.Realm != a.realm {
				continue
			}
			creds = c
		}
	}
	if creds == nil {
		return "", nil
	}
	if a.lockedOut(source) {
		return "", ErrLockedOut
	}
	if err := a.checkNonce(creds.Nonce, source); err != nil {
		if errors.Is(err, ErrBadCredentials) {
			a.fail(source)
		}
		return "", err
	}
	u, ok := a.users[creds.Username]
	var h func() hash.Hash
	ha1 := ""
	switch strings.ToUpper(creds.Algorithm) {
	case "", "MD5":
		h, ha1 = md5.New, u.HA1
	case "SHA-256":
		h, ha1 = sha256.New, u.HA1SHA256
	}
	if !ok || h == nil || ha1 == "" {
		a.fail(source)
		return "", ErrBadCredentials
	}
	ha2 := hexHash(h, string(req.Method)+":"+creds.URI)
	var want string
	switch creds.QOP {
	case "":
		want = hexHash(h, ha1+":"+creds.Nonce+":"+ha2)
	case "auth":
		want = hexHash(h, ha1+":"+creds.Nonce+":"+fmt.Sprintf("%08x", creds.Nc)+":"+creds.Cnonce+":auth:"+ha2)
	default:
		a.fail(source)
		return "", ErrBadCredentials
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(creds.Response))) != 1 {
		a.fail(source)
		return "", ErrBadCredentials
	}
	return u.Name, nil
}

func hexHash(h func() hash.Hash, s string) string {
	x := h()
	x.Write([]byte(s))
	return hex.EncodeToString(x.Sum(nil))
}

func (a *authenticator) lockedOut(source netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[source]
	return f != nil && f.n >= a.maxFail && a.now().Sub(f.since) < a.lockout
}

// fail counts a failed authentication from source. The table is swept of
// expired entries now and then, so a scan from many sources keeps at most
// what one lockout period saw.
func (a *authenticator) fail(source netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if now.Sub(a.lastSweep) > a.lockout {
		for k, f := range a.failures {
			if now.Sub(f.since) >= a.lockout {
				delete(a.failures, k)
			}
		}
		a.lastSweep = now
	}
	f := a.failures[source]
	if f == nil || now.Sub(f.since) >= a.lockout {
		f = &failures{since: now}
		a.failures[source] = f
	}
	f.n++
}

// identify establishes the identity of req, an out-of-dialog request (see
// Identity): from a trusted peer its P-Asserted-Identity, else its From;
// from anyone else valid digest credentials of a Config.Users user.
// authErr reports credentials that were presented and refused.
func (p *Platform) identify(req *sip.Request, trusted bool) (id Identity, authErr error) {
	if trusted {
		if pai := req.GetHeader("P-Asserted-Identity"); pai != nil {
			// RFC 3325: one sip(s) URI and perhaps a tel URI, in any order.
			for v := range strings.SplitSeq(pai.Value(), ",") {
				var u sip.Uri
				params := sip.NewParams()
				if _, err := sip.ParseAddressValue(strings.TrimSpace(v), &u, &params); err == nil &&
					(u.Scheme == "sip" || u.Scheme == "sips") && u.User != "" {
					return Identity{URI: "sip:" + u.User + "@" + u.Host, By: IdentityAsserted}, nil
				}
			}
		}
		if f := req.From(); f != nil && f.Address.User != "" {
			return Identity{URI: "sip:" + f.Address.User + "@" + f.Address.Host, By: IdentityTrustedPeer}, nil
		}
		return Identity{}, nil
	}
	if p.auth == nil || req.IsAck() || req.IsCancel() {
		// ACK and CANCEL repeat the INVITE's credentials, computed for
		// the INVITE's method: they prove nothing more and must not count
		// as failures.
		return Identity{}, nil
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return Identity{}, nil
	}
	name, err := p.auth.verify(req, src.Addr().Unmap())
	if err != nil || name == "" {
		return Identity{}, err
	}
	return Identity{URI: "sip:" + name + "@" + p.auth.realm, By: IdentityDigest}, nil
}

// CanAuthenticate reports whether the platform has users who may
// authenticate by digest (Config.Users): a handler that needs an identity
// the request lacks may then Challenge.
func (p *Platform) CanAuthenticate() bool { return p.auth != nil }

// Challenge answers r with 401 Unauthorized and a digest challenge for
// the platform's realm (Config.Realm), so that the sender's phone repeats
// the request with its user's credentials. Credentials that were refused
// get 403 instead (a stale nonce a new challenge), and a source locked
// out by too many failures gets 403 whatever it sends: a password cannot
// be guessed by trying. Without Config.Users, Challenge answers 403.
func (r *Request) Challenge() error {
	code, reason, hs := r.ChallengeResponse()
	return r.Respond(code, reason, nil, hs...)
}

// ChallengeResponse returns what Challenge answers (the code, reason and
// headers), for a handler that builds the response itself (an endpoint's
// call, whose responses carry its dialog's tag).
func (r *Request) ChallengeResponse() (code int, reason string, headers []sip.Header) {
	p := r.platform
	if p == nil || p.auth == nil {
		return sip.StatusForbidden, "Forbidden", nil
	}
	src, err := netip.ParseAddrPort(r.Source())
	if err != nil {
		return sip.StatusForbidden, "Forbidden", nil
	}
	switch {
	case errors.Is(r.authErr, ErrLockedOut), errors.Is(r.authErr, ErrBadCredentials),
		p.auth.lockedOut(src.Addr().Unmap()):
		p.log.Info("authentication refused", "source", r.Source(), "method", string(r.Method), "reason", authReason(r.authErr))
		why := RejectAuth
		if r.authErr == nil || errors.Is(r.authErr, ErrLockedOut) {
			why = RejectLocked
		}
		p.rejected(string(r.Method), why)
		return sip.StatusForbidden, "Forbidden", nil
	}
	for _, c := range p.auth.challenges(src.Addr().Unmap(), errors.Is(r.authErr, errStale)) {
		headers = append(headers, sip.NewHeader("WWW-Authenticate", c))
	}
	return sip.StatusUnauthorized, "Unauthorized", headers
}

func authReason(err error) string {
	if err == nil {
		return "locked out"
	}
	return err.Error()
}
