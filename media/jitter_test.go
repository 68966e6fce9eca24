package media

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

const frameDur = 20 * time.Millisecond

// arrival is one packet as the network delivers it.
type arrival struct {
	at      time.Duration
	seq     uint16
	ts      uint32
	payload []byte
}

// network describes the simulated path between sender and buffer.
type network struct {
	loss     float64       // probability that a packet is lost
	maxDelay time.Duration // delays are uniform in [0, maxDelay)
	seed     uint64
	seq0     uint16
	ts0      uint32
}

// transmit encodes pcm into one PCMU packet per 20 ms frame, sent at
// multiples of 20 ms, and returns the packets in arrival order and which
// were lost.
func (n network) transmit(pcm []int16) ([]arrival, []bool) {
	rng := rand.New(rand.NewPCG(n.seed, 7))
	var out []arrival
	frames := len(pcm) / g711Frame
	lost := make([]bool, frames)
	for i := range frames {
		payload := codec.PCMU().Encode(nil, pcm[i*g711Frame:(i+1)*g711Frame])
		if rng.Float64() < n.loss {
			lost[i] = true
			continue
		}
		delay := time.Duration(rng.Int64N(int64(n.maxDelay) + 1))
		out = append(out, arrival{
			at:      time.Duration(i)*frameDur + delay,
			seq:     n.seq0 + uint16(i),
			ts:      n.ts0 + uint32(i*g711Frame),
			payload: payload,
		})
	}
	slices.SortStableFunc(out, func(a, b arrival) int { return int(a.at - b.at) })
	return out, lost
}

// playout runs the consumer clock: a pop every 20 ms starting at phase,
// with every packet that arrived by then pushed first. It returns the
// output PCM and the status of every frame.
func playout(jb *JitterBuffer, arrivals []arrival, pops int, phase time.Duration) ([]int16, []FrameStatus) {
	var out []int16
	var st []FrameStatus
	frame := make([]int16, 0, g711Frame)
	next := 0
	for j := range pops {
		now := time.Duration(j)*frameDur + phase
		for ; next < len(arrivals) && arrivals[next].at <= now; next++ {
			a := arrivals[next]
			jb.Push(a.seq, a.ts, a.payload)
		}
		var s FrameStatus
		frame, s = jb.PopPCM(frame, codec.PCMU())
		out = append(out, frame...)
		st = append(st, s)
	}
	return out, st
}

func allZero(s []int16) bool {
	for _, v := range s {
		if v != 0 {
			return false
		}
	}
	return true
}

