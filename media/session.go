package media

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// maxFrameSamples is the largest frame the session's scratch buffers are
// sized for up front: 20 ms at 48 kHz. Larger frames grow them.
const maxFrameSamples = 960

// FrameSamples returns the number of samples in one 20 ms frame of c's
// PCM: 160 for G.711, 320 for a 16 kHz codec; 0 for a nil codec.
func FrameSamples(c codec.Codec) int {
	if c == nil {
		return 0
	}
	return c.SampleRate() / 50
}

func newFrameTicker() *time.Ticker { return time.NewTicker(20 * time.Millisecond) }

// DTMFEvent is one received key press.
type DTMFEvent struct {
	Digit    rune
	Duration time.Duration
	// Source is how the key press arrived.
	Source DTMFSource
}

// DTMFSource is how a key press arrived.
type DTMFSource uint8

// The ways a key press arrives.
const (
	// DTMFRTP is an RFC 4733 telephone-event in the RTP stream.
	DTMFRTP DTMFSource = iota
	// DTMFInfo is a SIP INFO request (application/dtmf-relay or
	// application/dtmf).
	DTMFInfo
	// DTMFInBand is a tone pair detected in the audio itself.
	DTMFInBand
)

func (s DTMFSource) String() string {
	switch s {
	case DTMFRTP:
		return "rfc4733"
	case DTMFInfo:
		return "info"
	case DTMFInBand:
		return "inband"
	}
	return "unknown"
}

// Stats are the counters of one RTP session. Loss and jitter follow RFC
// 3550 appendix A; they restart when the remote SSRC changes.
type Stats struct {
	PacketsSent     uint64
	BytesSent       uint64
	PacketsReceived uint64
	BytesReceived   uint64
	// PacketsLost is the cumulative loss of the current remote source.
	PacketsLost uint64
	// Late counts packets that arrived after a newer one (reordered or
	// duplicated).
	Late uint64
	// Jitter is the RFC 3550 interarrival jitter estimate.
	Jitter time.Duration
	// Dropped counts packets that failed to parse, had a bad version or
	// padding, or an unknown payload type.
	Dropped uint64
	// SSRCChanges counts changes of the remote SSRC and sequence restarts.
	SSRCChanges uint64
	// RemoteFractionLost and RemoteJitter are what the remote side last
	// reported about our stream in an RTCP receiver report block.
	RemoteFractionLost float64
	RemoteJitter       time.Duration
	RTCPSent, RTCPRecv uint64
	LastReceived       time.Time
	// Decoded counts payloads decoded for the consumer and observers
	// (frames pulled from a jitter buffer included). A relay with no
	// observer decodes nothing, so this stays 0.
	Decoded uint64
	// Suppressed counts packets not sent because the remote address has
	// shown no sign of life (SessionConfig.SilentPeerGrace).
	Suppressed uint64
	// ComfortNoiseSent counts RFC 3389 comfort noise packets sent
	// (WriteComfortNoise); they are counted in PacketsSent too.
	ComfortNoiseSent uint64
}

// SessionConfig configures a Session.
type SessionConfig struct {
	Codec codec.Codec
	// DTMFPayloadType is the negotiated telephone-event payload type; 0 when
	// the peer offered none.
	DTMFPayloadType uint8
	// RTCP, when set, is the RTCP socket (RTP port + 1): the session sends
	// sender/receiver reports every ReportInterval and reads the peer's.
	RTCP *net.UDPConn
	// ReportInterval is the RTCP report interval. Default 5s.
	ReportInterval time.Duration
	// NoLatch disables symmetric RTP. By default the session sends to the
	// source address of the first valid packet received after each
	// SetRemote, which gets media through NATs that rewrote the SDP-less
	// part of the path.
	NoLatch bool
	// SilentPeerGrace is how long the session sends to a remote address
	// that has shown no sign of life: once it has passed since SetRemote
	// without RTP (any source when latching, the remote's host with
	// NoLatch) or RTCP from the remote's host arriving, packets are counted in
	// Stats.Suppressed instead of sent, until one arrives (then sending
	// resumes, to its source when latching). A stranger's SDP cannot
	// aim a stream at an address that never asked for it. Default 5s;
	// negative disables.
	SilentPeerGrace time.Duration
	Logger          *slog.Logger
	// Poller, when set, reads the session's sockets on its event loops
	// instead of two goroutines of the session's own (see [Poller]): the
	// consumer, observers and DTMF handler then run on a loop shared
	// with other sessions and must not block.
	Poller *Poller
}

