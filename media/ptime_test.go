package media

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// ptimeReceiver returns a PCMU session on loopback and a socket that
// sends raw RTP to it.
func ptimeReceiver(t testing.TB) (*Session, *net.UDPConn) {
	t.Helper()
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	c, err := pr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(c, SessionConfig{Codec: codec.PCMU()})
	tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s.SetRemote(tx.LocalAddr().(*net.UDPAddr).AddrPort())
	t.Cleanup(func() { s.Close(); tx.Close() })
	return s, tx
}

// rtpSender writes RTP packets of one stream to a session.
type rtpSender struct {
	t    testing.TB
	conn *net.UDPConn
	to   netip.AddrPort
	seq  uint16
	ts   uint32
}

func (w *rtpSender) send(pt uint8, marker bool, payload []byte) {
	w.t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker,
		SequenceNumber: w.seq, Timestamp: w.ts, SSRC: 0x5eed}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.conn.WriteToUDPAddrPort(b, w.to); err != nil {
		w.t.Fatal(err)
	}
	w.seq++
}

// sendAudio sends pcm encoded with PCMU in packets of ptime, one per
// ptime as a phone would, starting now.
func (w *rtpSender) sendAudio(pcm []int16, ptime time.Duration, marker bool) {
	w.t.Helper()
	n := int(ptime * 8000 / time.Second)
	enc := codec.PCMU().Encode(nil, pcm)
	start := time.Now()
	for i := 0; i+n <= len(enc); i += n {
		time.Sleep(time.Until(start.Add(time.Duration(i/n) * ptime)))
		w.send(0, marker && i == 0, enc[i:i+n])
		w.ts += uint32(n)
	}
}

// readFrames pulls one frame every 20 ms from r until talkspurts
// talkspurts of audio (runs of frames with audio) have ended, and returns
// the frames pulled from the first one with audio on, with their
// statuses.
func readFrames(t testing.TB, r *FrameReader, talkspurts int, timeout time.Duration) ([]int16, []FrameStatus) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	var out []int16
	var st []FrameStatus
	ended, in := 0, false
	for ended < talkspurts {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d talkspurts of %d ended; statuses %v", ended, talkspurts, st)
		}
		pcm, s := r.ReadFrame(nil)
		if len(pcm) != g711Frame {
			t.Fatalf("frame of %d samples", len(pcm))
		}
		switch {
		case s == FrameNormal:
			in = true
		case in:
			in = false
			ended++
		case len(st) == 0:
			continue
		}
		out = append(out, pcm...)
		st = append(st, s)
	}
	return out, st
}

// talkspurts splits frames into the runs of frames with audio
// (FrameNormal) and checks that every frame between two runs is silent
// and not concealed.
func talkspurts(t testing.TB, out []int16, st []FrameStatus) [][]int16 {
	t.Helper()
	var runs [][]int16
	for i := 0; i < len(st); {
		if st[i] != FrameNormal {
			if st[i] == FrameConcealed || !allZero(out[i*g711Frame:(i+1)*g711Frame]) {
				t.Fatalf("frame %d between talkspurts is %v, not silent: %v", i, st[i], st)
			}
			i++
			continue
		}
		j := i
		for j < len(st) && st[j] == FrameNormal {
			j++
		}
		runs = append(runs, out[i*g711Frame:j*g711Frame])
		i = j
	}
	return runs
}