func maxStep(s []int16) int {
	m := 0
	for i := 1; i < len(s); i++ {
		m = max(m, abs(int(s[i])-int(s[i-1])))
	}
	return m
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// decodedTone returns n samples of a tone after a PCMU round trip, as the
// receiver sees it without loss.
func decodedTone(n int, freq, amp float64) (pcm, decoded []int16) {
	pcm = dsp.Sine(8000, freq, time.Duration(n)*time.Second/8000, amp)
	return pcm, codec.PCMU().Decode(nil, codec.PCMU().Encode(nil, pcm))
}

func TestJitterBufferOrderedPlaysExactly(t *testing.T) {
	jb := NewJitterBuffer(JitterConfig{})
	const n = 200
	pcm, want := decodedTone(n*g711Frame, 1000, 0.5)
	arr, _ := network{seq0: 1000, ts0: 5}.transmit(pcm)
	out, st := playout(jb, arr, n+10, 7*time.Millisecond)
	// The first packet plays on the third pop (60 ms depth) after it
	// arrived: pops 0 and 1 are empty.
	first := slices.Index(st, FrameNormal)
	if first != 2 {
		t.Fatalf("first frame played at pop %d, want 2", first)
	}
	for i, s := range st[first : first+n] {
		if s != FrameNormal {
			t.Fatalf("frame %d: status %v", i, s)
		}
	}
	got := out[first*g711Frame : (first+n)*g711Frame]
	// The first frame fades in from silence over 5 ms; the rest is exact.
	if !slices.Equal(got[40:], want[40:]) {
		t.Error("ordered stream not played exactly")
	}
	// After the stream ends: three concealed frames, then empty.
	if !slices.Equal(st[first+n:first+n+5], []FrameStatus{FrameConcealed, FrameConcealed, FrameConcealed, FrameEmpty, FrameEmpty}) {
		t.Errorf("statuses after the end: %v", st[first+n:])
	}
	s := jb.Stats()
	if s.Received != n || s.Played != n || s.Concealed != concealFrames || s.Late+s.Dropped+s.Duplicates+s.Reordered != 0 {
		t.Errorf("stats %+v", s)
	}
	if s.Depth != 60*time.Millisecond {
		t.Errorf("depth %v, want 60ms", s.Depth)
	}
}

// popAll pushes arrivals[i], in order, before the i-th pop and pops until n
// frames were played or concealed. It returns the payloads of the played
// frames in order, nil for concealed ones.
func popAll(t *testing.T, jb *JitterBuffer, arrivals [][]uint16, n int) [][]byte {
	t.Helper()
	var got [][]byte
	for i := range 10 * n {
		if i < len(arrivals) {
			for _, seq := range arrivals[i] {
				jb.Push(seq, uint32(seq)*160, payloadOf(seq))
			}
		}
		p, st := jb.Pop(nil)
		switch st {
		case FrameNormal:
			got = append(got, p)
		case FrameConcealed:
			got = append(got, nil)
		}
		if len(got) == n {
			return got
		}
	}
	t.Fatalf("only %d of %d frames came out", len(got), n)
	return nil
}

func payloadOf(seq uint16) []byte { return []byte{byte(seq >> 8), byte(seq), 0xaa} }

func TestJitterBufferReorderedPlaysInOrder(t *testing.T) {
	for _, seq0 := range []uint16{100, 65530} { // the second crosses the wrap
		jb := NewJitterBuffer(JitterConfig{Depth: 80 * time.Millisecond})
		const n = 40
		// Packet i is sent just before pop i. After the first four, pairs
		// arrive swapped (the even one 20 ms late) and one group of three
		// reversed (the first two 40 and 20 ms late): all within the
		// 80 ms depth.
		arrivals := make([][]uint16, n)
		for i := range 4 {
			arrivals[i] = []uint16{seq0 + uint16(i)}
		}
		for i := 4; i+1 < n; i += 2 {
			arrivals[i+1] = []uint16{seq0 + uint16(i+1), seq0 + uint16(i)}
		}
		arrivals[10], arrivals[11], arrivals[12] = nil, nil, []uint16{seq0 + 12, seq0 + 11, seq0 + 10}
		arrivals[13] = []uint16{seq0 + 13}
		got := popAll(t, jb, arrivals, n)
		for i, p := range got {
			if !bytes.Equal(p, payloadOf(seq0+uint16(i))) {
				t.Fatalf("seq0 %d: frame %d is %v, want seq %d", seq0, i, p, seq0+uint16(i))
			}
		}
		if s := jb.Stats(); s.Played != n || s.Reordered == 0 || s.Concealed != 0 {
			t.Errorf("seq0 %d: stats %+v", seq0, s)
		}
	}
}

func TestJitterBufferSequenceWrap(t *testing.T) {
	jb := NewJitterBuffer(JitterConfig{})
	pcm, _ := decodedTone(300*g711Frame, 1000, 0.5)
	arr, _ := network{seq0: 65400, ts0: math.MaxUint32 - 100*160, maxDelay: 30 * time.Millisecond, seed: 3}.transmit(pcm)
	out, st := playout(jb, arr, 320, 3*time.Millisecond)
	// No frame is missing across the wrap. (One may be dropped if the
	// first packet was slow, to bring the delay back to the depth.)
	s := jb.Stats()
	if s.Played+s.Dropped != 300 || s.Dropped > 1 || s.Late != 0 || s.Concealed != concealFrames {
		t.Errorf("stats %+v", s)
	}
	checkContinuity(t, out, st)
	if f := dsp.ToneFraction(out, 8000, 1000); f != 1 {
		t.Errorf("tone in %.1f%% of windows", 100*f)
	}
}

func TestJitterBufferDuplicatesAndLate(t *testing.T) {
	jb := NewJitterBuffer(JitterConfig{Depth: 40 * time.Millisecond})
	push := func(i uint16) { jb.Push(i, uint32(i)*160, payloadOf(i)) }
	push(0)
	push(0) // duplicate while buffered
	push(1)
	var got [][]byte
	pop := func() {
		p, st := jb.Pop(nil)
		if st == FrameConcealed {
			p = []byte{}
		}
		if st != FrameEmpty {
			got = append(got, p)
		}
	}
	pop()   // priming
	pop()   // plays 0
	push(0) // duplicate of a played packet
	push(3) // 2 is missing
	pop()   // plays 1
	pop()   // 2 concealed
	push(2) // late
	push(4)
	pop() // 3
	pop() // 4
	want := [][]byte{payloadOf(0), payloadOf(1), {}, payloadOf(3), payloadOf(4)}
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: %v, want %v", i, got[i], want[i])
		}
	}
	s := jb.Stats()
	if s.Duplicates != 2 || s.Late != 1 || s.Concealed != 1 || s.Played != 4 || s.Received != 7 {
		t.Errorf("stats %+v", s)
	}
}