// ErrNoTelephoneEvent is returned by SendDTMF when the peer negotiated no
// RFC 4733 payload type.
var ErrNoTelephoneEvent = errors.New("media: peer did not negotiate telephone-event")

// Session is the RTP session of one call: one UDP socket (and optionally
// its RTCP socket), one outgoing stream and the decoded incoming audio. It
// starts its reader goroutines in NewSession; Close stops and waits for
// them. Methods are safe for concurrent use.
type Session struct {
	conn *net.UDPConn
	rtcp *net.UDPConn
	log  *slog.Logger
	cfg  SessionConfig

	mu      sync.Mutex
	codec   codec.Codec
	dtmfPT  uint8
	cnPT    uint8
	remote  netip.AddrPort
	latched bool
	canSend bool
	canRecv bool // SetReceiving: deliver what arrives (false on hold)
	// cons is the one consumer of received media (consumer.go); heard
	// and sent are the observers, copied on write.
	cons     *consumer
	heard    []*observer
	sent     []*observer
	onDTMF   func(DTMFEvent)
	lastDTMF uint32 // timestamp of the last reported telephone-event
	haveDTMF bool
	// dtmfWindow and dtmfCount bound how many key presses a flood can
	// report: at most maxDTMFPerSecond per second.
	dtmfWindow time.Time
	dtmfCount  int
	rx         rxStats
	remoteRR   remoteReport
	cname      string
	rtcpTimer  *time.Timer
	// heardDec decodes received packets for observers when the consumer
	// does not decode (packets) or there is none; sentDec decodes
	// payloads sent already encoded (players, mixers, the relay) for sent
	// observers. Each is used by one goroutine at a time: the reader, and
	// the writer under wmu.
	heardDec, sentDec codecDecoder
	// rxFor, rxRest and rxBuf re-frame decoded packets into 20 ms frames
	// (rxFrames); the reader goroutine's.
	rxFor         codec.Codec
	rxRest, rxBuf []int16
	sentPCM       []int16 // under wmu
	encoder       codec.Encoder
	encFor        codec.Codec

	// dtmfMu makes concurrent SendDTMF calls take turns: two events must
	// not share a timestamp.
	dtmfMu sync.Mutex

	// Outgoing stream state (RFC 3550 section 5.1), guarded by wmu.
	wmu      sync.Mutex
	ssrc     uint32
	seq      uint16
	ts       uint32
	wbuf     []byte
	enc      []byte
	marker   bool
	cnBuf    [1]byte
	inEvent  bool // an RFC 4733 event is being sent: audio is suppressed
	lastSend time.Time
	// ptime is the packet time sent (SetPacketTime); pend holds the
	// encoded audio, from pendTS on, not yet sent in a whole packet.
	ptime   time.Duration
	pend    []byte
	pendTS  uint32
	pendFor codec.Codec
	// cnSilent: the stream is in a pause signalled with comfort noise,
	// whose last CN packet had timestamp cnTS.
	cnSilent bool
	cnTS     uint32

	sentPkts, sentBytes, recv, bytes, dropped atomic.Uint64
	decoded                                   atomic.Uint64
	rtcpSent, rtcpRecv                        atomic.Uint64
	lastRecv                                  atomic.Int64
	// heardFrom is set by RTP from the remote's host (or latched to
	// its source) and by RTCP from the remote's host, since the remote
	// last changed (remoteSet, unix ns); see SilentPeerGrace.
	heardFrom  atomic.Bool
	remoteSet  atomic.Int64
	suppressed atomic.Uint64
	cnSent     atomic.Uint64
	// cnOK: comfort noise negotiated (SetComfortNoise); atomic so that a
	// mixer asking every silent listener costs no lock when it is not.
	cnOK         atomic.Bool
	silentLogged bool // under wmu

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
	// polled are the sockets' registrations when a Poller reads them.
	polled []polled
}

// polled is one socket read by a Poller loop.
type polled struct {
	e *pollEntry
	l *pollLoop
}

