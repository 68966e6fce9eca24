package recorder_test

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/recorder"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// relayedCall is a call relayed in process: caller ⇄ leg 1 | relay | leg 2
// ⇄ callee, each an RTP session on loopback.
type relayedCall struct {
	caller, leg1, leg2, callee *media.Session
	relay                      *media.Relay
}

func newRelayedCall(b *testing.B, c1, c2 codec.Codec) *relayedCall {
	listen := func(c codec.Codec) *media.Session {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		return media.NewSession(conn, media.SessionConfig{Codec: c})
	}
	rc := &relayedCall{caller: listen(c1), leg1: listen(c1), leg2: listen(c2), callee: listen(c2)}
	rc.caller.SetRemote(rc.leg1.LocalAddr())
	rc.leg1.SetRemote(rc.caller.LocalAddr())
	rc.leg2.SetRemote(rc.callee.LocalAddr())
	rc.callee.SetRemote(rc.leg2.LocalAddr())
	r, err := media.NewRelay(media.NewFlow(rc.leg1), media.NewFlow(rc.leg2), media.RelayOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	rc.relay = r
	return rc
}

func (rc *relayedCall) close() {
	_ = rc.relay.Close()
	for _, s := range []*media.Session{rc.caller, rc.leg1, rc.leg2, rc.callee} {
		_ = s.Close()
	}
}

// BenchmarkRelayedRecordings: CALLS (env REC_CALLS, default 50)
// concurrent relayed calls (PCMU caller leg, PCMA callee leg: the relay
// transcodes) with 20 ms G.711 both ways, first for REC_SECONDS (default
// 3) unrecorded, then as many seconds with a stereo PCM16 recording of
// each (files in a temp dir), in the same run. It reports CPU as a
// fraction of one core per call in both phases (the two in-process
// "phones" of each call are included in both), the recorder's extra CPU
// per call, the ratio, the recorder's allocations per recorded frame
// (the difference of the two phases' allocations over the frames
// recorded) and the bytes written per second. REC_SYNC (default 1s) sets
// the sync interval: compare with REC_SYNC=1h (no fsync or header
// rewrite during the run) for the cost of the crash-safety policy. It
// fails when the recorded calls cost twice the unrecorded ones or more.
// Runs once whatever b.N (bench/recording.sh runs it at 200 calls):
//
//	REC_CALLS=200 go test -run '^$' -bench RelayedRecordings -benchtime 1x ./recorder/
func BenchmarkRelayedRecordings(b *testing.B) {
	calls, secs := 50, 3
	if v, err := strconv.Atoi(os.Getenv("REC_CALLS")); err == nil {
		calls = v
	}
	if v, err := strconv.Atoi(os.Getenv("REC_SECONDS")); err == nil {
		secs = v
	}
	syncEvery := time.Second
	if v, err := time.ParseDuration(os.Getenv("REC_SYNC")); err == nil {
		syncEvery = v
	}
	var rcs []*relayedCall
	for range calls {
		rcs = append(rcs, newRelayedCall(b, codec.PCMU(), codec.PCMA()))
	}
	defer func() {
		for _, rc := range rcs {
			rc.close()
		}
	}()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		a := dsp.NewOscillator(8000, 300, 0.3)
		c := dsp.NewOscillator(8000, 600, 0.3)
		fa, fc := make([]int16, 160), make([]int16, 160)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			a.Read(fa)
			c.Read(fc)
			for _, rc := range rcs {
				_ = rc.caller.WriteFrame(fa)
				_ = rc.callee.WriteFrame(fc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-sent }()

	measure := func() (cpu time.Duration, mallocs uint64, wall time.Duration) {
		var m0, m1 runtime.MemStats
		time.Sleep(500 * time.Millisecond) // settle
		runtime.ReadMemStats(&m0)
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(time.Duration(secs) * time.Second)
		c1, t1 := cpuTime(), time.Now()
		runtime.ReadMemStats(&m1)
		return c1 - c0, m1.Mallocs - m0.Mallocs, t1.Sub(t0)
	}
	b.ResetTimer()
	for b.Loop() {
		cpuPlain, allocPlain, wallPlain := measure()

		dir := b.TempDir()
		var recs []*recorder.Recorder
		for _, rc := range rcs {
			rec, err := recorder.New(recorder.Config{Dir: dir, Layout: recorder.Stereo, SyncInterval: syncEvery})
			if err != nil {
				b.Fatal(err)
			}
			if err := rec.AddFlow(media.NewFlow(rc.leg1), recorder.Heard, recorder.TrackOptions{}); err != nil {
				b.Fatal(err)
			}
			if err := rec.AddFlow(media.NewFlow(rc.leg2), recorder.Heard, recorder.TrackOptions{}); err != nil {
				b.Fatal(err)
			}
			if err := rec.Start(); err != nil {
				b.Fatal(err)
			}
			recs = append(recs, rec)
		}
		cpuRec, allocRec, wallRec := measure()
		var bytes int64
		for _, rec := range recs {
			_ = rec.Stop("")
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				bytes += fi.Size()
			}
		}
		total := time.Duration(0)
		for _, rec := range recs {
			m := rec.Metadata()
			total += time.Duration(m.Duration * float64(time.Second))
		}

		perCall := func(cpu, wall time.Duration) float64 { return float64(cpu) / float64(wall) / float64(calls) }
		plain, rec := perCall(cpuPlain, wallPlain), perCall(cpuRec, wallRec)
		frames := float64(calls) * float64(wallRec/(20*time.Millisecond))
		b.ReportMetric(plain*100, "%core/call-unrecorded")
		b.ReportMetric(rec*100, "%core/call-recorded")
		b.ReportMetric((rec-plain)*100, "%core/call-recorder")
		b.ReportMetric(rec/plain, "recorded/unrecorded")
		b.ReportMetric((float64(allocRec)-float64(allocPlain)*float64(wallRec)/float64(wallPlain))/frames, "allocs/frame")
		b.ReportMetric(float64(bytes)/total.Seconds()*float64(calls), "B/s-written")
		fmt.Fprintf(os.Stderr, "%d calls: unrecorded %.2f%% of a core per call, recorded %.2f%%; %d bytes written for %v of audio\n",
			calls, plain*100, rec*100, bytes, total)
		// The bound: a recorded relayed call must cost less
		// than twice an unrecorded one.
		if ratio := rec / plain; ratio >= 2 {
			b.Fatalf("a recorded relayed call costs %.2f times an unrecorded one (%.2f%% against %.2f%% of a core), want under 2",
				ratio, rec*100, plain*100)
		}
	}
}