// checkContinuity asserts that output from the first to the last played
// frame has audio in every frame except after three or more consecutive
// frames without a packet, and returns the number of silent frames there.
func checkContinuity(t *testing.T, out []int16, st []FrameStatus) (silent int) {
	t.Helper()
	first := slices.Index(st, FrameNormal)
	last := first
	for i, v := range st {
		if v == FrameNormal {
			last = i
		}
	}
	run := 0 // consecutive frames without a packet
	for i := first; i <= last; i++ {
		if st[i] == FrameNormal {
			run = 0
		} else {
			run++
		}
		if !allZero(out[i*g711Frame : (i+1)*g711Frame]) {
			continue
		}
		silent++
		if run <= concealFrames {
			t.Errorf("frame %d is silent after %d frames without a packet (status %v)", i, run-1, st[i])
		}
	}
	return silent
}

func TestJitterBufferLossAndJitterTone(t *testing.T) {
	const frames = 3000 // one minute
	for _, tc := range []struct {
		name     string
		cfg      JitterConfig
		maxDelay time.Duration
		wantLate bool
		freq     float64
		slack    float64 // allowed excess of the largest sample step over the tone's own
	}{
		{"fixed60ms", JitterConfig{}, 40 * time.Millisecond, false, 1000, 0.05},
		{"adaptive", JitterConfig{Adaptive: true}, 40 * time.Millisecond, false, 1000, 0.05},
		{"fixed40ms_jitter80ms", JitterConfig{Depth: 40 * time.Millisecond}, 80 * time.Millisecond, true, 1000, 0.05},
		{"adaptive40ms_jitter80ms", JitterConfig{Depth: 40 * time.Millisecond, Adaptive: true}, 80 * time.Millisecond, true, 1000, 0.05},
		// 1 kHz repeats every 8 samples, so a whole frame is a whole
		// number of periods; 440 Hz (18.18 samples) is not, and tests
		// that concealment continues the wave rather than the frame.
		{"fixed60ms_440Hz", JitterConfig{}, 40 * time.Millisecond, false, 440, 0.15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcm, ref := decodedTone(frames*g711Frame, tc.freq, 0.5)
			natural := maxStep(ref)
			net := network{loss: 0.05, maxDelay: tc.maxDelay, seed: 42, seq0: 65000, ts0: 1234}
			arr, lost := net.transmit(pcm)
			nLost := 0
			for _, l := range lost {
				if l {
					nLost++
				}
			}
			jb := NewJitterBuffer(tc.cfg)
			out, st := playout(jb, arr, frames+20, 11*time.Millisecond)
			first := slices.Index(st, FrameNormal)
			played := out[first*g711Frame:]
			silent := checkContinuity(t, out, st)
			frac := dsp.ToneFraction(played, 8000, tc.freq)
			if frac < 0.9 {
				t.Errorf("%g Hz tone in %.1f%% of windows, want >= 90%%", tc.freq, 100*frac)
			}
			step := maxStep(played)
			if float64(step) > float64(natural)*(1+tc.slack) {
				t.Errorf("largest sample step %d, tone's own is %d: click", step, natural)
			}
			s := jb.Stats()
			if s.Received != uint64(len(arr)) {
				t.Errorf("received %d, sent %d", s.Received, len(arr))
			}
			if acc := s.Played + s.Late + s.Duplicates + s.Dropped; acc != s.Received {
				t.Errorf("played+late+duplicates+dropped = %d, received %d", acc, s.Received)
			}
			// Every lost packet is concealed; so is every late one, and an
			// underrun may conceal a frame more.
			if s.Concealed < uint64(nLost) {
				t.Errorf("concealed %d < lost %d", s.Concealed, nLost)
			}
			if lossPct := 100 * float64(nLost) / frames; lossPct < 4 || lossPct > 6 {
				t.Errorf("simulated loss %.1f%%", lossPct)
			}
			if !tc.wantLate && s.Concealed > uint64(nLost+concealFrames+frames/100) {
				t.Errorf("concealed %d frames for %d lost packets", s.Concealed, nLost)
			}
			if tc.wantLate && s.Late == 0 {
				t.Error("no late packet counted")
			}
			if tc.cfg.Adaptive && tc.wantLate && s.Depth <= 40*time.Millisecond {
				t.Errorf("adaptive depth %v did not grow", s.Depth)
			}
			t.Logf("lost %d (%.1f%%), concealed %d (%.1f%%), late %d, dropped %d, reordered %d, silent frames %d, tone %.1f%%, max step %d (tone %d), depth %v",
				nLost, 100*float64(nLost)/frames, s.Concealed, 100*float64(s.Concealed)/frames, s.Late, s.Dropped, s.Reordered,
				silent, 100*frac, step, natural, s.Depth)
		})
	}
}