type remoteReport struct {
	fractionLost uint8
	jitter       uint32
}

// NewSession wraps conn (usually from PortRange.ListenPair) and starts
// reading.
func NewSession(conn *net.UDPConn, cfg SessionConfig) *Session {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReportInterval == 0 {
		cfg.ReportInterval = 5 * time.Second
	}
	if cfg.SilentPeerGrace == 0 {
		cfg.SilentPeerGrace = 5 * time.Second
	}
	s := &Session{
		conn:    conn,
		rtcp:    cfg.RTCP,
		log:     log,
		cfg:     cfg,
		codec:   cfg.Codec,
		dtmfPT:  cfg.DTMFPayloadType,
		canSend: true,
		canRecv: true,
		ssrc:    rand.Uint32(),
		seq:     uint16(rand.Uint32()),
		ts:      rand.Uint32(),
		marker:  true,
		closed:  make(chan struct{}),
	}
	s.cname = conn.LocalAddr().String()
	s.lastRecv.Store(time.Now().UnixNano())
	s.remoteSet.Store(time.Now().UnixNano())
	s.startReading()
	if s.rtcp != nil {
		s.mu.Lock()
		// The first report goes out after half an interval (RFC 3550
		// section 6.2): it is also our sign of life to a peer that
		// applies a silent-peer grace as we do.
		s.rtcpTimer = time.AfterFunc(s.reportDelay()/2, s.sendReport)
		s.mu.Unlock()
	}
	return s
}

// LocalAddr returns the session's RTP address.
func (s *Session) LocalAddr() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// SSRC returns the SSRC of the outgoing stream.
func (s *Session) SSRC() uint32 {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.ssrc
}

// SetRemote sets where RTP is sent (from SDP); an invalid address stops
// sending. Unless latching is disabled, the first valid packet received
// afterwards moves the remote to its source address.
func (s *Session) SetRemote(a netip.AddrPort) {
	s.mu.Lock()
	if a != s.remote {
		s.latched = false
		s.heardFrom.Store(false)
		s.remoteSet.Store(time.Now().UnixNano())
	}
	s.remote = a
	s.mu.Unlock()
}

// Remote returns the address RTP is sent to.
func (s *Session) Remote() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// SetCodec changes the codec and telephone-event payload type, as after a
// re-INVITE.
func (s *Session) SetCodec(c codec.Codec, dtmfPT uint8) {
	s.mu.Lock()
	s.codec, s.dtmfPT = c, dtmfPT
	s.mu.Unlock()
}

// SetComfortNoise sets the payload type of RFC 3389 comfort noise, as
// negotiated (ok false when it was not: WriteComfortNoise then sends
// nothing and reports false).
func (s *Session) SetComfortNoise(pt uint8, ok bool) {
	s.mu.Lock()
	s.cnPT = pt
	s.cnOK.Store(ok)
	s.mu.Unlock()
}

// Comfort noise sending (RFC 3389).
const (
	// ComfortNoiseRefresh is how often WriteComfortNoise repeats the CN
	// packet during a pause, so that a receiver that lost the first, or
	// joined late, still plays comfort noise rather than concealing loss.
	// RFC 3389 section 4 leaves the rate to the sender; 200 ms is common.
	ComfortNoiseRefresh = 200 * time.Millisecond
	// comfortNoiseLevel is the noise level sent, in -dBov (RFC 3389
	// section 3): -70 dBov, a quiet room, for the digital silence that
	// players and the mixer produce.
	comfortNoiseLevel = 70
)

