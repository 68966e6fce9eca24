package b2b_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestSIPpThroughBridge1000Calls: SIPp UAC (streaming G.711) → the
// back-to-back app → SIPp UAS echoing RTP: 1,000 calls at 100 calls/s with
// zero failures, and media relayed both ways.
func TestSIPpThroughBridge1000Calls(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 1,000 calls")
	}
	uasPort := peers.FreeSIPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	uas := peers.StartSIPp(t, ctx, "-sn", "uas", "-rtp_echo", "-p", fmt.Sprint(uasPort), "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1))
	if err := peers.WaitUDPListening(ctx, uasPort); err != nil {
		t.Fatal(err)
	}
	srv := sbt.NewServer(t)
	var mu sync.Mutex
	var fwd12, fwd21 uint64
	var failed int
	ep := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bridge@127.0.0.1", RTPTimeout: -1}, nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: fmt.Sprintf("sip:echo@127.0.0.1:%d", uasPort)}, b2b.Options{})
		if err == nil {
			err = b.Establish(ctx)
		}
		if err != nil {
			mu.Lock()
			failed++
			mu.Unlock()
			return
		}
		<-b.Done()
		if r := b.LastRelayStats(); r != nil {
			mu.Lock()
			fwd12 += r.AtoB.Forwarded + r.AtoB.Transcoded
			fwd21 += r.BtoA.Forwarded + r.BtoA.Transcoded
			mu.Unlock()
		}
	}))
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.ulaw")
	if err := os.WriteFile(tone, codec.PCMU().Encode(nil, dsp.Sine(8000, 440, 5*time.Second, 0.2)), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := os.ReadFile("../bench/uac_media.xml")
	if err != nil {
		t.Fatal(err)
	}
	scenario := peers.WriteScenario(t, strings.Replace(string(sc), `rtp_stream="tone.ulaw`, `rtp_stream="`+tone, 1))
	res := peers.RunSIPp(t, ctx, "-sf", scenario, "-s", "bridge", "-m", "1000", "-r", "100", "-l", "300", "-d", "500",
		"-buff_size", "4194304", "-p", fmt.Sprint(peers.FreeSIPPort(t)), "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1),
		fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("uac: %d ok, %d failed; bridge failures %d; relayed caller→callee %d packets, callee→caller %d", res.Successful, res.Failed, failed, fwd12, fwd21)
	if res.ExitCode != 0 || res.Successful != 1000 || failed != 0 {
		t.Fatalf("sipp exit %d, %d successful, %d failed, bridge failures %d\n%s", res.ExitCode, res.Successful, res.Failed, failed, res.ErrorLog)
	}
	if fwd12 < 1000*10 || fwd21 < 1000*5 {
		t.Fatalf("media round trip not seen: %d packets to the UAS, %d echoed back", fwd12, fwd21)
	}
	_ = uas
}