func TestJitterBufferStreamStopAndResume(t *testing.T) {
	for _, adaptive := range []bool{false, true} {
		jb := NewJitterBuffer(JitterConfig{Adaptive: adaptive})
		pcm, _ := decodedTone(200*g711Frame, 1000, 0.5)
		arr, _ := network{seq0: 10, ts0: 0}.transmit(pcm)
		// The sender pauses (silence suppression) for 1 s after 100
		// packets: sequence numbers continue, timestamps jump.
		for i := 100; i < len(arr); i++ {
			arr[i].at += time.Second
			arr[i].ts += 8000
		}
		out, st := playout(jb, arr, 300, 5*time.Millisecond)
		// 100 played, 3 concealed, empty until resumed and primed.
		i := slices.Index(st, FrameNormal) + 100
		if !slices.Equal(st[i:i+4], []FrameStatus{FrameConcealed, FrameConcealed, FrameConcealed, FrameEmpty}) {
			t.Fatalf("statuses at the pause: %v", st[i:i+4])
		}
		checkContinuity(t, out, st)
		s := jb.Stats()
		if s.Played != 200 || s.Late+s.Dropped != 0 {
			t.Errorf("adaptive %v: stats %+v", adaptive, s)
		}
		if s.Depth != 60*time.Millisecond {
			t.Errorf("adaptive %v: a pause changed the depth to %v", adaptive, s.Depth)
		}
	}
}

