package park_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func rssKB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var n int
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "VmRSS:"), "kB")), &n)
			return n
		}
	}
	return 0
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParkedCallsOneDecoder parks PARKED (env, default 1000) SIPp
// calls, all listening to the embedded MP3 through one shared player, and
// reports the decoders running, CPU (% of one core) and RSS per parked
// call. Runs once whatever b.N: go test -run '^$' -bench OneDecoder -benchtime 1x ./apps/park/
func BenchmarkParkedCallsOneDecoder(b *testing.B) {
	n := 1000
	if v := os.Getenv("PARKED"); v != "" {
		fmt.Sscan(v, &n)
	}
	srv := sbt.NewServer(b, platform.Config{RTPPortMin: 30000, RTPPortMax: 39998})
	music, err := holdmusic.New(srv.Platform, holdmusic.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer music.Close()
	svc, err := park.New(srv.Platform, park.Config{Orbits: []park.OrbitRange{{Start: "1000", End: "2999"}}}, park.WithMusic(music, ""))
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	sc, err := os.ReadFile("../../bench/uac_media.xml")
	if err != nil {
		b.Fatal(err)
	}
	// Parked by blind transfer: the INVITE names its parker; the caller
	// sends no RTP of its own (rtp_stream removed) and just listens.
	scenario := strings.NewReplacer("Max-Forwards: 70\nContent-Type", "Max-Forwards: 70\nReferred-By: <sip:parker@127.0.0.1>\nContent-Type",
		`<nop><action><exec rtp_stream="tone.ulaw,-1,0"/></action></nop>`, "",
		`<nop><action><exec rtp_stream="pause"/></action></nop>`, "",
		"From: sipp <sip:sipp@", "From: sipp <sip:sipp[call_number]@").Replace(string(sc))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := rssKB()
	hold := n/100 + 30
	p := peers.StartSIPp(b, ctx, "-sf", peers.WriteScenario(b, scenario), "-s", "park", "-m", fmt.Sprint(n), "-l", fmt.Sprint(n),
		"-r", "200", "-d", fmt.Sprint(hold*1000), "-buff_size", "8388608",
		"-p", fmt.Sprint(peers.FreeSIPPort(b)), "-mp", fmt.Sprint(peers.FreeUDPPort(b)&^1), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	defer p.Stop()
	for deadline := time.Now().Add(time.Duration(n/200+20) * time.Second); len(svc.List()) < n; {
		if time.Now().After(deadline) {
			b.Fatalf("only %d parked", len(svc.List()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	player, _ := music.Player("")
	st0, t0, cpu0 := player.Stats(), time.Now(), cpuNow()
	time.Sleep(10 * time.Second)
	st1, el, cpu := player.Stats(), time.Since(t0), cpuNow()-cpu0
	frames := float64(st1.Frames - st0.Frames)
	b.ReportMetric(float64(len(svc.List())), "parked")
	b.ReportMetric(float64(len(music.Names())), "decoders")
	b.ReportMetric(float64(st1.Encodes-st0.Encodes)/frames, "encodes/frame")
	b.ReportMetric(float64(st1.Packets-st0.Packets)/frames, "packets/frame")
	b.ReportMetric(100*cpu.Seconds()/el.Seconds(), "cpu%")
	b.ReportMetric(float64(rssKB()-base)/float64(n), "KB/parked-call")
}

// BenchmarkParkRetrieveLatency measures, on loopback, the time from
// dialling the desk to the call being parked (API park) and from dialling
// an orbit to talking to the parked party; p50 and p99 over PARKS (200).
func BenchmarkParkRetrieveLatency(b *testing.B) {
	n := 200
	r := newRigB(b)
	callers := sbt.NewPhone(b, "callers")
	retriever := sbt.NewPhone(b, "retriever")
	var parkD, retrD []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		pc := callers.Dial(b, r.srv.URI("desk"))
		e := <-r.desk
		parkD = append(parkD, time.Since(start))
		start = time.Now()
		rc := retriever.Dial(b, r.svc.OrbitURI(e.Orbit))
		retrD = append(retrD, time.Since(start))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = rc.Terminate(ctx)
		<-pc.Done()
		cancel()
	}
	pct := func(d []time.Duration, q float64) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(parkD, 0.5), "park-p50-ms")
	b.ReportMetric(pct(parkD, 0.99), "park-p99-ms")
	b.ReportMetric(pct(retrD, 0.5), "retrieve-p50-ms")
	b.ReportMetric(pct(retrD, 0.99), "retrieve-p99-ms")
}

func newRigB(b *testing.B) *rig {
	r := &rig{srv: sbt.NewServer(b, trustLoopback), desk: make(chan park.Entry, 8), errs: make(chan error, 8)}
	svc, err := park.New(r.srv.Platform, park.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	r.svc = svc
	r.srv.Handle(b, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) != nil {
			return
		}
		e, err := svc.Park(ctx, c, park.ParkOptions{})
		if err == nil {
			r.desk <- e
		}
	}))
	return r
}
