package b2b_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSRTPOverTLSToPlainPhone is issue 15's acceptance call: baresip
// calls over SIP/TLS with its srtp module in mandatory mode (RTP/SAVP,
// a=crypto) into a bridge whose endpoint requires SRTP, and the bridge
// calls a plain RTP test-kit phone: baresip's 500 Hz reaches the phone
// and the phone's 900 Hz reaches baresip, through a relay between an
// SRTP and an RTP leg. tcpdump on baresip's RTP port captures the
// SRTP leg: decoded as PCMU, neither stream carries its tone. The same
// call with SRTP off ("plain") shows both tones in the capture, so the
// check would fail if encryption stopped. The platform's debug log never
// contains either SRTP key.
func TestSRTPOverTLSToPlainPhone(t *testing.T) {
	peers.RequireBaresip(t)
	for _, tc := range []struct {
		name string
		srtp bool
	}{{"srtp", true}, {"plain", false}} {
		t.Run(tc.name, func(t *testing.T) {
			sbt.CheckGoroutines(t)
			logs := &logBuffer{}
			srv := sbt.NewTLSServer(t, sbt.TLSOptions{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			callee := sbt.NewPhone(t, "plain-"+tc.name)
			mode, params := "off", ""
			if tc.srtp {
				mode, params = "required", ";mediaenc=srtp-mand"
			}
			calls, errs := make(chan *b2b.Call, 1), make(chan error, 1)
			out := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:out@127.0.0.1"}, nil)
			srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:secure@127.0.0.1", SRTP: mode}, bridgeTo(out, callee.URI(), calls, errs))
			wav := filepath.Join(t.TempDir(), "500.wav")
			if out, err := exec.Command("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", wav, "synth", "60", "sine", "500", "vol", "0.3").CombinedOutput(); err != nil {
				t.Fatalf("sox: %v: %s (install sox)", err, out)
			}
			caller := peers.StartBaresip(t, peers.BaresipOptions{User: "sec" + tc.name, Codecs: []string{"PCMU"}, AudioFile: wav,
				ExtraConfig: "module\tsrtp.so", AccountParams: params})
			if err := caller.Dial(srv.TLSURI("secure")); err != nil {
				t.Fatal(err)
			}
			var b *b2b.Call
			select {
			case b = <-calls:
			case err := <-errs:
				t.Fatalf("b2b: %v\n%s", err, caller.Log())
			case <-time.After(15 * time.Second):
				t.Fatalf("no back-to-back call\n%s", caller.Log())
			}
			if tr := b.Leg1().Request().Transport(); tr != "TLS" {
				t.Fatalf("baresip's INVITE came over %s, want TLS", tr)
			}
			n1 := b.Leg1().Negotiated()
			if (n1.Crypto != nil) != tc.srtp || b.Leg2().Negotiated().Crypto != nil {
				t.Fatalf("leg 1 crypto %v, leg 2 crypto %v, want SRTP on leg 1: %v", n1.Crypto, b.Leg2().Negotiated().Crypto, tc.srtp)
			}
			capture := peers.StartCapture(t, fmt.Sprintf("udp port %d", n1.Remote.Port()))

			pc := callee.NextCall(t)
			pc.StartTone(900)
			pc.WaitTone(t, 500, 5*time.Second)
			if f := dsp.ToneFraction(pc.Listen(t, time.Second), 8000, 500); f < 0.9 {
				t.Errorf("plain phone hears baresip's 500 Hz in %.0f%%", f*100)
			}
			streams := map[uint32][]int16{}
			for _, d := range capture.Stop(t) {
				var p rtp.Packet
				if p.Unmarshal(d) == nil && p.Version == 2 && p.PayloadType == 0 {
					streams[p.SSRC] = codec.PCMU().Decode(streams[p.SSRC], p.Payload)
				}
			}
			heard := map[float64]bool{}
			for ssrc, pcm := range streams {
				if len(pcm) < 8000/2 {
					t.Errorf("stream %08x: %d samples captured", ssrc, len(pcm))
				}
				for _, f := range []float64{500, 900} {
					if dsp.ToneFraction(pcm, 8000, f) > 0.2 {
						heard[f] = true
					}
				}
			}
			if len(streams) != 2 {
				t.Errorf("captured %d RTP streams on baresip's port, want 2", len(streams))
			}
			if tc.srtp && len(heard) > 0 {
				t.Errorf("SRTP leg: tones %v audible in the captured payloads", heard)
			}
			if !tc.srtp && (!heard[500] || !heard[900]) {
				t.Errorf("plain leg: capture shows tones %v, want 500 and 900 Hz (the check is blind)", heard)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pc.StopTone()
			if err := caller.Hangup(); err != nil {
				t.Fatal(err)
			}
			if _, err := caller.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
				t.Fatal(err)
			}
			rec, rate := caller.RecordingSamples(t)
			if f := dsp.ToneFraction(rec, rate, 900); f < 0.4 {
				t.Errorf("baresip hears the phone's 900 Hz in %.0f%%", f*100)
			}
			pc.WaitTerminated(t, 5*time.Second)
			if tc.srtp {
				l := logs.String()
				if !strings.Contains(l, "call_id") {
					t.Fatalf("no call logged at debug level: the key check is blind\n%s", l)
				}
				for _, k := range [][]byte{n1.Crypto.Local, n1.Crypto.Remote} {
					if s := base64.StdEncoding.EncodeToString(k); strings.Contains(l, s) || strings.Contains(l, s[:20]) {
						t.Fatal("an SRTP key is in the platform's log")
					}
				}
			}
		})
	}
}