func TestJitterBufferSequenceJumpAndReset(t *testing.T) {
	jb := NewJitterBuffer(JitterConfig{})
	pcm, _ := decodedTone(200*g711Frame, 1000, 0.5)
	arr, _ := network{seq0: 10, ts0: 0}.transmit(pcm)
	// From packet 100 on, a new source: far sequence numbers and
	// timestamps, same timing.
	for i := 100; i < len(arr); i++ {
		arr[i].seq += 30000
		arr[i].ts += 1 << 30
	}
	// A stray packet far away, not continued, is dropped.
	arr = slices.Insert(arr, 50, arrival{at: arr[50].at, seq: 50000, ts: 7, payload: arr[50].payload})
	out, st := playout(jb, arr, 220, 5*time.Millisecond)
	checkContinuity(t, out, st)
	s := jb.Stats()
	// The first packet after the jump is kept aside until the second
	// confirms the jump, so both play: one frame concealed at most.
	if s.Played != 200 || s.Dropped != 1 || s.Concealed > 3+1 {
		t.Errorf("stats %+v", s)
	}
	first := slices.Index(st, FrameNormal)
	for i, v := range st[first : first+200] {
		if v == FrameEmpty {
			t.Errorf("frame %d empty across the jump", i)
		}
	}

	// Reset drops what is buffered and primes again.
	jb.Push(7, 0, []byte{1})
	jb.Push(8, 160, []byte{2})
	jb.Reset()
	if p, st := jb.Pop(nil); st != FrameEmpty || len(p) != 0 {
		t.Errorf("after Reset: %v %v", p, st)
	}
	jb.Push(20000, 99, []byte{3})
	got := popAll(t, jb, nil, 1)
	if !bytes.Equal(got[0], []byte{3}) {
		t.Errorf("after Reset played %v", got[0])
	}
	if s2 := jb.Stats(); s2.Dropped != s.Dropped+2 {
		t.Errorf("Reset dropped %d, want 2", s2.Dropped-s.Dropped)
	}
}

func TestJitterBufferAdaptiveGrowsAndShrinks(t *testing.T) {
	const frames = 6000 // two minutes
	pcm, _ := decodedTone(frames*g711Frame, 1000, 0.5)
	// 20 s of 0–120 ms jitter, then a clean network.
	rough, _ := network{maxDelay: 120 * time.Millisecond, seed: 9}.transmit(pcm[:1000*g711Frame])
	clean, _ := network{}.transmit(pcm)
	arr := append(rough, clean[1000:]...)
	jb := NewJitterBuffer(JitterConfig{Depth: 40 * time.Millisecond, Adaptive: true, MaxDepth: 300 * time.Millisecond})
	var peak time.Duration
	frame := make([]int16, 0, g711Frame)
	next := 0
	for j := range frames + 20 {
		now := time.Duration(j)*frameDur + 13*time.Millisecond
		for ; next < len(arr) && arr[next].at <= now; next++ {
			jb.Push(arr[next].seq, arr[next].ts, arr[next].payload)
		}
		frame, _ = jb.PopPCM(frame, codec.PCMU())
		peak = max(peak, jb.Stats().Depth)
		if j == 1000 {
			late := jb.Stats().Late
			t.Logf("after 20 s of 0–120 ms jitter: depth %v, late %d", jb.Stats().Depth, late)
		}
	}
	s := jb.Stats()
	t.Logf("peak depth %v, final depth %v, stats %+v", peak, s.Depth, s)
	if peak < 100*time.Millisecond {
		t.Errorf("depth peaked at %v under 120 ms jitter", peak)
	}
	if s.Depth > 40*time.Millisecond {
		t.Errorf("depth %v after 100 s of clean network, want back at or below 40ms", s.Depth)
	}
}

