package mix

// This file's benchmark also runs against commits before the 16 kHz mix
// (bench/mixrate.sh copies it there): it uses only what those had.

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// wideLoop replays one second of a 16 kHz tone in 320-sample frames, as a
// G.722 leg's jitter buffer delivers it.
type wideLoop struct {
	pcm []int16
	pos int
}

func (l *wideLoop) ReadFrame(dst []int16) ([]int16, media.FrameStatus) {
	dst = append(dst[:0], l.pcm[l.pos:l.pos+320]...)
	l.pos = (l.pos + 320) % len(l.pcm)
	return dst, media.FrameNormal
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMixerWideband measures one frame (ns/op per 20 ms frame, and
// the CPU time per frame, cpu-ns/frame, which other processes on a shared
// machine disturb less) of N legs of which `wide` are G.722 (16 kHz in
// and out) and the rest PCMU, with `talkers` talking (the first and the
// last leg when 2: one G.722 and one PCMU when wide > 0) and the others
// sending line noise below the talk threshold. wide=0 is an all-G.711
// conference at 8 kHz; any wide leg makes the whole mix 16 kHz, so the
// difference is the cost of the wideband mix: twice the samples summed,
// the PCMU talkers' frames resampled up, the mix resampled down once for
// the PCMU listeners and one G.722 encoder per wideband leg. (Before the
// 16 kHz mix the same legs were mixed at 8 kHz, each G.722 leg resampled
// down on the way in and up on the way out.)
func BenchmarkMixerWideband(b *testing.B) {
	for _, c := range []struct{ n, wide, talkers int }{
		{10, 0, 2}, {10, 0, 10}, {10, 1, 2},
		{100, 0, 2}, {100, 0, 100}, {100, 10, 2},
		{1000, 0, 2}, {1000, 0, 1000}, {1000, 100, 2},
	} {
		b.Run(fmt.Sprintf("N=%d/wide=%d/talkers=%d", c.n, c.wide, c.talkers), func(b *testing.B) {
			m := New(Config{})
			defer m.Close()
			for i := range c.n {
				wide := i < c.wide
				talker := i == 0 || i == c.n-1 || c.talkers == c.n
				amp := 0.0005
				if talker {
					amp = 0.1
				}
				freq := 200 + float64(i*37%3000)
				var in Input
				var out Output
				if wide {
					in = &wideLoop{pcm: dsp.Sine(16000, freq, time.Second, amp)}
					out = mixDiscard{codec.G722()}
				} else {
					in = &mixLoopInput{pcm: dsp.Sine(8000, freq, time.Second, amp)}
					out = mixDiscard{codec.PCMU()}
				}
				mustAdd(b, m, fmt.Sprint(i), in, out, LegOptions{})
			}
			tickN(m, 3)
			before, cpu := m.Stats(), cpuTime()
			b.ReportAllocs()
			for b.Loop() {
				m.Tick()
			}
			cpu = cpuTime() - cpu
			st := m.Stats()
			frames := float64(st.Frames - before.Frames)
			b.ReportMetric(float64(st.Encodes-before.Encodes)/frames, "encodes/frame")
			b.ReportMetric(float64(cpu.Nanoseconds())/frames, "cpu-ns/frame")
		})
	}
}

// BenchmarkMixerClock runs a mixer on its own 20 ms clock for 5 s per
// iteration (run it with -benchtime 1x) with N legs of which `wide` are
// G.722 and two talk, as a conference does: it reports the frames that
// missed their deadline (Stats.Late), the longest frame and the CPU time
// as a percentage of one core.
func BenchmarkMixerClock(b *testing.B) {
	for _, c := range []struct{ n, wide int }{{100, 0}, {100, 10}, {1000, 0}, {1000, 100}} {
		b.Run(fmt.Sprintf("N=%d/wide=%d", c.n, c.wide), func(b *testing.B) {
			for b.Loop() {
				m := New(Config{})
				for i := range c.n {
					amp := 0.0005
					if i == 0 || i == c.n-1 {
						amp = 0.1
					}
					freq := 200 + float64(i*37%3000)
					if i < c.wide {
						mustAdd(b, m, fmt.Sprint(i), &wideLoop{pcm: dsp.Sine(16000, freq, time.Second, amp)}, mixDiscard{codec.G722()}, LegOptions{})
					} else {
						mustAdd(b, m, fmt.Sprint(i), &mixLoopInput{pcm: dsp.Sine(8000, freq, time.Second, amp)}, mixDiscard{codec.PCMU()}, LegOptions{})
					}
				}
				cpu, start := cpuTime(), time.Now()
				if err := m.Start(); err != nil {
					b.Fatal(err)
				}
				time.Sleep(5 * time.Second)
				m.Close()
				cpu, wall := cpuTime()-cpu, time.Since(start)
				st := m.Stats()
				b.ReportMetric(float64(st.Late), "late-frames")
				b.ReportMetric(float64(st.Frames), "frames")
				b.ReportMetric(float64(st.MaxFrame.Microseconds()), "max-frame-µs")
				b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%core")
			}
		})
	}
}
