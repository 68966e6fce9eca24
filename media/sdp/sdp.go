package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// Direction is an SDP media direction attribute (RFC 3264 section 5.1).
type Direction int

// Media directions. The zero value is SendRecv, the SDP default.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

// String returns the SDP attribute name of d.
func (d Direction) String() string {
	switch d {
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	default:
		return "sendrecv"
	}
}

// Reverse returns the direction as seen from the other side: sendonly
// becomes recvonly and the reverse.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	default:
		return d
	}
}

// CanSend reports whether media may be sent in direction d.
func (d Direction) CanSend() bool { return d == SendRecv || d == SendOnly }

// CanReceive reports whether media may be received in direction d.
func (d Direction) CanReceive() bool { return d == SendRecv || d == RecvOnly }

// intersect returns the strongest direction allowed by both a and b, where
// both are expressed from the same side's point of view.
func intersect(a, b Direction) Direction {
	send := a.CanSend() && b.CanSend()
	recv := a.CanReceive() && b.CanReceive()
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	default:
		return Inactive
	}
}

func parseDirection(attrs []psdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv":
			return SendRecv, true
		case "sendonly":
			return SendOnly, true
		case "recvonly":
			return RecvOnly, true
		case "inactive":
			return Inactive, true
		}
	}
	return SendRecv, false
}

// Format is one RTP payload format of an audio m-line.
type Format struct {
	PayloadType uint8
	Name        string // encoding name as in rtpmap, e.g. "PCMU", "telephone-event"
	ClockRate   int
	// Channels is the rtpmap's encoding parameter, 0 when absent (one
	// channel). Opus states 2 whatever it sends (RFC 7587 section 7).
	Channels int
	FMTP     string // fmtp parameters, e.g. "0-16" for telephone-event
}

// IsDTMF reports whether f is RFC 4733 telephone-event.
func (f Format) IsDTMF() bool { return strings.EqualFold(f.Name, "telephone-event") }

// IsCN reports whether f is RFC 3389 comfort noise ("CN", static payload
// type 13 at 8000 Hz).
func (f Format) IsCN() bool { return strings.EqualFold(f.Name, "CN") }

// IsAudio reports whether f is an audio codec: neither telephone-event
// nor comfort noise, which ride along with one.
func (f Format) IsAudio() bool { return !f.IsDTMF() && !f.IsCN() }

// DefaultFormats returns PCMU, PCMA and telephone-event (payload type 101),
// the formats every Switchboard call offers unless told otherwise.
func DefaultFormats() []Format {
	return []Format{
		{PayloadType: 0, Name: "PCMU", ClockRate: 8000},
		{PayloadType: 8, Name: "PCMA", ClockRate: 8000},
		{PayloadType: 101, Name: "telephone-event", ClockRate: 8000, FMTP: "0-16"},
	}
}

// SupportedFormats returns every format a Switchboard call can carry: the
// [DefaultFormats], G.722 (static payload type 9) and RFC 3389 comfort
// noise (CN, static payload type 13). G.722 is listed in SDP at clock rate
// 8000 although its audio is sampled at 16 kHz, an error in RFC 1890 that
// RFC 3551 section 4.5.2 keeps for compatibility. Neither is a default: a
// call offers them only when configured to, so that a phone that knows
// neither wideband nor comfort noise sees the offer it always saw. Opus
// ([OpusFormat]) is not listed: it exists only in builds with the opus
// tag, and endpoints add it.
func SupportedFormats() []Format {
	return append(DefaultFormats(),
		Format{PayloadType: 9, Name: "G722", ClockRate: 8000},
		Format{PayloadType: 13, Name: "CN", ClockRate: 8000})
}

