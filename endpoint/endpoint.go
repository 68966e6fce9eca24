package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/internal/ua"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/sdp"
	"github.com/switchboard-sip/switchboard/platform"
)

// Kind tells application endpoints (trusted) from user endpoints; see
// [Endpoint.Kind].
type Kind int

const (
	// KindApplication endpoints, made by NewApplication, are trusted
	// identities of the platform.
	KindApplication Kind = iota
	// KindUser endpoints, made by NewUser, act for one user and may not
	// impersonate.
	KindUser
)

// Settings describe an endpoint's identity and behaviour.
type Settings struct {
	// OwnerURI is the endpoint's SIP URI; out-of-dialog requests whose
	// Request-URI names it are routed to the endpoint. Required.
	OwnerURI string `yaml:"owner_uri"`
	// PhoneURI is an optional tel: or sip:...;user=phone URI.
	PhoneURI string `yaml:"phone_uri"`
	// DisplayName is shown in From.
	DisplayName string `yaml:"display_name"`
	// Default makes this the default routing endpoint: it receives
	// requests that match no other endpoint.
	Default bool `yaml:"default"`

	// Prefix makes the endpoint own every Request-URI whose user part
	// starts with the owner URI's user part (sip:conf-@host owns
	// sip:conf-42@host), after exact matches of other endpoints.
	Prefix bool `yaml:"prefix"`
	// TrustedOnly makes the endpoint refuse out-of-dialog requests from
	// untrusted peers with 403 (see platform.Config.TrustedPeers).
	TrustedOnly bool `yaml:"trusted_only"`

	// SessionExpires is the RFC 4028 session interval offered on outgoing
	// calls and accepted on incoming ones. Default: the platform's
	// (platform.WithCallDefaults), else 1800s; negative disables session
	// timers.
	SessionExpires time.Duration `yaml:"session_expires"`
	// MinSessionExpires is the smallest session interval accepted from a
	// peer; smaller requests get 422 with Min-SE (RFC 4028 section 8).
	// Default 90s.
	MinSessionExpires time.Duration `yaml:"min_session_expires"`
	// Codecs restricts and orders the audio formats offered and accepted:
	// any of "PCMU", "PCMA", "G722", "opus", "CN" (RFC 3389 comfort noise)
	// and "telephone-event" (RFC 4733). Default: PCMU, PCMA,
	// telephone-event, in that order; G722 (wideband, 16 kHz audio), opus
	// (RFC 7587, decoded at 16 kHz) and CN are offered and accepted only
	// when listed. Opus exists only in a build with the opus tag
	// (media/codec): without it "opus" is skipped, not offered. With opus
	// and telephone-event, telephone-event is also offered at Opus's 48 kHz
	// clock (RFC 4733 section 2.1). With CN negotiated, players and the
	// conference mixer send comfort noise packets in silence instead of
	// silent audio (media.Session.WriteComfortNoise). When set,
	// the order is also the preference when answering an offer: the
	// first listed codec the offer carries is chosen, whatever the
	// offerer's order (RFC 3264 section 6.1); by default the offerer's
	// order wins. Without telephone-event, DTMF is sent and detected
	// in-band.
	Codecs []string `yaml:"codecs"`
	// RTPTimeout ends a call with BYE when no RTP arrives for this long
	// while the remote side is expected to send. Default: the platform's
	// (platform.WithCallDefaults), else 30s; negative disables it.
	RTPTimeout time.Duration `yaml:"rtp_timeout"`
	// SRTP is the media encryption policy (SDES keys, RFC 4568, in
	// AES_CM_128_HMAC_SHA1_80 or _32): "off" (default) offers plain
	// RTP and answers an RTP/SAVP offer with 488; "optional" offers
	// RTP/AVP with a=crypto and encrypts whenever the peer keys SRTP;
	// "required" offers RTP/SAVP and answers 488 to an offer without a
	// usable a=crypto. Keys travel in the SDP, so they are only as
	// secret as the signalling: use it with SIP over TLS. Default: the
	// platform's (platform.WithCallDefaults), else off.
	SRTP string `yaml:"srtp"`
}

// Handler serves incoming audio calls of an endpoint.
type Handler interface {
	// ServeCall runs on the call's own goroutine. The call is terminated
	// when ServeCall returns unless it called c.HandOff. ctx is cancelled
	// when the call terminates.
	ServeCall(ctx context.Context, c *Call)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Call)

// ServeCall calls f(ctx, c).
func (f HandlerFunc) ServeCall(ctx context.Context, c *Call) { f(ctx, c) }

// Endpoint is an application or user endpoint hosted on a platform.
type Endpoint struct {
	p        *platform.Platform
	kind     Kind
	settings Settings
	owner    sip.Uri
	phone    *sip.Uri
	log      *slog.Logger
	unroute  func()
	formats  []sdp.Format
	srtp     sdp.SRTPMode

	mu      sync.Mutex
	handler Handler
	other   platform.Handler
	closed  bool
}

