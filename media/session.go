package media

import (
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
// session's reader goroutine; it must not block and must not keep pcm after
// it returns (the buffer is reused).
type AudioSink interface {
	WriteAudio(pcm []int16)
}

// AudioSinkFunc adapts a function to AudioSink.
type AudioSinkFunc func(pcm []int16)

// WriteAudio calls f(pcm).
func (f AudioSinkFunc) WriteAudio(pcm []int16) { f(pcm) }

// DTMFEvent is one received RFC 4733 telephone-event key press.
type DTMFEvent struct {
	Digit    rune
	Duration time.Duration
}

// Stats are counters of one RTP session.
type Stats struct {
	PacketsSent     uint64
	PacketsReceived uint64
	BytesReceived   uint64
	Dropped         uint64 // packets that failed to parse or had an unknown payload type
	LastReceived    time.Time
}

// SessionConfig configures a Session.
type SessionConfig struct {
	Codec Codec
	// DTMFPayloadType is the negotiated telephone-event payload type; 0 when
	// the peer offered none.
	DTMFPayloadType uint8
	Logger          *slog.Logger
}

// Session is the RTP session of one call: one UDP socket, one outgoing
// stream and the decoded incoming audio. It starts a reader goroutine in
// NewSession; Close stops it and waits for it. Methods are safe for
// concurrent use.
type Session struct {
	conn *net.UDPConn
	log  *slog.Logger

	mu       sync.Mutex
	codec    Codec
	dtmfPT   uint8
	remote   netip.AddrPort
	canSend  bool
	sink     AudioSink
	taps     []AudioSink
	onDTMF   func(DTMFEvent)
	lastDTMF uint32 // timestamp of the last reported telephone-event

	// Outgoing stream state (RFC 3550 section 5.1), guarded by wmu.
	wmu    sync.Mutex
	ssrc   uint32
	seq    uint16
	ts     uint32
	wbuf   []byte
	enc    []byte
	marker bool

	sent, recv, bytes, dropped atomic.Uint64
	lastRecv                   atomic.Int64

	closeOnce sync.Once
	done      chan struct{}
}

// NewSession wraps conn (usually from PortRange.Listen) and starts reading.
func NewSession(conn *net.UDPConn, cfg SessionConfig) *Session {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Session{
		conn:    conn,
		log:     log,
		codec:   cfg.Codec,
		dtmfPT:  cfg.DTMFPayloadType,
		canSend: true,
		ssrc:    rand.Uint32(),
		seq:     uint16(rand.Uint32()),
		ts:      rand.Uint32(),
		marker:  true,
		done:    make(chan struct{}),
	}
	s.lastRecv.Store(time.Now().UnixNano())
	go s.readLoop()
	return s
}

// LocalAddr returns the session's RTP address.
func (s *Session) LocalAddr() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// SetRemote sets where RTP is sent; an invalid address stops sending.
func (s *Session) SetRemote(a netip.AddrPort) {
	s.mu.Lock()
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
	s.codec, s.dtmfPT = c, dtmfPT
	s.mu.Unlock()
}

// Codec returns the codec in use.
func (s *Session) Codec() Codec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codec
}

// SetSending enables or disables sending, as the negotiated direction
// allows (hold). Frames written while sending is disabled are discarded but
// still advance the RTP timestamp.
func (s *Session) SetSending(on bool) {
	s.mu.Lock()
	s.canSend = on
	s.mu.Unlock()
}

// SetSink sets the consumer of decoded incoming audio (nil to discard).
func (s *Session) SetSink(sink AudioSink) {
	s.mu.Lock()
	s.sink = sink
	s.mu.Unlock()
}

// AddTap adds an observer of incoming audio, for recorders and mixers; it
// runs on the reader goroutine after the sink.
func (s *Session) AddTap(t AudioSink) {
	s.mu.Lock()
	s.taps = append(s.taps, t)
	s.mu.Unlock()
}

// OnDTMF sets the handler of received RFC 4733 key presses. It runs on the
// reader goroutine and must not block.
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
	return Stats{
		PacketsSent:     s.sent.Load(),
		PacketsReceived: s.recv.Load(),
		BytesReceived:   s.bytes.Load(),
		Dropped:         s.dropped.Load(),
		LastReceived:    s.LastReceived(),
	}
}

// WriteFrame encodes one frame of mono PCM at the codec's sample rate and
// sends it as one RTP packet. It does not pace: callers send one frame per
// packet time (see Play).
func (s *Session) WriteFrame(pcm []int16) error {
	s.mu.Lock()
	codec, remote, canSend := s.codec, s.remote, s.canSend
	s.mu.Unlock()
	if codec == nil {
		return errors.New("media: no codec negotiated")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
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
	return nil
}

// WriteRTPPayload sends a payload of the given type and timestamp increment
// as is, for relays and DTMF senders.
func (s *Session) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	s.mu.Lock()
	remote, canSend := s.remote, s.canSend
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ts := s.ts
	s.ts += uint32(samples)
	if !canSend || !remote.IsValid() {
		return nil
	}
	s.marker = s.marker || marker
	return s.writeLocked(pt, ts, payload, remote)
}

func (s *Session) readLoop() {
	defer close(s.done)
	buf := make([]byte, 1500)
	pcm := make([]int16, 0, 2*FrameSamples)
	var p rtp.Packet
	for {
		n, _, err := s.conn.ReadFromUDPAddrPort(buf)
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
		s.recv.Add(1)
		s.bytes.Add(uint64(n))
		s.lastRecv.Store(time.Now().UnixNano())

		s.mu.Lock()
		codec, dtmfPT, sink, taps, onDTMF := s.codec, s.dtmfPT, s.sink, s.taps, s.onDTMF
		s.mu.Unlock()
		switch {
		case codec != nil && p.PayloadType == codec.PayloadType():
			pcm = codec.Decode(pcm[:0], p.Payload)
			if sink != nil {
				sink.WriteAudio(pcm)
			}
			for _, t := range taps {
				t.WriteAudio(pcm)
			}
		case dtmfPT != 0 && p.PayloadType == dtmfPT:
			s.readDTMF(&p, onDTMF)
		default:
			s.dropped.Add(1)
		}
	}
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
	dup := s.lastDTMF == p.Timestamp && p.Timestamp != 0
	s.lastDTMF = p.Timestamp
	s.mu.Unlock()
	if dup {
		return
	}
	const digits = "0123456789*#ABCD"
	if int(ev) >= len(digits) {
		return
	}
	f(DTMFEvent{Digit: rune(digits[ev]), Duration: time.Duration(dur) * time.Second / 8000})
}

// Close closes the socket and waits for the reader goroutine. It is
// idempotent.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.conn.Close() })
	<-s.done
	return err
}