// OpusFormat returns Opus as RFC 7587 section 7 has it offered: the
// dynamic payload type 111, "opus/48000/2" (the clock rate and channel
// count are fixed by the RFC whatever is sent), and fmtp parameters that
// state what Switchboard receives and sends best: mono (stereo=0,
// sprop-stereo=0), wideband (maxplaybackrate and sprop-maxcapturerate
// 16000), in-band FEC wanted (useinbandfec=1), packets from 10 ms
// (minptime=10). Offering it is up to the caller: the codec exists only
// in builds with the opus tag (media/codec).
func OpusFormat() Format {
	return Format{PayloadType: 111, Name: "opus", ClockRate: 48000, Channels: 2,
		FMTP: "minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0;maxplaybackrate=16000;sprop-maxcapturerate=16000"}
}

// Local describes the local side of an audio session. Its session ID and
// version are kept across offers so that re-INVITEs increment the o= line
// version as RFC 3264 section 8 requires.
type Local struct {
	Addr      netip.AddrPort // RTP address advertised in c= and m=
	Formats   []Format       // in preference order
	Direction Direction      // what the local side wants
	// PTime is the packet time in ms stated in offers; 0 means 20. An
	// answer states the packet time sent (Negotiated.SendPTime).
	PTime int
	// PreferLocal makes Answer choose the audio codec in the order of
	// Formats rather than the offerer's (RFC 3264 section 6.1 lets the
	// answerer use its own preference), for a side configured with a
	// preference order.
	PreferLocal bool
	SessionID   uint64 // o= session id; set once per call
	Version     uint64 // o= version; incremented by every Offer or Answer
	Username    string // o= username; default "switchboard"
	// SRTP is the SDES policy (crypto.go); the zero value is off.
	SRTP     SRTPMode
	srtpKeys [2][]byte // local keys per suite, made on first use
}

// Negotiated is the outcome of an offer/answer exchange.
type Negotiated struct {
	// Remote is where to send RTP; it is invalid when the remote side set
	// port 0 or the connection address 0.0.0.0 (RFC 3264 hold).
	Remote netip.AddrPort
	// Codec is the audio format in use.
	Codec Format
	// DTMF is the telephone-event format, valid when HasDTMF is true.
	DTMF    Format
	HasDTMF bool
	// CN is the RFC 3389 comfort noise format, valid when HasCN is true:
	// both sides listed it, so silence may be sent as CN packets.
	CN    Format
	HasCN bool
	// Direction is the negotiated direction from the local point of view.
	Direction Direction
	// RemoteDirection is the direction attribute the remote side sent.
	RemoteDirection Direction
	// PTime is the remote side's packet time in ms (20 when absent).
	PTime int
	// MaxPTime is the remote side's maxptime in ms, 0 when absent
	// (RFC 4566 section 6).
	MaxPTime int
	// Crypto is the SRTP keying (RFC 4568), nil for plain RTP.
	Crypto *Crypto
}

// SendPTime returns the packet time in ms to send: what the remote side
// asked for with a=ptime, at most its maxptime, within 10–60 ms (20 when
// the remote stated neither). RFC 4566 section 6 makes ptime a
// recommendation to the sender; every packet time is received whatever
// this says. Opus is sent in 20 ms packets whatever the remote asked for
// (its payloads cannot be joined like G.711's; RFC 7587 section 4.2
// leaves the choice to the sender), so SendPTime is 20 for Opus, which is
// what an answer then states.
func (n Negotiated) SendPTime() int {
	if strings.EqualFold(n.Codec.Name, "opus") {
		return 20
	}
	p := n.PTime
	if p <= 0 {
		p = 20
	}
	if n.MaxPTime > 0 {
		p = min(p, n.MaxPTime)
	}
	return min(max(p, 10), 60)
}

// NegotiationError reports an offer or answer that cannot be accepted. A
// UAS answers it with 488 Not Acceptable Here (RFC 3261 section 21.4.26).
type NegotiationError struct {
	Reason string
	Err    error
}

func (e *NegotiationError) Error() string {
	if e.Err != nil {
		return "sdp: " + e.Reason + ": " + e.Err.Error()
	}
	return "sdp: " + e.Reason
}

func (e *NegotiationError) Unwrap() error { return e.Err }

// Sentinel errors wrapped by NegotiationError.
var (
	ErrMalformed     = errors.New("sdp: malformed session description")
	ErrNoAudio       = errors.New("sdp: no usable audio stream")
	ErrNoCommonCodec = errors.New("sdp: no common audio codec")
)

