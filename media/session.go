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
)

// FrameSamples is the number of 8 kHz samples in a 20 ms frame.
const FrameSamples = 160

// AudioSink receives decoded mono PCM frames. WriteAudio is called on the
// session's reader goroutine (or the sender's goroutine for send taps); it
// must not block and must not keep pcm after it returns (the buffer is
// reused).
type AudioSink interface {
	WriteAudio(pcm []int16)
}

// AudioSinkFunc adapts a function to AudioSink.
type AudioSinkFunc func(pcm []int16)

// WriteAudio calls f(pcm).
func (f AudioSinkFunc) WriteAudio(pcm []int16) { f(pcm) }

// DTMFEvent is one received key press.
type DTMFEvent struct {
	Digit    rune
	Duration time.Duration
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
}

// SessionConfig configures a Session.
type SessionConfig struct {
	Codec Codec
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
	Logger  *slog.Logger
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

	mu       sync.Mutex
	codec    Codec
	dtmfPT   uint8
	remote   netip.AddrPort
	latched  bool
	canSend  bool
	sink     AudioSink
	taps     []AudioSink
	sendTaps []AudioSink
	onDTMF   func(DTMFEvent)
	lastDTMF uint32 // timestamp of the last reported telephone-event
	haveDTMF bool
	// dtmfWindow and dtmfCount bound how many key presses a flood can
	// report: at most maxDTMFPerSecond per second.
	dtmfWindow time.Time
	dtmfCount  int
	rx         rxStats
	jb         *JitterBuffer
	jbDec      Decoder
	playing    bool
	remoteRR   remoteReport
	cname      string
	rtcpTimer  *time.Timer
	// packetHandler, when set, takes the packets of the codec and of
	// telephone-event instead of the decoder (SetPacketHandler).
	packetHandler func(pt uint8, seq uint16, ts uint32, marker bool, payload []byte)

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
	inEvent  bool // an RFC 4733 event is being sent: audio is suppressed
	lastSend time.Time

	sent, sentBytes, recv, bytes, dropped atomic.Uint64
	rtcpSent, rtcpRecv                    atomic.Uint64
	lastRecv                              atomic.Int64

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
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
	s := &Session{
		conn:    conn,
		rtcp:    cfg.RTCP,
		log:     log,
		cfg:     cfg,
		codec:   cfg.Codec,
		dtmfPT:  cfg.DTMFPayloadType,
		canSend: true,
		ssrc:    rand.Uint32(),
		seq:     uint16(rand.Uint32()),
		ts:      rand.Uint32(),
		marker:  true,
		closed:  make(chan struct{}),
	}
	s.cname = conn.LocalAddr().String()
	s.lastRecv.Store(time.Now().UnixNano())
	s.wg.Go(s.readLoop)
	if s.rtcp != nil {
		s.wg.Go(s.readRTCP)
		s.mu.Lock()
		s.rtcpTimer = time.AfterFunc(s.reportDelay(), s.sendReport)
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
func (s *Session) SetCodec(c Codec, dtmfPT uint8) {
	s.mu.Lock()
	if s.codec != c {
		s.jbDec = nil
	}
	s.codec, s.dtmfPT = c, dtmfPT
	s.mu.Unlock()
}

// Codec returns the codec in use.
func (s *Session) Codec() Codec {
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

// SetSending enables or disables sending, as the negotiated direction
// allows (hold). Frames written while sending is disabled are discarded but
// still advance the RTP timestamp.
func (s *Session) SetSending(on bool) {
	s.mu.Lock()
	s.canSend = on
	s.mu.Unlock()
}

// Sending reports whether the session may send.
func (s *Session) Sending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canSend
}

// SetSink sets the consumer of decoded incoming audio (nil to discard).
func (s *Session) SetSink(sink AudioSink) {
	s.mu.Lock()
	s.sink = sink
	s.mu.Unlock()
}

// AddTap adds an observer of incoming audio (what the call hears), for
// recorders and mixers; it runs on the reader goroutine after the sink.
func (s *Session) AddTap(t AudioSink) {
	s.mu.Lock()
	s.taps = append(s.taps, t)
	s.mu.Unlock()
}

// AddSendTap adds an observer of outgoing PCM (what the call sends through
// WriteFrame); it runs on the writer's goroutine. Payloads sent already
// encoded (WriteRTPPayload, shared players) are not seen here: tap the
// player instead.
func (s *Session) AddSendTap(t AudioSink) {
	s.mu.Lock()
	s.sendTaps = append(s.sendTaps, t)
	s.mu.Unlock()
}

// RemoveTap removes a tap added with AddTap or AddSendTap (compared by
// identity; taps must be comparable).
func (s *Session) RemoveTap(t AudioSink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taps = removeSink(s.taps, t)
	s.sendTaps = removeSink(s.sendTaps, t)
}

func removeSink(list []AudioSink, t AudioSink) []AudioSink {
	out := list[:0:0]
	for _, x := range list {
		if x != t {
			out = append(out, x)
		}
	}
	return out
}

// OnDTMF sets the handler of received RFC 4733 key presses. It runs on the
// reader goroutine and must not block.
func (s *Session) OnDTMF(f func(DTMFEvent)) {
	s.mu.Lock()
	s.onDTMF = f
	s.mu.Unlock()
}

// SetPacketHandler hands the received packets of the negotiated codec and
// of telephone-event, as they arrive, to f instead of the jitter buffer,
// the decoder (sink and taps) and DTMF parsing, for a relay that forwards
// them to another session; nil restores decoding. Statistics and latching
// still apply. f runs on the reader goroutine and must not block; payload
// is only valid during the call. After SetPacketHandler returns, one call
// to the previous handler may still be running.
func (s *Session) SetPacketHandler(f func(pt uint8, seq uint16, ts uint32, marker bool, payload []byte)) {
	s.mu.Lock()
	s.packetHandler = f
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
		PacketsSent:        s.sent.Load(),
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
	codec, remote, canSend, taps := s.codec, s.remote, s.canSend, s.sendTaps
	s.mu.Unlock()
	if codec == nil {
		return errors.New("media: no codec negotiated")
	}
	for _, t := range taps {
		t.WriteAudio(pcm)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.inEvent {
		return nil
	}
	ts := s.ts
	s.ts += uint32(len(pcm) * codec.ClockRate() / codec.SampleRate())
	if !canSend || !remote.IsValid() {
		s.marker = true
		return nil
	}
	s.enc = codec.Encode(s.enc[:0], pcm)
	return s.writeLocked(codec.PayloadType(), ts, s.enc, remote)
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
	if _, err := s.conn.WriteToUDPAddrPort(buf, remote); err != nil {
		return err
	}
	s.sent.Add(1)
	s.sentBytes.Add(uint64(n))
	s.lastSend = time.Now()
	return nil
}

// WriteRTPPayload sends a payload of the given type as is and advances the
// timestamp by samples, for relays and shared players that encode once for
// many sessions.
func (s *Session) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	s.mu.Lock()
	remote, canSend := s.remote, s.canSend
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.inEvent {
		return nil
	}
	ts := s.ts
	s.ts += uint32(samples)
	if !canSend || !remote.IsValid() {
		s.marker = true
		return nil
	}
	s.marker = s.marker || marker
	return s.writeLocked(pt, ts, payload, remote)
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

func (s *Session) readLoop() {
	buf := make([]byte, 1500)
	pcm := make([]int16, 0, 2*FrameSamples)
	var p rtp.Packet
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		// p.Unmarshal aliases buf; everything below is done before the next read.
		if err := p.Unmarshal(buf[:n]); err != nil || p.Version != 2 {
			s.dropped.Add(1)
			continue
		}
		now := time.Now()
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
		codec, dtmfPT, sink, taps, onDTMF := s.codec, s.dtmfPT, s.sink, s.taps, s.onDTMF
		clock := 8000
		if codec != nil {
			clock = codec.ClockRate()
		}
		inOrder := s.rx.update(p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker, now, clock)
		jb, ph := s.jb, s.packetHandler
		s.mu.Unlock()
		if ph != nil && (codec != nil && p.PayloadType == codec.PayloadType() || dtmfPT != 0 && p.PayloadType == dtmfPT) {
			ph(p.PayloadType, p.SequenceNumber, p.Timestamp, p.Marker, p.Payload)
			continue
		}
		switch {
		case jb != nil && codec != nil && p.PayloadType == codec.PayloadType():
			// The jitter buffer reorders, and conceals what is missing
			// when the consumer's clock pulls (ReadFrame).
			jb.Push(p.SequenceNumber, p.Timestamp, p.Payload)
		case codec != nil && p.PayloadType == codec.PayloadType():
			if !inOrder {
				continue // late audio would be played out of order
			}
			pcm = codec.Decode(pcm[:0], p.Payload)
			if sink != nil {
				sink.WriteAudio(pcm)
			}
			for _, t := range taps {
				t.WriteAudio(pcm)
			}
		case dtmfPT != 0 && p.PayloadType == dtmfPT:
			s.readDTMF(&p, onDTMF)
		case p.PayloadType == 13:
			// Comfort noise (RFC 3389): nothing to play.
		default:
			s.dropped.Add(1)
		}
	}
}

// EnableJitterBuffer routes received audio through a jitter buffer: from
// now on it is not pushed to the sink and taps on arrival, but pulled one
// frame at a time by ReadFrame (a conference mixer's or recorder's clock),
// or by the session's own 20 ms clock after StartPlayout. Missing packets
// are concealed (repeat, then fade). Calling it again replaces the buffer.
func (s *Session) EnableJitterBuffer(cfg JitterConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jb = NewJitterBuffer(cfg)
	s.jbDec = nil
}

// DisableJitterBuffer returns to pushing received audio to the sink and
// taps on arrival.
func (s *Session) DisableJitterBuffer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jb, s.jbDec = nil, nil
}

// JitterStats returns the jitter buffer's statistics (zero without one).
func (s *Session) JitterStats() JitterStats {
	s.mu.Lock()
	jb := s.jb
	s.mu.Unlock()
	if jb == nil {
		return JitterStats{}
	}
	return jb.Stats()
}

// ReadFrame pulls the next 20 ms of received audio from the jitter buffer,
// decoded and concealed. Call it once per frame time from one goroutine.
// Without EnableJitterBuffer it returns FrameEmpty.
func (s *Session) ReadFrame(dst []int16) ([]int16, FrameStatus) {
	s.mu.Lock()
	jb, codec := s.jb, s.codec
	if jb != nil && codec != nil && s.jbDec == nil {
		s.jbDec = NewDecoder(codec)
	}
	dec := s.jbDec
	s.mu.Unlock()
	if jb == nil || dec == nil {
		return dst[:0], FrameEmpty
	}
	return jb.PopPCM(dst, dec)
}

// StartPlayout starts a 20 ms clock goroutine that pulls frames with
// ReadFrame and hands them to the sink and taps, as a phone's speaker
// would. It needs EnableJitterBuffer; it stops at Close.
func (s *Session) StartPlayout() {
	s.mu.Lock()
	if s.playing || s.jb == nil {
		s.mu.Unlock()
		return
	}
	s.playing = true
	s.mu.Unlock()
	s.wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		buf := make([]int16, 0, 2*FrameSamples)
		for {
			select {
			case <-s.closed:
				return
			case <-t.C:
			}
			pcm, st := s.ReadFrame(buf[:0])
			if st == FrameEmpty {
				continue
			}
			s.mu.Lock()
			sink, taps := s.sink, s.taps
			s.mu.Unlock()
			if sink != nil {
				sink.WriteAudio(pcm)
			}
			for _, tp := range taps {
				tp.WriteAudio(pcm)
			}
		}
	})
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
		if s.rtcp != nil {
			s.sendBye()
			_ = s.rtcp.Close()
		}
		err = s.conn.Close()
	})
	s.wg.Wait()
	return err
}