// WriteComfortNoise stands for one frame of silence of samples RTP clock
// units when comfort noise is negotiated (SetComfortNoise): the first
// call of a pause sends an RFC 3389 CN packet (noise level only, section
// 3.2), later ones send nothing but a refresh every ComfortNoiseRefresh,
// and the timestamp advances as for audio, so the next audio packet
// carries the right timestamp and the marker bit of a new talkspurt (RFC
// 3551 section 4.1). Audio kept for a longer packet time is sent first.
// It reports false, sending nothing and leaving the timestamp alone, when
// comfort noise is not negotiated: the caller sends its silent frame as
// audio. Players and the mixer call it through [audio.ComfortNoiseOutput].
func (s *Session) WriteComfortNoise(samples int) (bool, error) {
	if !s.cnOK.Load() {
		return false, nil
	}
	s.mu.Lock()
	pt, ok, remote, canSend, cd := s.cnPT, s.cnOK.Load(), s.remote, s.canSend, s.codec
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.inEvent {
		return true, nil
	}
	ts := s.ts
	s.ts += uint32(samples)
	if !canSend || !remote.IsValid() {
		s.marker = true
		s.pend = s.pend[:0]
		return true, nil
	}
	if err := s.flushLocked(0, remote); err != nil {
		return true, err
	}
	clock := uint32(8000)
	if cd != nil {
		clock = uint32(cd.ClockRate())
	}
	if s.cnSilent && ts-s.cnTS < clock*uint32(ComfortNoiseRefresh/time.Millisecond)/1000 {
		return true, nil
	}
	s.marker = false // a CN packet is not a talkspurt's first
	s.cnBuf[0] = comfortNoiseLevel
	if err := s.writeLocked(pt, ts, s.cnBuf[:], remote); err != nil {
		return true, err
	}
	s.cnSent.Add(1)
	s.cnSilent, s.cnTS = true, ts
	s.marker = true // the audio after the pause starts a talkspurt
	return true, nil
}

// codec.Codec returns the codec in use.
func (s *Session) Codec() codec.Codec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codec
}

// DTMFPayloadType returns the negotiated telephone-event payload type, or
// 0.
func (s *Session) DTMFPayloadType() uint8 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dtmfPT
}

// Packet times SetPacketTime accepts (RFC 4566 ptime).
const (
	minPacketTime = 10 * time.Millisecond
	maxPacketTime = 120 * time.Millisecond
)

// SetPacketTime sets the duration of the audio in each packet sent, as the
// remote side asked with a=ptime (RFC 4566 section 6): frames written with
// WriteFrame or WriteRTPPayload, 20 ms each, are gathered or split into
// packets of d, timestamps advancing by d per packet, so a 40 ms packet
// time sends one packet every other frame and 10 ms two packets per
// frame. It applies to codecs whose payload can be cut at any sample
// (G.711, G.722); others, telephone-events and Relay's forwarding send
// what they are given. d is bounded to 10–120 ms; 0 restores the default,
// one packet per frame written.
func (s *Session) SetPacketTime(d time.Duration) {
	if d != 0 {
		d = min(max(d, minPacketTime), maxPacketTime)
	}
	s.wmu.Lock()
	s.ptime = d
	s.wmu.Unlock()
}

// PacketTime returns the packet time set with SetPacketTime, 0 for the
// default (one packet per frame written).
func (s *Session) PacketTime() time.Duration {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.ptime
}

// SetSending enables or disables sending, as the negotiated direction
// allows (hold). Frames written while sending is disabled are discarded but
// still advance the RTP timestamp.
func (s *Session) SetSending(on bool) {
	s.mu.Lock()
	s.canSend = on
	s.mu.Unlock()
}

// SetReceiving enables or disables delivery of received audio and DTMF,
// as the negotiated direction allows: a session that offered sendonly or
// inactive (hold) drops what a peer sends anyway, so that neither an app
// nor a relay passes on the audio of a held party. Received packets are
// still counted (statistics, RTP timeout).
func (s *Session) SetReceiving(on bool) {
	s.mu.Lock()
	s.canRecv = on
	s.mu.Unlock()
}

// Sending reports whether the session may send.
func (s *Session) Sending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canSend
}

// OnDTMF sets the handler of received RFC 4733 key presses, replacing the
// previous one. It runs on the reader goroutine and must not block. It is
// single-slot on purpose: a session has one owner, which alone sets it —
// the endpoint's call, which fans the key presses out to every
// endpoint.Call.OnDTMF handler (add-and-remove, on the call's event
// goroutine), or whoever made the session with NewSession. Applications
// never reach a call's session (they get its Flow) and watch key presses
// with endpoint.Call.OnDTMF.
func (s *Session) OnDTMF(f func(DTMFEvent)) {
	s.mu.Lock()
	s.onDTMF = f
	s.mu.Unlock()
}