// maxSDP bounds the size of a session description we parse.
const maxSDP = 16 << 10

func parse(b []byte) (*psdp.SessionDescription, error) {
	if len(b) == 0 {
		return nil, &NegotiationError{Reason: "empty body", Err: ErrMalformed}
	}
	if len(b) > maxSDP {
		return nil, &NegotiationError{Reason: "body too large", Err: ErrMalformed}
	}
	var s psdp.SessionDescription
	if err := s.UnmarshalString(string(b)); err != nil {
		return nil, &NegotiationError{Reason: err.Error(), Err: ErrMalformed}
	}
	return &s, nil
}

// remoteFormats lists the formats of m in the order given on the m= line.
func remoteFormats(m *psdp.MediaDescription) []Format {
	out := make([]Format, 0, len(m.MediaName.Formats))
	for _, f := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil || pt > 127 {
			continue
		}
		ft := Format{PayloadType: uint8(pt), ClockRate: 8000}
		// Static payload types (RFC 3551 table 4) may come without rtpmap.
		switch pt {
		case 0:
			ft.Name = "PCMU"
		case 8:
			ft.Name = "PCMA"
		case 9:
			ft.Name = "G722"
		case 13:
			ft.Name = "CN"
		}
		for _, a := range m.Attributes {
			switch a.Key {
			case "rtpmap":
				num, rest, ok := strings.Cut(a.Value, " ")
				if ok && num == f {
					parts := strings.Split(rest, "/")
					ft.Name = parts[0]
					if len(parts) > 1 {
						if r, err := strconv.Atoi(parts[1]); err == nil {
							ft.ClockRate = r
						}
					}
					if len(parts) > 2 {
						if c, err := strconv.Atoi(parts[2]); err == nil && c > 0 && c < 256 {
							ft.Channels = c
						}
					}
				}
			case "fmtp":
				num, rest, ok := strings.Cut(a.Value, " ")
				if ok && num == f {
					ft.FMTP = rest
				}
			}
		}
		out = append(out, ft)
	}
	return out
}