// NewApplication creates a trusted application endpoint and routes its
// owner URI on p.
func NewApplication(p *platform.Platform, s Settings) (*Endpoint, error) {
	return newEndpoint(p, KindApplication, s)
}

// NewUser creates a user endpoint (not trusted: it may not impersonate).
func NewUser(p *platform.Platform, s Settings) (*Endpoint, error) {
	return newEndpoint(p, KindUser, s)
}

func newEndpoint(p *platform.Platform, k Kind, s Settings) (*Endpoint, error) {
	owner, err := ParseURI(s.OwnerURI)
	if err != nil {
		return nil, fmt.Errorf("endpoint: owner URI: %w", err)
	}
	if owner.Scheme != "sip" && owner.Scheme != "sips" {
		return nil, fmt.Errorf("endpoint: owner URI %q must be a SIP URI", s.OwnerURI)
	}
	if err := checkValue("display name", s.DisplayName); err != nil {
		return nil, err
	}
	e := &Endpoint{p: p, kind: k, settings: s, owner: owner}
	if s.PhoneURI != "" {
		ph, err := ParseURI(s.PhoneURI)
		if err != nil {
			return nil, fmt.Errorf("endpoint: phone URI: %w", err)
		}
		e.phone = &ph
	}
	// Unset timers take the platform's (the server's calls: section),
	// then the endpoint's own defaults.
	pd := p.CallDefaults()
	if e.settings.SessionExpires == 0 {
		e.settings.SessionExpires = pd.SessionExpires
	}
	if e.settings.SessionExpires == 0 {
		e.settings.SessionExpires = 1800 * time.Second
	}
	if e.settings.RTPTimeout == 0 {
		e.settings.RTPTimeout = pd.RTPTimeout
	}
	if e.settings.SRTP == "" {
		e.settings.SRTP = pd.SRTP
	}
	if e.srtp, err = sdp.ParseSRTPMode(e.settings.SRTP); err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	if e.formats, err = formatsFor(s.Codecs); err != nil {
		return nil, err
	}
	if e.settings.MinSessionExpires == 0 {
		e.settings.MinSessionExpires = 90 * time.Second
	}
	if e.settings.RTPTimeout == 0 {
		e.settings.RTPTimeout = 30 * time.Second
	}
	e.log = p.Logger().With("endpoint", owner.String())
	var h platform.Handler = platform.HandlerFunc(e.serveSIP)
	if s.TrustedOnly {
		h = platform.RequireTrusted(h)
	}
	if s.Prefix {
		e.unroute, err = p.RoutePrefix(owner.User, h)
	} else {
		e.unroute, err = p.Route(owner, h)
	}
	if err != nil {
		return nil, err
	}
	if s.Default {
		p.SetDefault(h)
	}
	return e, nil
}

// Platform returns the endpoint's platform.
func (e *Endpoint) Platform() *platform.Platform { return e.p }

// Kind returns the endpoint's kind.
func (e *Endpoint) Kind() Kind { return e.kind }

// OwnerURI returns the endpoint's owner URI.
func (e *Endpoint) OwnerURI() string { return e.owner.String() }

// HandleCalls sets the handler of incoming audio calls. Without one,
// incoming calls are declined with 480 Temporarily Unavailable.
func (e *Endpoint) HandleCalls(h Handler) {
	e.mu.Lock()
	e.handler = h
	e.mu.Unlock()
}

// HandleOther sets a handler for out-of-dialog requests other than INVITE
// (SUBSCRIBE, MESSAGE, ...). Without one they get 405.
func (e *Endpoint) HandleOther(h platform.Handler) {
	e.mu.Lock()
	e.other = h
	e.mu.Unlock()
}

// NewConversation returns an idle conversation on this endpoint.
func (e *Endpoint) NewConversation() *Conversation {
	return &Conversation{ep: e, id: presence{uri: e.owner, phone: e.phone, name: e.settings.DisplayName}}
}

// Close removes the endpoint's routes. Calls in progress continue. It is
// idempotent.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.unroute()
	if e.settings.Default {
		e.p.SetDefault(nil)
	}
	return nil
}

func (e *Endpoint) serveSIP(r *platform.Request) {
	switch r.Method {
	case sip.INVITE:
		e.serveInvite(r)
	default:
		e.mu.Lock()
		h := e.other
		e.mu.Unlock()
		if h != nil {
			h.ServeSIP(r)
			return
		}
		_ = r.Respond(sip.StatusMethodNotAllowed, "Method Not Allowed", nil, sip.NewHeader("Allow", platform.Allowed))
	}
}