// LastReceived returns when the last valid RTP packet arrived (or when the
// session started).
func (s *Session) LastReceived() time.Time {
	return time.Unix(0, s.lastRecv.Load())
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	lost, late, changes := s.rx.lost(), s.rx.late, s.rx.changes
	clock := 8000
	if s.codec != nil {
		clock = s.codec.ClockRate()
	}
	jitter := time.Duration(s.rx.jitter * float64(time.Second) / float64(clock))
	rr := s.remoteRR
	s.mu.Unlock()
	return Stats{
		PacketsSent:        s.sentPkts.Load(),
		Decoded:            s.decoded.Load(),
		Suppressed:         s.suppressed.Load(),
		ComfortNoiseSent:   s.cnSent.Load(),
		BytesSent:          s.sentBytes.Load(),
		PacketsReceived:    s.recv.Load(),
		BytesReceived:      s.bytes.Load(),
		PacketsLost:        lost,
		Late:               late,
		Jitter:             jitter,
		Dropped:            s.dropped.Load(),
		SSRCChanges:        changes,
		RemoteFractionLost: float64(rr.fractionLost) / 256,
		RemoteJitter:       time.Duration(float64(rr.jitter) * float64(time.Second) / float64(clock)),
		RTCPSent:           s.rtcpSent.Load(),
		RTCPRecv:           s.rtcpRecv.Load(),
		LastReceived:       s.LastReceived(),
	}
}

// WriteFrame encodes one frame of mono PCM at the codec's sample rate and
// sends it as one RTP packet. It does not pace: callers send one frame per
// packet time (see Play). While an RFC 4733 event is being sent, audio is
// suppressed (RFC 4733 section 2.5.1.1).
func (s *Session) WriteFrame(pcm []int16) error {
	s.mu.Lock()
	cd, remote, canSend, sent := s.codec, s.remote, s.canSend, s.sent
	s.mu.Unlock()
	if cd == nil {
		return ErrNoCodec
	}
	showSent(sent, pcm)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.inEvent {
		return nil
	}
	ts := s.ts
	s.ts += uint32(len(pcm) * cd.ClockRate() / cd.SampleRate())
	if !canSend || !remote.IsValid() {
		s.marker = true
		s.pend = s.pend[:0]
		return nil
	}
	s.cnSilent = false
	if s.encFor != cd {
		s.encoder, s.encFor = codec.NewEncoder(cd), cd
	}
	s.enc = s.encoder.Encode(s.enc[:0], pcm)
	return s.packetizeLocked(cd, cd.PayloadType(), ts, s.enc, remote)
}

// packetizeLocked sends payload, audio of cd starting at timestamp ts, in
// packets of the packet time (SetPacketTime): it keeps what does not fill
// a packet for the next frame, and sends a packet as soon as one is full.
// Audio that does not continue the kept audio (a timestamp jump, another
// codec) first sends what is kept as a shorter packet. s.wmu is held.
func (s *Session) packetizeLocked(cd codec.Codec, pt uint8, ts uint32, payload []byte, remote netip.AddrPort) error {
	units := rtpSamples(cd, payload)
	per := int(s.ptime * time.Duration(cd.ClockRate()) / time.Second)
	if len(s.pend) > 0 && (s.pendFor != cd || ts != s.pendTS+uint32(len(s.pend))) {
		if err := s.flushLocked(pt, remote); err != nil {
			return err
		}
	}
	if per <= 0 || units <= 0 || pt != cd.PayloadType() || (len(s.pend) == 0 && units == per) {
		return s.writeLocked(pt, ts, payload, remote)
	}
	if len(s.pend) == 0 {
		s.pendTS, s.pendFor = ts, cd
	}
	s.pend = append(s.pend, payload...)
	for len(s.pend) >= per {
		err := s.writeLocked(pt, s.pendTS, s.pend[:per], remote)
		s.pendTS += uint32(per)
		s.pend = append(s.pend[:0], s.pend[per:]...)
		if err != nil {
			return err
		}
	}
	return nil
}

// flushLocked sends the audio kept by packetizeLocked as one packet.
func (s *Session) flushLocked(pt uint8, remote netip.AddrPort) error {
	if len(s.pend) == 0 {
		return nil
	}
	if s.pendFor != nil {
		pt = s.pendFor.PayloadType()
	}
	err := s.writeLocked(pt, s.pendTS, s.pend, remote)
	s.pend = s.pend[:0]
	return err
}