func connAddr(s *psdp.SessionDescription, m *psdp.MediaDescription) (netip.Addr, bool) {
	ci := m.ConnectionInformation
	if ci == nil {
		ci = s.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, false
	}
	host := ci.Address.Address
	if i := strings.IndexByte(host, '/'); i >= 0 { // multicast TTL
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		// A host name: resolving it is out of scope for a trusted server.
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isRTPAVP(m *psdp.MediaDescription) bool {
	p := strings.Join(m.MediaName.Protos, "/")
	return p == "RTP/AVP" || p == "RTP/AVPF"
}

func ptime(m *psdp.MediaDescription) int {
	if n := msAttribute(m, "ptime"); n > 0 {
		return n
	}
	return 20
}

// msAttribute returns a packet time attribute (ptime, maxptime) in whole
// ms, 0 when absent or out of range. RFC 4566 allows a fraction
// ("a=ptime:22.5"); it is rounded down.
func msAttribute(m *psdp.MediaDescription, name string) int {
	v, ok := m.Attribute(name)
	if !ok {
		return 0
	}
	v, _, _ = strings.Cut(strings.TrimSpace(v), ".")
	if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= 200 {
		return n
	}
	return 0
}

func remoteAddr(s *psdp.SessionDescription, m *psdp.MediaDescription) netip.AddrPort {
	a, ok := connAddr(s, m)
	port := m.MediaName.Port.Value
	if !ok || a.IsUnspecified() || port <= 0 || port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(port))
}

// Answer answers the remote offer with the local capabilities and returns
// the answer body and the negotiated session. It increments l.Version and
// sets l.SessionID when zero.
func Answer(offer []byte, l *Local) ([]byte, Negotiated, error) {
	s, err := parse(offer)
	if err != nil {
		return nil, Negotiated{}, err
	}
	var (
		neg    Negotiated
		chosen = -1
		out    = make([]*psdp.MediaDescription, 0, len(s.MediaDescriptions))
	)
	for i, m := range s.MediaDescriptions {
		if chosen < 0 && m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 && l.acceptsProto(m) {
			crypto, err := l.answerCrypto(m)
			if err != nil {
				return nil, Negotiated{}, err
			}
			n, ok := pick(remoteFormats(m), l.Formats, l.PreferLocal)
			if ok {
				chosen = i
				n.Remote = remoteAddr(s, m)
				n.RemoteDirection, _ = parseDirection(m.Attributes)
				if _, ok := parseDirection(m.Attributes); !ok {
					n.RemoteDirection, _ = parseDirection(s.Attributes)
				}
				n.Direction = intersect(l.Direction, n.RemoteDirection.Reverse())
				n.PTime, n.MaxPTime = ptime(m), msAttribute(m, "maxptime")
				n.Crypto = crypto
				neg = n
				md := l.mediaDescription(neg.formats(), neg.Direction, neg.SendPTime())
				secure(md, m, crypto)
				out = append(out, md)
				continue
			}
		}
		out = append(out, rejected(m))
	}
	if chosen < 0 {
		for _, m := range s.MediaDescriptions {
			if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 && l.acceptsProto(m) {
				return nil, Negotiated{}, &NegotiationError{Reason: "offer has no codec in common", Err: ErrNoCommonCodec}
			}
		}
		return nil, Negotiated{}, &NegotiationError{Reason: "offer has no RTP/AVP audio stream", Err: ErrNoAudio}
	}
	b, err := l.marshal(out)
	return b, neg, err
}

func (n Negotiated) formats() []Format {
	f := []Format{n.Codec}
	if n.HasDTMF {
		f = append(f, n.DTMF)
	}
	if n.HasCN {
		f = append(f, n.CN)
	}
	return f
}

// pick chooses the first remote format that the local side supports, in
// the remote's order (the offerer's preference, RFC 3264 section 6.1) or,
// with preferLocal, in the local order, and the remote telephone-event and
// comfort noise formats when both sides have them.
func pick(remote, local []Format, preferLocal bool) (Negotiated, bool) {
	if preferLocal {
		var ordered []Format
		for _, lf := range local {
			for _, r := range remote {
				if strings.EqualFold(r.Name, lf.Name) && r.ClockRate == lf.ClockRate && !slices.Contains(ordered, r) {
					ordered = append(ordered, r)
				}
			}
		}
		remote = ordered
	}
	var n Negotiated
	found := false
	for _, r := range remote {
		for _, lf := range local {
			if !strings.EqualFold(r.Name, lf.Name) || r.ClockRate != lf.ClockRate {
				continue
			}
			switch {
			case r.IsDTMF():
				if !n.HasDTMF {
					n.DTMF, n.HasDTMF = r, true
				}
			case r.IsCN():
				if !n.HasCN {
					n.CN, n.HasCN = r, true
				}
			case !found:
				n.Codec = r
				n.Codec.Name = lf.Name
				if lf.FMTP != "" {
					// Opus's fmtp parameters are declarative (RFC 7587
					// section 7): each side states what it receives.
					n.Codec.FMTP = lf.FMTP
				}
				found = true
			}
		}
	}
	if found && n.HasDTMF && n.DTMF.ClockRate != n.Codec.ClockRate {
		// RFC 4733 section 2.1: events use the audio's RTP clock. Prefer
		// the telephone-event at the codec's rate (Opus: 48000).
		for _, r := range remote {
			if r.IsDTMF() && r.ClockRate == n.Codec.ClockRate && slices.ContainsFunc(local, func(lf Format) bool {
				return lf.IsDTMF() && lf.ClockRate == r.ClockRate
			}) {
				n.DTMF = r
				break
			}
		}
	}
	return n, found
}

func rejected(m *psdp.MediaDescription) *psdp.MediaDescription {
	formats := m.MediaName.Formats
	if len(formats) == 0 {
		formats = []string{"0"}
	}
	return &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:   m.MediaName.Media,
			Port:    psdp.RangedPort{Value: 0},
			Protos:  m.MediaName.Protos,
			Formats: formats,
		},
	}
}

