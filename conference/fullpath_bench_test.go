package conference_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConferenceFullPath: one conference with LEGS (50) SIPp legs
// streaming G.711 RTP into it, plus two test phones that measure the
// mouth-to-ear delay through the mixer. It reports the server process's CPU
// (% of one core), the mixer's missed 20 ms deadlines and its longest
// frame. It runs once whatever b.N is: go test -run '^$' -bench FullPath
// ./conference/
func BenchmarkConferenceFullPath(b *testing.B) {
	legs := 50
	srv := sbt.NewServer(b)
	svc, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	conf, _ := svc.Create("bench", conference.Options{})

	dir := b.TempDir()
	ulaw := codec.PCMU().Encode(nil, dsp.Sine(8000, 300, 10*time.Second, 0.05))
	tone := filepath.Join(dir, "tone.ulaw")
	if err := os.WriteFile(tone, ulaw, 0o600); err != nil {
		b.Fatal(err)
	}
	sc, err := os.ReadFile("../bench/uac_media.xml")
	if err != nil {
		b.Fatal(err)
	}
	// Each leg needs its own URI: a conference roster holds a URI once.
	scenario := peers.WriteScenario(b, strings.NewReplacer(`rtp_stream="tone.ulaw`, `rtp_stream="`+tone,
		"From: sipp <sip:sipp@", "From: sipp <sip:sipp[call_number]@").Replace(string(sc)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := peers.StartSIPp(b, ctx, "-sf", scenario, "-s", "conf-bench", "-m", fmt.Sprint(legs), "-l", fmt.Sprint(legs),
		"-r", "25", "-d", "25000", "-p", fmt.Sprint(peers.FreeSIPPort(b)), "-mp", fmt.Sprint(peers.FreeUDPPort(b)&^1),
		fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	defer p.Stop()
	for deadline := time.Now().Add(20 * time.Second); len(conf.Roster()) < legs; {
		if time.Now().After(deadline) {
			b.Fatalf("only %d SIPp legs joined", len(conf.Roster()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	talker := sbt.NewPhone(b, "talker").Dial(b, conf.URI())
	listener := sbt.NewPhone(b, "listener").Dial(b, conf.URI())
	time.Sleep(time.Second)

	before, beforeCPU, beforeStats := time.Now(), cpuTime(), conf.Mixer().Stats()
	// Mouth-to-ear: the listener timestamps every frame it receives; the
	// talker starts a 1 kHz tone at t0.
	type stamp struct {
		at   time.Time
		tone bool
	}
	stamps := make(chan stamp, 4096)
	listener.Flow().ObserveHeard(audio.SinkFunc(func(pcm []int16) {
		select {
		case stamps <- stamp{time.Now(), dsp.LevelDB(pcm, 8000, 1000) > -30}:
		default:
		}
	}))
	var delays []time.Duration
	for i := 0; i < 5; i++ {
		for len(stamps) > 0 {
			<-stamps
		}
		t0 := time.Now()
		talker.StartTone(1000)
		for s := range stamps {
			if s.tone {
				delays = append(delays, s.at.Sub(t0))
				break
			}
			if s.at.Sub(t0) > time.Second {
				b.Fatal("tone never reached the listener")
			}
		}
		talker.StopTone()
		time.Sleep(400 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	elapsed, cpu, st := time.Since(before), cpuTime()-beforeCPU, conf.Mixer().Stats()
	var sum time.Duration
	for _, d := range delays {
		sum += d
	}
	b.ReportMetric(float64(len(conf.Roster())), "participants")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu%")
	b.ReportMetric(float64(st.Late-beforeStats.Late), "late-frames")
	b.ReportMetric(float64(st.Frames-beforeStats.Frames), "frames")
	b.ReportMetric(float64(st.MaxFrame.Microseconds()), "max-frame-µs")
	b.ReportMetric(float64((sum / time.Duration(len(delays))).Milliseconds()), "mouth-to-ear-ms")
	talker.Hangup(b)
	listener.Hangup(b)
}