// ErrNoCodec is returned when writing audio to a session that has no
// codec negotiated yet.
var ErrNoCodec = errors.New("media: no codec negotiated")

// showSentLocked decodes a payload sent already encoded, once, for the
// sent observers. It runs under wmu, which serializes sentDec.
func (s *Session) showSentLocked(sent []*observer, cd codec.Codec, pt uint8, payload []byte) {
	if len(sent) == 0 || cd == nil || pt != cd.PayloadType() {
		return
	}
	s.sentPCM = s.sentDec.decode(cd, s.sentPCM[:0], payload)
	s.decoded.Add(1)
	showSent(sent, s.sentPCM)
}

// fromRemoteHost reports whether a packet from from came from the host
// RTP is sent to.
func (s *Session) fromRemoteHost(from netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return from.Addr().Unmap() == s.remote.Addr().Unmap()
}

// silentPeerLocked reports whether the remote address has shown no sign
// of life for longer than SilentPeerGrace; s.wmu is held.
func (s *Session) silentPeerLocked(remote netip.AddrPort) bool {
	if s.cfg.SilentPeerGrace < 0 || s.heardFrom.Load() {
		s.silentLogged = false
		return false
	}
	if time.Since(time.Unix(0, s.remoteSet.Load())) < s.cfg.SilentPeerGrace {
		return false
	}
	if !s.silentLogged {
		s.silentLogged = true
		s.log.Info("rtp: remote shows no sign of life; not sending until it does",
			"remote", remote.String(), "grace", s.cfg.SilentPeerGrace.String())
	}
	return true
}

func (s *Session) writeLocked(pt uint8, ts uint32, payload []byte, remote netip.AddrPort) error {
	s.seq++
	h := rtp.Header{
		Version:        2,
		Marker:         s.marker,
		PayloadType:    pt,
		SequenceNumber: s.seq,
		Timestamp:      ts,
		SSRC:           s.ssrc,
	}
	s.marker = false
	n := h.MarshalSize() + len(payload)
	if cap(s.wbuf) < n {
		s.wbuf = make([]byte, n)
	}
	buf := s.wbuf[:n]
	hn, err := h.MarshalTo(buf)
	if err != nil {
		return err
	}
	copy(buf[hn:], payload)
	if s.silentPeerLocked(remote) {
		s.suppressed.Add(1)
		return nil
	}
	if _, err := s.conn.WriteToUDPAddrPort(buf, remote); err != nil {
		return err
	}
	s.sentPkts.Add(1)
	s.sentBytes.Add(uint64(n))
	s.lastSend = time.Now()
	return nil
}

// WriteRTPPayload sends a payload of the given type as is and advances the
// timestamp by samples, for relays and shared players that encode once for
// many sessions.
func (s *Session) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	s.mu.Lock()
	remote, canSend, cd, sent := s.remote, s.canSend, s.codec, s.sent
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.inEvent {
		return nil
	}
	s.showSentLocked(sent, cd, pt, payload)
	ts := s.ts
	s.ts += uint32(samples)
	if !canSend || !remote.IsValid() {
		s.marker = true
		s.pend = s.pend[:0]
		return nil
	}
	s.marker = s.marker || marker
	s.cnSilent = false
	if cd == nil || pt != cd.PayloadType() || rtpSamples(cd, payload) != samples {
		return s.writeLocked(pt, ts, payload, remote)
	}
	return s.packetizeLocked(cd, pt, ts, payload, remote)
}

// maxDTMFPerSecond bounds reported key presses: a human presses at most
// about 10 keys a second; more is a flood, dropped and counted.
const maxDTMFPerSecond = 20

// dtmfDigits maps RFC 4733 event codes 0–15 to keys.
const dtmfDigits = "0123456789*#ABCD"