// matchAudio checks that got is want sent in packets of packet samples,
// but for silence before and after it, and whole packets of want that the
// jitter buffer dropped: at the start when more than its depth arrived
// while priming, or later to bring a delay grown by a stalled consumer
// back to its target. Each place where audio starts or resumes after a
// dropped packet may differ for the 5 ms cross-fade; everything else must
// be exactly the sent audio. It returns the number of samples dropped.
func matchAudio(t testing.TB, got, want []int16, packet int) (dropped int) {
	t.Helper()
	const fade = 40
	// common is the length of the common prefix of a and b.
	common := func(a, b []int16) int {
		n := 0
		for n < len(a) && n < len(b) && a[n] == b[n] {
			n++
		}
		return n
	}
	// resumes reports whether got[i:] continues want[j:] after a fade.
	resumes := func(i, j int) bool {
		if i+fade > len(got) || j+fade > len(want) {
			return false
		}
		need := min(packet, len(want)-j) - fade
		return common(got[i+fade:], want[j+fade:]) >= max(need, 1)
	}
	i, j := -1, 0
	for k := 0; k < len(got) && k < 800 && allZero(got[:k]) && i < 0; k++ {
		for o := 0; o < 800 && o < len(want); o += packet {
			if resumes(k, o) {
				i, j = k, o
				break
			}
		}
	}
	if i < 0 {
		t.Fatalf("the received audio (%d samples) does not start with the sent audio (%d samples)", len(got), len(want))
	}
	dropped = j
	i, j = i+fade, j+fade
	for {
		c := common(got[i:], want[j:])
		i, j = i+c, j+c
		if j == len(want) {
			break
		}
		// A gap: go back to the packet boundary before it and find the
		// packet the audio resumes with.
		jb := j - j%packet
		ib := i - (j - jb)
		if allZero(got[ib:]) {
			// The last packets were dropped.
			dropped += len(want) - jb
			i = len(got)
			break
		}
		d := 1
		for ; jb+d*packet < len(want) && !resumes(ib, jb+d*packet); d++ {
		}
		if jb+d*packet >= len(want) || d > 10 {
			t.Fatalf("the received audio (%d samples) does not continue the sent audio (%d samples) at sample %d (sent %d) without a gap of whole packets", len(got), len(want), i, j)
		}
		dropped += d * packet
		i, j = ib+fade, jb+d*packet+fade
	}
	if !allZero(got[i:]) {
		t.Fatalf("audio after the talkspurt (at %d of %d samples) is not silence", i, len(got))
	}
	return dropped
}

