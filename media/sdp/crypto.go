package sdp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// SRTPMode is the local SRTP policy (SDES, RFC 4568), named as Asterisk
// and FreeSWITCH users know it.
type SRTPMode int

const (
	// SRTPOff offers plain RTP/AVP without keys, ignores a=crypto on an
	// RTP/AVP offer and refuses an RTP/SAVP offer (488).
	SRTPOff SRTPMode = iota
	// SRTPOptional offers RTP/AVP with a=crypto lines (best-effort SRTP,
	// as FreeSWITCH's optional mode and baresip's mediaenc=srtp do) and
	// answers SRTP to any offer that carries a usable a=crypto, plain
	// RTP to one that carries none.
	SRTPOptional
	// SRTPRequired offers RTP/SAVP and refuses (488) an offer or answer
	// without a usable a=crypto.
	SRTPRequired
)

// ParseSRTPMode reads a config value: "" or "off", "optional",
// "required".
func ParseSRTPMode(s string) (SRTPMode, error) {
	switch strings.ToLower(s) {
	case "", "off", "no", "false":
		return SRTPOff, nil
	case "optional", "best-effort":
		return SRTPOptional, nil
	case "required", "mandatory":
		return SRTPRequired, nil
	}
	return SRTPOff, fmt.Errorf("sdp: srtp %q: want off, optional or required", s)
}

// SRTP suites accepted and offered, in order of preference.
const (
	SuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
)

var srtpSuites = [...]string{SuiteAES128SHA1_80, SuiteAES128SHA1_32}

// srtpKeyLen is an AES_CM_128 inline key: 16-byte master key, 14-byte
// salt (RFC 4568 section 6.1).
const srtpKeyLen = 30

// Crypto is the SRTP keying of a negotiated stream: the suite chosen and
// the keys of both directions (master key || salt). The keys are
// secrets: String hides them.
type Crypto struct {
	Tag    int
	Suite  string
	Local  []byte // protects what we send; sent in our a=crypto
	Remote []byte // the peer's, from its a=crypto
}

// String names the suite and hides the keys.
func (c Crypto) String() string { return "crypto " + strconv.Itoa(c.Tag) + " " + c.Suite }

// ErrNoCrypto is wrapped by the NegotiationError (488) for an SRTP
// stream without an a=crypto line we can use: unknown suites, malformed
// keys, MKIs or session parameters.
var ErrNoCrypto = errors.New("sdp: no usable a=crypto")

// localKey returns the local key for suite, made once per Local so that
// re-offers repeat it.
func (l *Local) localKey(suite string) []byte {
	i := 0
	if suite == SuiteAES128SHA1_32 {
		i = 1
	}
	if l.srtpKeys[i] == nil {
		k := make([]byte, srtpKeyLen)
		_, _ = rand.Read(k) // never fails (crypto/rand)
		l.srtpKeys[i] = k
	}
	return l.srtpKeys[i]
}

func isSAVP(m *psdp.MediaDescription) bool {
	p := strings.Join(m.MediaName.Protos, "/")
	return p == "RTP/SAVP" || p == "RTP/SAVPF"
}

// acceptsProto: the stream's profile is one we may answer, RTP/AVP(F)
// always and RTP/SAVP(F) unless SRTP is off (then such a stream is
// rejected, and an offer of nothing else gets 488).
func (l *Local) acceptsProto(m *psdp.MediaDescription) bool {
	return isRTPAVP(m) || (isSAVP(m) && l.SRTP != SRTPOff)
}