func TestJitterBufferConcurrentPushAndPop(t *testing.T) {
	// Push on one goroutine, PopPCM and Stats on another, as the RTP
	// reader and a mixer do; run with -race. Timing is left to the
	// scheduler, so only the accounting is checked.
	jb := NewJitterBuffer(JitterConfig{Adaptive: true})
	payload := codec.PCMU().Encode(nil, dsp.Sine(8000, 1000, 20*time.Millisecond, 0.5))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			jb.Push(uint16(i), uint32(i*g711Frame), payload)
			if i%500 == 0 {
				jb.Reset()
			}
		}
	}()
	pcm := make([]int16, 0, g711Frame)
	for range 2000 {
		pcm, _ = jb.PopPCM(pcm, codec.PCMU())
		if len(pcm) != g711Frame {
			t.Fatalf("PopPCM returned %d samples", len(pcm))
		}
		_ = jb.Stats()
	}
	<-done
	for range 300 {
		pcm, _ = jb.PopPCM(pcm, codec.PCMU())
	}
	s := jb.Stats()
	if s.Received != 2000 || s.Played+s.Late+s.Duplicates+s.Dropped != s.Received {
		t.Errorf("stats %+v", s)
	}
}

func TestConcealerFadesAndResumesWithoutClick(t *testing.T) {
	// 440 Hz has a period of 18.18 samples, which does not divide a
	// frame, so repeating a whole frame would click.
	_, ref := decodedTone(40*g711Frame, 440, 0.5)
	natural := maxStep(ref)
	for _, gap := range []int{1, 2, 3, 6} {
		c := NewConcealer(8000)
		var out []int16
		for i := range 40 {
			frame := slices.Clone(ref[i*g711Frame : (i+1)*g711Frame])
			if i >= 10 && i < 10+gap {
				out = c.Conceal(out, g711Frame)
				continue
			}
			c.Good(frame)
			out = append(out, frame...)
		}
		level := func(i int) float64 { return dsp.RMS(out[i*g711Frame : (i+1)*g711Frame]) }
		full := level(5)
		if l := level(10); l < 0.95*full {
			t.Errorf("gap %d: first concealed frame at %.2f of full level", gap, l/full)
		}
		if gap >= 2 && level(11) >= level(10) {
			t.Errorf("gap %d: second concealed frame does not fade", gap)
		}
		if gap >= 4 && !allZero(out[13*g711Frame:(10+gap)*g711Frame]) {
			t.Errorf("gap %d: not silent after three concealed frames", gap)
		}
		if !dsp.HasTone(out[10*g711Frame:11*g711Frame], 8000, 440) {
			t.Errorf("gap %d: concealed frame lacks the 440 Hz tone", gap)
		}
		if step := maxStep(out); step > natural+natural/10 {
			t.Errorf("gap %d: largest step %d, tone's own %d", gap, step, natural)
		}
	}
}

func TestConcealerSpliceAndSilence(t *testing.T) {
	_, ref := decodedTone(20*g711Frame, 440, 0.5)
	natural := maxStep(ref)
	c := NewConcealer(8000)
	// Nothing seen yet: concealment is silence.
	if out := c.Conceal(nil, g711Frame); !allZero(out) || len(out) != g711Frame {
		t.Error("concealment before any audio is not one frame of silence")
	}
	var out []int16
	for i := range 20 {
		if i == 8 || i == 9 {
			continue // dropped to reduce the delay
		}
		frame := slices.Clone(ref[i*g711Frame : (i+1)*g711Frame])
		if i == 10 {
			c.Splice(frame)
		} else {
			c.Good(frame)
		}
		out = append(out, frame...)
	}
	if step := maxStep(out); step > natural+natural/10 {
		t.Errorf("splice: largest step %d, tone's own %d", step, natural)
	}
	if !slices.Equal(out[:g711Frame][40:], ref[40:g711Frame]) {
		t.Error("first frame not faded in from silence, or changed after the fade")
	}
}

func TestFrameStatusString(t *testing.T) {
	for s, want := range map[FrameStatus]string{FrameEmpty: "empty", FrameNormal: "normal", FrameConcealed: "concealed", 9: "FrameStatus(9)"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", s, got, want)
		}
	}
}