// TestJitterBufferReframesAnyPacketTime: PCMU packets of 10, 20, 30, 40
// and 60 ms (80 to 480 samples), sent at real pacing, come out of a
// session's jitter buffer as 20 ms frames that are exactly the sent audio
// (after the 5 ms fade-in of the first frame): no gap, no concealment, no
// loss counted by the buffer or by RTP statistics. The stream ends with
// comfort noise, as a phone that stops talking does. Packets the buffer
// drops (trimmed at the start when more than its depth arrived while
// priming, or later when a stalled reader let the delay grow) are counted
// as dropped, and only they are missing.
func TestJitterBufferReframesAnyPacketTime(t *testing.T) {
	const frames = 48 // 960 ms, a whole number of packets of every size
	pcm, want := decodedTone(frames*g711Frame, 440, 0.3)
	for _, ms := range []int{10, 20, 30, 40, 60} {
		t.Run(time.Duration(ms*int(time.Millisecond)).String(), func(t *testing.T) {
			s, tx := ptimeReceiver(t)
			r, err := s.TakeFrames("test", JitterConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release()
			w := &rtpSender{t: t, conn: tx, to: s.LocalAddr(), seq: 65530, ts: 1000}
			go func() {
				w.sendAudio(pcm, time.Duration(ms)*time.Millisecond, true)
				w.send(13, false, []byte{60})
			}()
			out, st := readFrames(t, r, 1, 5*time.Second)
			runs := talkspurts(t, out, st)
			if len(runs) != 1 {
				t.Fatalf("%d talkspurts: %v", len(runs), st)
			}
			dropped := matchAudio(t, runs[0], want, ms*8)
			js := r.Stats()
			if js.Concealed != 0 || js.Late != 0 || js.Duplicates != 0 || js.Silent != 1 ||
				uint64(dropped) != js.Dropped*uint64(ms*8) {
				t.Errorf("%d samples missing; jitter stats %+v", dropped, js)
			}
			if got, want := js.Played+js.Dropped, uint64(frames*20/ms); got != want {
				t.Errorf("played and dropped %d packets, sent %d", got, want)
			}
			if ss := s.Stats(); ss.PacketsLost != 0 {
				t.Errorf("session stats %+v", ss)
			}
		})
	}
}

// TestJitterBufferComfortNoiseIsSilenceNotLoss: a phone sends 30 ms
// packets, then RFC 3389 comfort noise (payload type 13) during a half
// second pause, with its timestamps jumping across the pause, then speaks
// again. The pause plays as silence, the buffer conceals nothing and the
// session counts no loss; each talkspurt is exactly what was sent.
func TestJitterBufferComfortNoiseIsSilenceNotLoss(t *testing.T) {
	const frames = 24 // 480 ms
	pcm, want := decodedTone(frames*g711Frame, 440, 0.3)
	s, tx := ptimeReceiver(t)
	r, err := s.TakeFrames("test", JitterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	w := &rtpSender{t: t, conn: tx, to: s.LocalAddr(), seq: 100, ts: 1000}
	go func() {
		w.sendAudio(pcm, 30*time.Millisecond, true)
		// RFC 3389 section 4: a CN packet at the start of the pause and
		// an update within it, noise level -60 dBov.
		time.Sleep(30 * time.Millisecond)
		w.send(13, false, []byte{60})
		time.Sleep(250 * time.Millisecond)
		w.ts += 2000
		w.send(13, false, []byte{60})
		time.Sleep(250 * time.Millisecond)
		w.ts += 2000
		w.sendAudio(pcm, 30*time.Millisecond, true)
		w.send(13, false, []byte{60})
	}()
	out, st := readFrames(t, r, 2, 5*time.Second)
	runs := talkspurts(t, out, st)
	if len(runs) != 2 {
		t.Fatalf("%d talkspurts: %v", len(runs), st)
	}
	dropped := matchAudio(t, runs[0], want, 240) + matchAudio(t, runs[1], want, 240)
	js := r.Stats()
	if js.Concealed != 0 || js.Late != 0 || js.Silent < 2 || uint64(dropped) != js.Dropped*240 {
		t.Errorf("%d samples missing; jitter stats %+v", dropped, js)
	}
	if ss := s.Stats(); ss.PacketsLost != 0 || ss.PacketsReceived != uint64(2*frames*20/30+3) {
		t.Errorf("session stats %+v", ss)
	}
}

// frameSink records the frames a sink is given.
type frameSink struct {
	mu     sync.Mutex
	pcm    []int16
	sizes  map[int]int
	frames int
}

func (s *frameSink) WriteAudio(pcm []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sizes == nil {
		s.sizes = map[int]int{}
	}
	s.sizes[len(pcm)]++
	s.frames++
	s.pcm = append(s.pcm, pcm...)
}

func (s *frameSink) snapshot() ([]int16, map[int]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pcm), maps.Clone(s.sizes)
}

// TestTakeAudioReframesAnyPacketTime: the push path (TakeAudio, without
// and with a jitter buffer) and the heard observers get 20 ms frames of
// 160 samples whatever the sender's packet time, and together they are
// the sent audio without a gap.
func TestTakeAudioReframesAnyPacketTime(t *testing.T) {
	const frames = 24
	pcm, want := decodedTone(frames*g711Frame, 440, 0.3)
	for _, ms := range []int{10, 30, 40, 60} {
		for _, jitter := range []bool{false, true} {
			t.Run(fmt.Sprintf("%dms/jitter=%v", ms, jitter), func(t *testing.T) {
				s, tx := ptimeReceiver(t)
				var sink, heard frameSink
				var opts AudioOptions
				if jitter {
					opts.Jitter = &JitterConfig{}
				}
				release, err := s.TakeAudio("test", &sink, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer release()
				defer s.ObserveHeard(&heard)()
				w := &rtpSender{t: t, conn: tx, to: s.LocalAddr(), seq: 7, ts: 1000}
				w.sendAudio(pcm, time.Duration(ms)*time.Millisecond, true)
				w.send(13, false, []byte{60})
				relayWait(t, "the audio", func() bool {
					got, _ := sink.snapshot()
					// What the jitter buffer dropped (counted; checked
					// below) never comes: a stalled reader on a loaded
					// machine makes it trim its delay.
					dropped := 0
					if jitter {
						dropped = int(s.JitterStats().Dropped) * ms * 8
					}
					return len(got)+dropped >= len(want)-g711Frame
				})
				time.Sleep(100 * time.Millisecond)
				for name, fs := range map[string]*frameSink{"sink": &sink, "observer": &heard} {
					got, sizes := fs.snapshot()
					if len(sizes) != 1 || sizes[g711Frame] == 0 {
						t.Errorf("%s got frames of sizes %v", name, sizes)
					}
					if jitter {
						// Only what the buffer trimmed while priming is missing.
						js := s.JitterStats()
						if d := matchAudio(t, got, want, ms*8); uint64(d) != js.Dropped*uint64(ms*8) || js.Concealed != 0 {
							t.Errorf("%s: %d samples missing; jitter stats %+v", name, d, js)
						}
						continue
					}
					if n := len(got); n != len(want) || !slices.Equal(got, want) {
						t.Errorf("%s: %d samples, not the %d sent", name, n, len(want))
					}
				}
			})
		}
	}
}

// TestSessionSendsThePacketTimeAsked: with SetPacketTime(10, 30, 40 or 60
// ms), 20 ms frames played into a session leave as packets of that
// duration, one per packet time: the payload is 80 to 480 bytes of PCMU,
// the timestamp advances by as much and the sequence number by one, and
// together they carry the played audio.
func TestSessionSendsThePacketTimeAsked(t *testing.T) {
	const frames = 24
	pcm, want := decodedTone(frames*g711Frame, 440, 0.3)
	for _, ms := range []int{10, 30, 40, 60} {
		t.Run(fmt.Sprintf("%dms", ms), func(t *testing.T) {
			s, rx := ptimeReceiver(t)
			s.SetPacketTime(time.Duration(ms) * time.Millisecond)
			played := make(chan error, 1)
			go func() { played <- Play(context.Background(), s, pcm) }()
			defer func() {
				if err := <-played; err != nil {
					t.Error(err)
				}
			}()
			n := ms * 8
			var got []int16
			var first, last time.Time
			var prev rtp.Packet
			buf := make([]byte, 1500)
			for i := range frames * 20 / ms {
				_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
				k, err := rx.Read(buf)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				var p rtp.Packet
				if err := p.Unmarshal(slices.Clone(buf[:k])); err != nil {
					t.Fatal(err)
				}
				if len(p.Payload) != n || p.PayloadType != 0 {
					t.Fatalf("packet %d: type %d, %d bytes, want %d", i, p.PayloadType, len(p.Payload), n)
				}
				if i > 0 && (p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+uint32(n)) {
					t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, prev.SequenceNumber, prev.Timestamp)
				}
				if p.Marker != (i == 0) {
					t.Errorf("packet %d: marker %v", i, p.Marker)
				}
				prev = p
				got = codec.PCMU().Decode(got, p.Payload)
				if i == 0 {
					first = time.Now()
				}
				last = time.Now()
			}
			if !slices.Equal(got, want) {
				t.Error("the packets do not carry the played audio")
			}
			// Packets are sent as their audio is complete, one per ptime
			// (10 ms packets go in pairs, once per 20 ms frame).
			span := time.Duration(frames*20-max(ms, 20)) * time.Millisecond
			if d := last.Sub(first); d < span*8/10 {
				t.Errorf("%d packets within %v, want about %v", frames*20/ms, d, span)
			}
		})
	}
}