// remoteCrypto returns the first a=crypto line of m that we can use: a
// known suite, one inline key of the right length, no MKI, lifetime or
// session parameters (RFC 4568 section 6.3 lets the answerer pick any
// line it supports). Malformed lines are skipped, never fatal here.
func remoteCrypto(m *psdp.MediaDescription) (tag int, suite string, key []byte, ok bool) {
	for _, a := range m.Attributes {
		if a.Key != "crypto" {
			continue
		}
		f := strings.Fields(a.Value)
		if len(f) != 3 { // session parameters (e.g. UNENCRYPTED_SRTP) unsupported
			continue
		}
		t, err := strconv.Atoi(f[0])
		if err != nil || t < 0 || t > 999999999 || len(f[0]) > 10 {
			continue
		}
		if f[1] != SuiteAES128SHA1_80 && f[1] != SuiteAES128SHA1_32 {
			continue
		}
		inline, found := strings.CutPrefix(f[2], "inline:")
		if !found || strings.ContainsAny(inline, "|;") { // lifetime, MKI, several keys
			if !found {
				continue
			}
			// A lifetime (2^31 or a number) alone is harmless; an MKI is not supported.
			parts := strings.Split(inline, "|")
			if len(parts) > 2 || strings.Contains(inline, ";") || strings.Contains(parts[1], ":") {
				continue
			}
			inline = parts[0]
		}
		k, err := base64.StdEncoding.DecodeString(inline)
		if err != nil {
			k, err = base64.RawStdEncoding.DecodeString(inline)
		}
		if err != nil || len(k) != srtpKeyLen {
			continue
		}
		return t, f[1], k, true
	}
	return 0, "", nil, false
}

// answerCrypto applies the local policy to an offered stream: the keying
// to answer with, nil for plain RTP, or a NegotiationError (488).
func (l *Local) answerCrypto(m *psdp.MediaDescription) (*Crypto, error) {
	savp := isSAVP(m)
	if l.SRTP == SRTPOff {
		return nil, nil // RTP/AVP (acceptsProto): its a=crypto lines are ignored
	}
	tag, suite, key, ok := remoteCrypto(m)
	switch {
	case ok:
		return &Crypto{Tag: tag, Suite: suite, Local: l.localKey(suite), Remote: key}, nil
	case savp || l.SRTP == SRTPRequired:
		return nil, &NegotiationError{Reason: "offer has no supported a=crypto", Err: ErrNoCrypto}
	}
	return nil, nil
}

// secure turns md into the SRTP form of c: the proto of the offer (or
// RTP/SAVP) and our a=crypto line with the offer's tag.
func secure(md *psdp.MediaDescription, offered *psdp.MediaDescription, c *Crypto) {
	if c == nil {
		return
	}
	if offered != nil {
		md.MediaName.Protos = append([]string(nil), offered.MediaName.Protos...)
		if isRTPAVP(offered) {
			// Best-effort SRTP: a=crypto on RTP/AVP keeps RTP/AVP.
			md.MediaName.Protos = []string{"RTP", "AVP"}
		}
	}
	md.Attributes = append(md.Attributes, cryptoAttribute(c.Tag, c.Suite, c.Local))
}

func cryptoAttribute(tag int, suite string, key []byte) psdp.Attribute {
	return psdp.NewAttribute("crypto", strconv.Itoa(tag)+" "+suite+" inline:"+base64.StdEncoding.EncodeToString(key))
}

// offerCrypto adds the local a=crypto lines (one per suite, tags 1 and
// 2) to an offer, with RTP/SAVP when SRTP is required.
func (l *Local) offerCrypto(md *psdp.MediaDescription) {
	if l.SRTP == SRTPOff {
		return
	}
	if l.SRTP == SRTPRequired {
		md.MediaName.Protos = []string{"RTP", "SAVP"}
	}
	for i, s := range srtpSuites {
		md.Attributes = append(md.Attributes, cryptoAttribute(i+1, s, l.localKey(s)))
	}
}

// answeredCrypto reads the keying of an answer to our offer: the
// answer's a=crypto must name a suite we offered, with its tag.
func (l *Local) answeredCrypto(m *psdp.MediaDescription) (*Crypto, error) {
	tag, suite, key, ok := remoteCrypto(m)
	if ok && l.SRTP != SRTPOff && tag >= 1 && tag <= len(srtpSuites) && srtpSuites[tag-1] == suite {
		return &Crypto{Tag: tag, Suite: suite, Local: l.localKey(suite), Remote: key}, nil
	}
	if l.SRTP == SRTPRequired || isSAVP(m) {
		return nil, &NegotiationError{Reason: "answer has no usable a=crypto", Err: ErrNoCrypto}
	}
	return nil, nil
}
