package sdp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const cryptoKey = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz" // 30 bytes

func savpOffer(proto, crypto string) string {
	s := "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 " + proto + " 0 101\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n"
	for _, c := range strings.Split(crypto, "\n") {
		if c != "" {
			s += "a=crypto:" + c + "\r\n"
		}
	}
	return s
}

// TestAnswerSRTPPolicy: each SRTP mode against SAVP and AVP offers with
// good, unknown, malformed and missing a=crypto lines: the stream is
// answered with SRTP (the offer's tag, proto and a key of our own), with
// plain RTP, or refused with a NegotiationError (488).
func TestAnswerSRTPPolicy(t *testing.T) {
	good := "1 AES_CM_128_HMAC_SHA1_80 inline:" + cryptoKey
	for _, c := range []struct {
		name   string
		mode   SRTPMode
		offer  string
		want   error  // nil: answered
		suite  string // "" plain
		proto  string
		answer string
	}{
		{"off savp", SRTPOff, savpOffer("RTP/SAVP", good), ErrNoAudio, "", "", ""},
		{"off avp with crypto", SRTPOff, savpOffer("RTP/AVP", good), nil, "", "RTP/AVP", ""},
		{"optional savp", SRTPOptional, savpOffer("RTP/SAVP", good), nil, SuiteAES128SHA1_80, "RTP/SAVP", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"},
		{"optional avp with crypto", SRTPOptional, savpOffer("RTP/AVP", "7 AES_CM_128_HMAC_SHA1_32 inline:"+cryptoKey+"|2^31"), nil, SuiteAES128SHA1_32, "RTP/AVP", "a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:"},
		{"optional avp plain", SRTPOptional, savpOffer("RTP/AVP", ""), nil, "", "RTP/AVP", ""},
		{"optional picks the known suite", SRTPOptional, savpOffer("RTP/SAVP", "1 AES_256_CM_HMAC_SHA1_80 inline:"+cryptoKey+cryptoKey+"\n2 AES_CM_128_HMAC_SHA1_80 inline:"+cryptoKey), nil, SuiteAES128SHA1_80, "RTP/SAVP", "a=crypto:2 "},
		{"unknown suite", SRTPOptional, savpOffer("RTP/SAVP", "1 F8_128_HMAC_SHA1_80 inline:"+cryptoKey), ErrNoCrypto, "", "", ""},
		{"no crypto", SRTPOptional, savpOffer("RTP/SAVP", ""), ErrNoCrypto, "", "", ""},
		{"bad base64", SRTPOptional, savpOffer("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:!!!"), ErrNoCrypto, "", "", ""},
		{"short key", SRTPOptional, savpOffer("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD"), ErrNoCrypto, "", "", ""},
		{"mki", SRTPOptional, savpOffer("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+cryptoKey+"|2^20|1:4"), ErrNoCrypto, "", "", ""},
		{"session param", SRTPOptional, savpOffer("RTP/SAVP", good+" UNENCRYPTED_SRTP"), ErrNoCrypto, "", "", ""},
		{"no tag", SRTPOptional, savpOffer("RTP/SAVP", "AES_CM_128_HMAC_SHA1_80"), ErrNoCrypto, "", "", ""},
		{"empty", SRTPOptional, savpOffer("RTP/SAVP", " "), ErrNoCrypto, "", "", ""},
		{"required plain", SRTPRequired, savpOffer("RTP/AVP", ""), ErrNoCrypto, "", "", ""},
		{"required avp with crypto", SRTPRequired, savpOffer("RTP/AVP", good), nil, SuiteAES128SHA1_80, "RTP/AVP", "a=crypto:1 "},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := local()
			l.SRTP = c.mode
			ans, n, err := Answer([]byte(c.offer), l)
			if c.want != nil {
				var ne *NegotiationError
				if !errors.As(err, &ne) || !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want NegotiationError wrapping %v", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := string(ans)
			if !strings.Contains(s, "m=audio 20000 "+c.proto+" ") {
				t.Errorf("answer proto, want %s:\n%s", c.proto, s)
			}
			if c.suite == "" {
				if n.Crypto != nil || strings.Contains(s, "a=crypto") {
					t.Fatalf("plain answer has SRTP: %v\n%s", n.Crypto, s)
				}
				return
			}
			if n.Crypto == nil || n.Crypto.Suite != c.suite || len(n.Crypto.Local) != 30 || len(n.Crypto.Remote) != 30 {
				t.Fatalf("crypto = %v", n.Crypto)
			}
			if !strings.Contains(s, c.answer) || strings.Count(s, "a=crypto") != 1 {
				t.Errorf("answer lacks %q:\n%s", c.answer, s)
			}
			if strings.Contains(s, cryptoKey) {
				t.Error("answer repeats the offerer's key")
			}
			if strings.Contains(n.Crypto.String(), cryptoKey) {
				t.Error("Crypto.String shows the key")
			}
		})
	}
}

// TestOfferAnswerSRTPRoundTrip: an SRTP offer from one Local answered by
// another gives each side the other's key as Remote; required offers
// RTP/SAVP, optional RTP/AVP with crypto; a re-offer keeps the keys; an
// answer without crypto to a required offer fails.
func TestOfferAnswerSRTPRoundTrip(t *testing.T) {
	for _, mode := range []SRTPMode{SRTPOptional, SRTPRequired} {
		a, b := local(), local()
		a.SRTP, b.SRTP = mode, SRTPOptional
		offer, err := Offer(a)
		if err != nil {
			t.Fatal(err)
		}
		wantProto := map[SRTPMode]string{SRTPOptional: "RTP/AVP", SRTPRequired: "RTP/SAVP"}[mode]
		if !strings.Contains(string(offer), "m=audio 20000 "+wantProto) || strings.Count(string(offer), "a=crypto:") != 2 {
			t.Fatalf("offer:\n%s", offer)
		}
		ans, nb, err := Answer(offer, b)
		if err != nil {
			t.Fatal(err)
		}
		na, err := ParseAnswer(ans, a)
		if err != nil {
			t.Fatal(err)
		}
		if na.Crypto == nil || nb.Crypto == nil || !bytes.Equal(na.Crypto.Local, nb.Crypto.Remote) || !bytes.Equal(na.Crypto.Remote, nb.Crypto.Local) {
			t.Fatalf("keys not crossed: %v %v", na.Crypto, nb.Crypto)
		}
		again, _ := Offer(a)
		if !bytes.Equal(again[bytes.Index(again, []byte("a=crypto")):], offer[bytes.Index(offer, []byte("a=crypto")):]) {
			t.Error("re-offer changed the keys")
		}
		plain, _, err := Answer(offer, &Local{Addr: b.Addr, Formats: DefaultFormats(), SRTP: SRTPOff})
		if mode == SRTPRequired {
			if err == nil {
				t.Fatal("SRTP-off answerer accepted RTP/SAVP")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n, err := ParseAnswer(plain, a); err != nil || n.Crypto != nil {
			t.Fatalf("plain answer to optional offer: %v %v", n.Crypto, err)
		}
	}
	// An answer without a=crypto to a required offer is refused.
	a := local()
	a.SRTP = SRTPRequired
	if _, err := Offer(a); err != nil {
		t.Fatal(err)
	}
	plain := "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	if _, err := ParseAnswer([]byte(plain), a); !errors.Is(err, ErrNoCrypto) {
		t.Fatalf("plain answer to required: %v", err)
	}
}

func FuzzRemoteCrypto(f *testing.F) {
	f.Add("1 AES_CM_128_HMAC_SHA1_80 inline:" + cryptoKey + "|2^31|1:4")
	f.Add("1 AES_CM_128_HMAC_SHA1_32 inline:" + cryptoKey)
	f.Fuzz(func(t *testing.T, line string) {
		l := local()
		l.SRTP = SRTPOptional
		_, _, _ = Answer([]byte(savpOffer("RTP/SAVP", line)), l)
	})
}