func FuzzJitterBuffer(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0, 1, 2, 1, 0, 3, 0xff, 0xff, 2, 2})
	f.Add([]byte{1, 0x80, 0, 5, 1, 0x80, 1, 5, 2, 0, 1, 0x10, 0, 9})
	f.Add(bytes.Repeat([]byte{0, 1, 0, 160, 2}, 30))
	f.Fuzz(func(t *testing.T, data []byte) {
		adaptive := len(data) > 0 && data[0]&1 == 1
		jb := NewJitterBuffer(JitterConfig{Adaptive: adaptive, Depth: 40 * time.Millisecond, MaxDepth: 100 * time.Millisecond})
		var seq uint16
		var ts uint32
		var pcm []int16
		var payload []byte
		for len(data) >= 2 {
			op, arg := data[0], data[1]
			data = data[2:]
			switch op % 5 {
			case 0: // next packet, possibly reordered or repeated
				seq += uint16(int8(arg) % 4)
				ts += uint32(int8(arg)%4) * 160
				jb.Push(seq, ts, bytes.Repeat([]byte{arg}, int(arg)%200))
			case 1: // jump
				seq += uint16(arg) << 8
				ts += uint32(arg) << 16
				jb.Push(seq, ts, []byte{arg})
			case 2:
				var st FrameStatus
				pcm, st = jb.PopPCM(pcm, codec.PCMA())
				if len(pcm) != g711Frame {
					t.Fatalf("PopPCM returned %d samples (%v)", len(pcm), st)
				}
				if st > FrameConcealed {
					t.Fatalf("status %v", st)
				}
			case 3:
				var st FrameStatus
				payload, st = jb.Pop(payload)
				if st != FrameNormal && len(payload) != 0 {
					t.Fatalf("%v frame with payload %v", st, payload)
				}
			case 4:
				if arg == 0 {
					jb.Reset()
				}
			}
			jb.mu.Lock()
			s, stored, cand := jb.stats, jb.stored, jb.cand.valid
			inRing := 0
			for _, sl := range jb.ring {
				if sl.full {
					inRing++
				}
			}
			target := jb.target
			jb.mu.Unlock()
			if stored != inRing {
				t.Fatalf("stored %d, ring holds %d", stored, inRing)
			}
			c := uint64(0)
			if cand {
				c = 1
			}
			if acc := s.Played + s.Late + s.Duplicates + s.Dropped + uint64(stored) + c; acc != s.Received {
				t.Fatalf("accounted %d of %d received packets: %+v stored %d", acc, s.Received, s, stored)
			}
			if target < jb.minT || target > jb.maxT {
				t.Fatalf("target %d outside [%d, %d]", target, jb.minT, jb.maxT)
			}
		}
	})
}

func BenchmarkJitterBufferPushPop(b *testing.B) {
	jb := NewJitterBuffer(JitterConfig{})
	payload := make([]byte, g711Frame)
	dst := make([]byte, 0, g711Frame)
	var seq uint16
	var ts uint32
	for range 5 { // prime
		jb.Push(seq, ts, payload)
		seq, ts = seq+1, ts+160
		dst, _ = jb.Pop(dst)
	}
	b.ReportAllocs()
	for b.Loop() {
		jb.Push(seq, ts, payload)
		seq, ts = seq+1, ts+160
		dst, _ = jb.Pop(dst)
	}
}

func BenchmarkJitterBufferPopPCM(b *testing.B) {
	jb := NewJitterBuffer(JitterConfig{})
	payload := codec.PCMU().Encode(nil, dsp.Sine(8000, 1000, 20*time.Millisecond, 0.5))
	pcm := make([]int16, 0, g711Frame)
	var seq uint16
	var ts uint32
	b.ReportAllocs()
	for b.Loop() {
		// Every 20th packet is lost, so concealment and resumption are
		// part of the measured path.
		if seq%20 != 7 {
			jb.Push(seq, ts, payload)
		}
		seq, ts = seq+1, ts+160
		pcm, _ = jb.PopPCM(pcm, codec.PCMU())
	}
}