// mediaDescription returns the local m= section; pt is the ptime it
// states, 0 for l.PTime (or 20).
func (l *Local) mediaDescription(formats []Format, dir Direction, pt int) *psdp.MediaDescription {
	md := &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:  "audio",
			Port:   psdp.RangedPort{Value: int(l.Addr.Port())},
			Protos: []string{"RTP", "AVP"},
		},
	}
	for _, f := range formats {
		pt := strconv.Itoa(int(f.PayloadType))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		rtpmap := fmt.Sprintf("%d %s/%d", f.PayloadType, f.Name, f.ClockRate)
		if f.Channels > 0 {
			rtpmap += "/" + strconv.Itoa(f.Channels)
		}
		md.Attributes = append(md.Attributes, psdp.NewAttribute("rtpmap", rtpmap))
		if f.FMTP != "" {
			md.Attributes = append(md.Attributes, psdp.NewAttribute("fmtp", pt+" "+f.FMTP))
		}
	}
	if pt == 0 {
		pt = l.PTime
	}
	if pt == 0 {
		pt = 20
	}
	md.Attributes = append(md.Attributes,
		psdp.NewAttribute("ptime", strconv.Itoa(pt)),
		psdp.NewPropertyAttribute(dir.String()))
	return md
}

func (l *Local) marshal(media []*psdp.MediaDescription) ([]byte, error) {
	if !l.Addr.IsValid() {
		return nil, errors.New("sdp: local address not set")
	}
	if l.SessionID == 0 {
		l.SessionID = uint64(l.Addr.Port())<<20 | 1
	}
	l.Version++
	ip := l.Addr.Addr()
	addrType := "IP4"
	if ip.Is6() && !ip.Is4In6() {
		addrType = "IP6"
	}
	user := l.Username
	if user == "" {
		user = "switchboard"
	}
	s := &psdp.SessionDescription{
		Origin: psdp.Origin{
			Username: user, SessionID: l.SessionID, SessionVersion: l.Version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: ip.Unmap().String(),
		},
		SessionName: "switchboard",
		ConnectionInformation: &psdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType,
			Address: &psdp.Address{Address: ip.Unmap().String()},
		},
		TimeDescriptions:  []psdp.TimeDescription{{}},
		MediaDescriptions: media,
	}
	return s.Marshal()
}

// Offer builds an offer from l with all of its formats. It increments
// l.Version and sets l.SessionID when zero.
func Offer(l *Local) ([]byte, error) {
	md := l.mediaDescription(l.Formats, l.Direction, 0)
	l.offerCrypto(md)
	return l.marshal([]*psdp.MediaDescription{md})
}

// ParseAnswer reads the answer to an offer made from l (RFC 3264 section
// 7): the first audio m-line must be accepted with a format that was
// offered.
func ParseAnswer(answer []byte, l *Local) (Negotiated, error) {
	s, err := parse(answer)
	if err != nil {
		return Negotiated{}, err
	}
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		if m.MediaName.Port.Value == 0 {
			return Negotiated{}, &NegotiationError{Reason: "answer rejected the audio stream", Err: ErrNoAudio}
		}
		n, ok := pick(remoteFormats(m), l.Formats, false)
		if !ok {
			return Negotiated{}, &NegotiationError{Reason: "answer has no offered codec", Err: ErrNoCommonCodec}
		}
		n.Remote = remoteAddr(s, m)
		var has bool
		if n.RemoteDirection, has = parseDirection(m.Attributes); !has {
			n.RemoteDirection, _ = parseDirection(s.Attributes)
		}
		n.Direction = intersect(l.Direction, n.RemoteDirection.Reverse())
		n.PTime, n.MaxPTime = ptime(m), msAttribute(m, "maxptime")
		if n.Crypto, err = l.answeredCrypto(m); err != nil {
			return Negotiated{}, err
		}
		return n, nil
	}
	return Negotiated{}, &NegotiationError{Reason: "answer has no audio stream", Err: ErrNoAudio}
}
