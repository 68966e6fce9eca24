package b2b_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelayedCalls: CALLS (env B2B_CALLS, default 500) concurrent
// back-to-back calls with G.711 RTP both ways (SIPp UAC and a SIPp UAS that
// streams its own audio). Reports CPU per call (% of one core), packets
// relayed per second and the loss at the relay. Runs once whatever b.N:
// go test -run '^$' -bench RelayedCalls -benchtime 1x ./b2b/
func BenchmarkRelayedCalls(b *testing.B) {
	calls := 500
	if v := os.Getenv("B2B_CALLS"); v != "" {
		fmt.Sscan(v, &calls)
	}
	dir := b.TempDir()
	tone := filepath.Join(dir, "tone.ulaw")
	_ = os.WriteFile(tone, codec.PCMU().Encode(nil, dsp.Sine(8000, 440, 5*time.Second, 0.2)), 0o600)
	load := func(name string) string {
		sc, err := os.ReadFile("../bench/" + name)
		if err != nil {
			b.Fatal(err)
		}
		return peers.WriteScenario(b, strings.Replace(string(sc), `rtp_stream="tone.ulaw`, `rtp_stream="`+tone, 1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	uasPort := peers.FreeSIPPort(b)
	peers.StartSIPp(b, ctx, "-sf", load("uas_media.xml"), "-p", fmt.Sprint(uasPort), "-mp", fmt.Sprint(peers.FreeUDPPort(b)&^1), "-buff_size", "8388608")
	if err := peers.WaitUDPListening(ctx, uasPort); err != nil {
		b.Fatal(err)
	}
	srv := sbt.NewServer(b, platform.Config{RTPPortMin: 30000, RTPPortMax: 39998})
	var mu sync.Mutex
	var active []*b2b.Call
	ep := srv.HandleWith(b, endpoint.Settings{OwnerURI: "sip:bridge@127.0.0.1", RTPTimeout: -1, SessionExpires: -1}, nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		bc, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: fmt.Sprintf("sip:svc@127.0.0.1:%d", uasPort)}, b2b.Options{})
		if err == nil {
			err = bc.Establish(ctx)
		}
		if err != nil {
			return
		}
		mu.Lock()
		active = append(active, bc)
		mu.Unlock()
		<-bc.Done()
	}))
	hold := calls/100 + 40
	uac := peers.StartSIPp(b, ctx, "-sf", load("uac_media.xml"), "-s", "bridge", "-m", fmt.Sprint(calls), "-l", fmt.Sprint(calls),
		"-r", "100", "-d", fmt.Sprint(hold*1000), "-buff_size", "8388608",
		"-p", fmt.Sprint(peers.FreeSIPPort(b)), "-mp", fmt.Sprint(peers.FreeUDPPort(b)&^1), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	for deadline := time.Now().Add(time.Duration(calls/100+20) * time.Second); ; {
		mu.Lock()
		n := len(active)
		mu.Unlock()
		if n >= calls {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d calls up", n, calls)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	sum := func() (in, out, dropped uint64) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range active {
			if r := c.Relay(); r != nil {
				st := r.Stats()
				out += st.AtoB.Forwarded + st.AtoB.Transcoded + st.BtoA.Forwarded + st.BtoA.Transcoded
				dropped += st.AtoB.Dropped + st.BtoA.Dropped
			}
			for _, leg := range []*endpoint.Call{c.Leg1(), c.Leg2()} {
				in += leg.Flow().Stats().PacketsReceived
			}
		}
		return
	}
	in0, out0, drop0 := sum()
	t0, cpu0 := time.Now(), rusageCPU()
	time.Sleep(10 * time.Second)
	in1, out1, drop1 := sum()
	elapsed, cpu := time.Since(t0), rusageCPU()-cpu0
	expected := float64(calls) * 2 * 50 * elapsed.Seconds()
	b.ReportMetric(float64(calls), "calls")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu%")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds()/float64(calls), "cpu%/call")
	b.ReportMetric(float64(out1-out0)/elapsed.Seconds(), "relayed-pkt/s")
	b.ReportMetric(100*(1-float64(in1-in0)/expected), "loss-before-relay%")
	b.ReportMetric(100*(1-float64(out1-out0)/float64(max(in1-in0, 1))), "loss-at-relay%")
	b.ReportMetric(float64(drop1-drop0), "dropped")
	uac.Stop()
}