// SendDTMF sends one key press as an RFC 4733 telephone-event of the given
// duration (minimum 40 ms): an update every 20 ms with the same timestamp,
// then the end packet three times (section 2.5.1.4). Audio written
// meanwhile is suppressed; the stream's timestamp then continues after the
// event. It blocks for the duration of the event.
func (s *Session) SendDTMF(ctx context.Context, digit rune, duration time.Duration) error {
	code := -1
	for i, d := range dtmfDigits {
		if d == digit || (d >= 'A' && d <= 'D' && d+('a'-'A') == digit) {
			code = i
		}
	}
	if code < 0 {
		return errors.New("media: not a DTMF key: " + string(digit))
	}
	duration = max(duration, 40*time.Millisecond)
	s.dtmfMu.Lock()
	defer s.dtmfMu.Unlock()
	s.mu.Lock()
	pt, remote, canSend, codec := s.dtmfPT, s.remote, s.canSend, s.codec
	s.mu.Unlock()
	if pt == 0 {
		return ErrNoTelephoneEvent
	}
	clock := 8000
	if codec != nil {
		clock = codec.ClockRate()
	}
	s.wmu.Lock()
	s.inEvent = true
	// Audio kept for a longer packet is dropped: the event takes its
	// place, and the audio after it starts a new packet.
	s.pend = s.pend[:0]
	start := s.ts
	s.marker = true
	s.wmu.Unlock()
	defer func() {
		s.wmu.Lock()
		s.inEvent = false
		s.ts = start + uint32(duration.Seconds()*float64(clock))
		s.marker = true
		s.wmu.Unlock()
	}()
	payload := make([]byte, 4)
	send := func(elapsed time.Duration, end bool) error {
		d := uint16(min(elapsed, duration).Seconds() * float64(clock))
		payload[0] = byte(code)
		payload[1] = 10 // volume: -10 dBm0
		if end {
			payload[1] |= 0x80
		}
		payload[2], payload[3] = byte(d>>8), byte(d)
		if !canSend || !remote.IsValid() {
			return nil
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		return s.writeLocked(pt, start, payload, remote)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for elapsed := 20 * time.Millisecond; elapsed < duration; elapsed += 20 * time.Millisecond {
		if err := send(elapsed, false); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			_ = send(elapsed, true)
			return ctx.Err()
		case <-t.C:
		}
	}
	for i := 0; i < 3; i++ {
		if err := send(duration, true); err != nil {
			return err
		}
	}
	return nil
}

// startReading has the sockets read: by the configured Poller, or (no
// Poller, or it refused them) by a goroutine each.
func (s *Session) startReading() {
	if pl := s.cfg.Poller; pl != nil {
		e, l, err := pl.register(s.conn, s, false)
		if err == nil {
			s.polled = append(s.polled, polled{e, l})
			if s.rtcp == nil {
				return
			}
			if e, l, err = pl.register(s.rtcp, s, true); err == nil {
				s.polled = append(s.polled, polled{e, l})
				return
			}
			s.stopPolling()
		}
		s.log.Warn("rtp poller refused the session's sockets: reading them on goroutines", "error", err)
	}
	s.wg.Go(s.readLoop)
	if s.rtcp != nil {
		s.wg.Go(s.readRTCP)
	}
}

// stopPolling unregisters the sockets from the Poller and waits for a
// dispatch in progress.
func (s *Session) stopPolling() {
	for _, p := range s.polled {
		p.l.unregister(p.e)
	}
	s.polled = nil
}

func (s *Session) readLoop() {
	buf := make([]byte, 1500)
	pcm := make([]int16, 0, 2*maxFrameSamples)
	var p rtp.Packet
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pcm = s.handleRTP(&p, buf[:n], from, pcm)
	}
}

// handleRTP parses and receives one datagram b from from, with p and pcm
// the reader's scratch (pcm returned grown). p aliases b: everything is
// done with it before the next read.
func (s *Session) handleRTP(p *rtp.Packet, b []byte, from netip.AddrPort, pcm []int16) []int16 {
	if err := p.Unmarshal(b); err != nil || p.Version != 2 {
		s.dropped.Add(1)
		return pcm
	}
	return s.receive(p, len(b), from, time.Now(), pcm)
}