// formatsFor maps codec names to SDP formats.
func formatsFor(names []string) ([]sdp.Format, error) {
	if len(names) == 0 {
		return sdp.DefaultFormats(), nil
	}
	all := sdp.SupportedFormats()
	_, haveOpus := codec.ByName("opus")
	opus, dtmf := false, false
	var out []sdp.Format
	for _, n := range names {
		if strings.EqualFold(n, "opus") {
			if haveOpus && !opus {
				out = append(out, sdp.OpusFormat())
			}
			opus = true
			continue
		}
		found := false
		for _, f := range all {
			if strings.EqualFold(f.Name, n) {
				out, found = append(out, f), true
				dtmf = dtmf || f.IsDTMF()
			}
		}
		if !found {
			return nil, fmt.Errorf("endpoint: unsupported codec %q (have PCMU, PCMA, G722, opus, CN, telephone-event)", n)
		}
	}
	if haveOpus && opus && dtmf {
		// RFC 4733 section 2.1: events are timed in the audio's clock.
		out = append(out, sdp.Format{PayloadType: 110, Name: "telephone-event", ClockRate: 48000, FMTP: "0-16"})
	}
	for _, f := range out {
		if f.IsAudio() {
			return out, nil
		}
	}
	if opus && !haveOpus {
		return nil, errors.New("endpoint: codecs must include an audio codec (opus needs a build with -tags opus)")
	}
	return nil, errors.New("endpoint: codecs must include an audio codec")
}

// FromLocalApplication reports whether an incoming call was placed by an
// outgoing call of an application endpoint on the same platform. The check
// finds the dialog the caller registered (its Call-ID and From tag) and
// then requires the INVITE to carry the Via branch of that call's INVITE,
// which that call sent to one of this platform's own listeners: Call-ID and
// From tag alone are values a remote party learns from any INVITE we send
// it, and the branch of an INVITE that went from our socket to our socket
// never left the process. Conferences use it to admit trusted joins from
// local application endpoints.
func (c *Call) FromLocalApplication() bool {
	req := c.Request()
	if req == nil {
		return false
	}
	lc, ok := localCaller(c.p, req)
	return ok && lc.ep.kind == KindApplication
}

// localCaller reports whether req (an INVITE received by p) was sent by a
// call of an endpoint on the same platform, and returns that call (see
// FromLocalApplication).
func localCaller(p *platform.Platform, req *sip.Request) (*Call, bool) {
	tag, ok := req.From().Params.Get("tag")
	if !ok {
		return nil, false
	}
	h, ok := ua.Of(p).Dialog(req.CallID().Value(), tag)
	if !ok {
		return nil, false
	}
	c, ok := callOf(h)
	if !ok || c.incoming || !c.sent(req) {
		return nil, false
	}
	return c, true
}

// ErrNotApplication is returned for actions reserved to application
// endpoints.
var ErrNotApplication = errors.New("endpoint: only application endpoints may do this")

// ParseURI parses a SIP, SIPS or tel URI (a bare address in angle brackets
// is accepted). It rejects control characters, values longer than
// [MaxValueLength], and a space, '<', '>' or '"' anywhere inside the URI
// (RFC 3261 section 25.1 allows none of them unescaped), so that a URI
// written into From, To or P-Asserted-Identity as <uri> cannot close the
// brackets and add header parameters such as a tag.
func ParseURI(s string) (sip.Uri, error) {
	if err := checkValue("URI", s); err != nil {
		return sip.Uri{}, err
	}
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if strings.ContainsAny(s, " <>\"") {
		return sip.Uri{}, fmt.Errorf("endpoint: URI %q contains a space, '<', '>' or '\"'", s)
	}
	lower := strings.ToLower(s)
	var u sip.Uri
	switch {
	case strings.HasPrefix(lower, "tel:"):
		num := s[4:]
		if num == "" || strings.ContainsAny(num, " <>\"@") {
			return u, fmt.Errorf("endpoint: invalid tel URI %q", s)
		}
		// sipgo has no tel URI type: keep the number as the user part.
		return sip.Uri{Scheme: "tel", User: num}, nil
	case strings.HasPrefix(lower, "sip:"), strings.HasPrefix(lower, "sips:"):
		if err := sip.ParseUri(s, &u); err != nil {
			return u, fmt.Errorf("endpoint: invalid SIP URI %q: %w", s, err)
		}
		if u.Host == "" || strings.ContainsAny(u.Host, " <>\"") || strings.ContainsAny(u.User, " <>\"") {
			return u, fmt.Errorf("endpoint: invalid SIP URI %q", s)
		}
		return u, nil
	}
	return u, fmt.Errorf("endpoint: %q is not a sip:, sips: or tel: URI", s)
}

// MaxValueLength is the longest header value or URI, in bytes, that the
// endpoint accepts from its caller: 2048 is twice the longest legitimate
// value we expect (an RFC 8224 Identity header carries a PASSporT of about
// 1 KB; URIs are rarely over 256 bytes), while a request over 1300 bytes
// already has to leave UDP (RFC 3261 section 18.1.1), so a longer value is
// an attack or a bug, not a header.
const MaxValueLength = 2048

// checkValue rejects CR, LF and other control characters (header
// injection) and values longer than MaxValueLength.
func checkValue(what, v string) error {
	if len(v) > MaxValueLength {
		return fmt.Errorf("endpoint: %s is %d bytes long; at most %d are allowed", what, len(v), MaxValueLength)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("endpoint: %s contains a control character (%U)", what, r)
		}
	}
	if what == "display name" && strings.ContainsRune(v, '"') {
		return fmt.Errorf("endpoint: display name must not contain a double quote")
	}
	return nil
}