// receive handles one parsed packet of n bytes from from: statistics,
// latching, then the consumer, the heard observers and DTMF. It runs on
// the reader goroutine (or a benchmark's); pcm is its scratch buffer,
// returned grown.
func (s *Session) receive(p *rtp.Packet, n int, from netip.AddrPort, now time.Time, pcm []int16) []int16 {
	s.recv.Add(1)
	s.bytes.Add(uint64(n))
	s.lastRecv.Store(now.UnixNano())

	s.mu.Lock()
	if !s.latched && !s.cfg.NoLatch {
		// Symmetric RTP: answer to where the media comes from.
		if from.Addr().Unmap() != s.remote.Addr().Unmap() || from.Port() != s.remote.Port() {
			s.log.Debug("rtp latched", "sdp", s.remote.String(), "source", from.String())
		}
		s.remote, s.latched = netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), true
	}
	if s.latched || from.Addr().Unmap() == s.remote.Addr().Unmap() {
		// A sign of life from where we send (after latching, the
		// source itself). Without latching, packets from another host
		// do not vouch for the SDP's address.
		s.heardFrom.Store(true)
	}
	cd, dtmfPT, cons, heard, onDTMF := s.codec, s.dtmfPT, s.cons, s.heard, s.onDTMF
	clock := 8000
	if cd != nil {
		clock = cd.ClockRate()
	}
	inOrder := s.rx.update(p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker, now, clock)
	recv := s.canRecv
	s.mu.Unlock()
	if !recv {
		return pcm // held: counted, not delivered
	}
	switch {
	case cd != nil && p.PayloadType == cd.PayloadType():
		pcm = s.deliverHeard(cons, heard, cd, inOrder, p.SequenceNumber, p.Timestamp, p.Marker, p.Payload, pcm)
	case dtmfPT != 0 && p.PayloadType == dtmfPT:
		s.readDTMF(p, onDTMF)
		if cons != nil && cons.mode == consumePackets {
			cons.mu.Lock()
			if !cons.released {
				cons.packets(p.PayloadType, p.SequenceNumber, p.Timestamp, p.Marker, p.Payload)
			}
			cons.mu.Unlock()
		}
	case p.PayloadType == 13:
		// Comfort noise (RFC 3389): the sender pauses. A jitter buffer
		// plays it as silence and does not count the pause as loss.
		if cons != nil && cons.jb != nil {
			cons.mu.Lock()
			if !cons.released {
				cons.jb.PushComfortNoise(p.SequenceNumber, p.Timestamp)
			}
			cons.mu.Unlock()
		}
	default:
		s.dropped.Add(1)
	}
	return pcm
}

// readDTMF reports a telephone-event once, on its first end packet (RFC 4733
// section 2.5.1.4: the end packet is retransmitted; the timestamp identifies
// the event).
func (s *Session) readDTMF(p *rtp.Packet, f func(DTMFEvent)) {
	if len(p.Payload) < 4 {
		s.dropped.Add(1)
		return
	}
	ev, end := p.Payload[0], p.Payload[1]&0x80 != 0
	dur := uint16(p.Payload[2])<<8 | uint16(p.Payload[3])
	if !end || f == nil {
		return
	}
	s.mu.Lock()
	dup := s.haveDTMF && s.lastDTMF == p.Timestamp
	s.lastDTMF, s.haveDTMF = p.Timestamp, true
	flood := false
	if !dup {
		now := time.Now()
		if now.Sub(s.dtmfWindow) >= time.Second {
			s.dtmfWindow, s.dtmfCount = now, 0
		}
		s.dtmfCount++
		flood = s.dtmfCount > maxDTMFPerSecond
	}
	s.mu.Unlock()
	if flood {
		s.dropped.Add(1)
		return
	}
	if dup || int(ev) >= len(dtmfDigits) {
		return
	}
	// The duration counts units of telephone-event's clock, which is
	// always 8000 here: the only format offered and accepted is
	// telephone-event/8000, also next to G.722 (RFC 4733 section 2.3.5).
	f(DTMFEvent{Digit: rune(dtmfDigits[ev]), Duration: time.Duration(dur) * time.Second / 8000})
}

// Close sends an RTCP BYE when RTCP is on, closes the sockets and waits
// for the reader goroutines. It is idempotent.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		if s.rtcpTimer != nil {
			s.rtcpTimer.Stop()
		}
		s.mu.Unlock()
		s.stopPolling()
		if s.rtcp != nil {
			s.sendBye()
			_ = s.rtcp.Close()
		}
		err = s.conn.Close()
	})
	s.wg.Wait()
	return err
}
