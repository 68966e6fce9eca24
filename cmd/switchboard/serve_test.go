package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// startServer runs the server on the embedded default config, with its
// listeners moved to ephemeral loopback ports.
func startServer(t testing.TB, edit func(*Config)) (*Server, int) {
	t.Helper()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Platform.UDP, cfg.Platform.TCP = nil, nil
	cfg.Platform.RTPPortMin, cfg.Platform.RTPPortMax = 0, 0
	cfg.Apps.Recording.Dir = t.TempDir()
	cfg.Apps.IVR.MessageDir = t.TempDir()
	if edit != nil {
		edit(&cfg)
	}
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(cfg, sbt.Logger(t), platform.WithUDPConn(uc), platform.WithTCPListener(tl))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Platform.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Platform.Close() })
	return s, uc.LocalAddr().(*net.UDPAddr).Port
}

func sine(freq float64, d time.Duration) []int16 {
	return dsp.Sine(8000, freq, d, 0.3)
}

func TestBaresipEcho(t *testing.T) {
	_, port := startServer(t, nil)
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "caller", AudioFile: peers.WriteWAV(t, sine(440, 30*time.Second), 8000)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Dial(fmt.Sprintf("sip:echo@127.0.0.1:%d", port)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := b.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	rec, rate := b.RecordingSamples(t)
	if f := dsp.ToneFraction(rec, rate, 440); f < 0.5 {
		t.Fatalf("baresip heard 440 Hz back in %.0f%% of %d samples, want >= 50%%", f*100, len(rec))
	}
}

func TestBaresipHello(t *testing.T) {
	_, port := startServer(t, nil)
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "caller"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Dial(fmt.Sprintf("sip:hello@127.0.0.1:%d", port)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	// The server hangs up when the announcement ends.
	ev, err := b.WaitEvent(ctx, "CALL_CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	rec, rate := b.RecordingSamples(t)
	// The announcement is a 250 ms 1 kHz chime, then about 3 s of speech.
	if f := dsp.ToneFraction(rec, rate, 1000); f*float64(len(rec))/float64(rate) < 0.15 {
		t.Fatalf("chime heard for %.2fs, want >= 0.15s (closed: %s)", f*float64(len(rec))/float64(rate), ev.Param)
	}
	voiced := 0
	win := rate / 50
	for i := 0; i+win <= len(rec); i += win {
		if dsp.RMS(rec[i:i+win]) > 0.01 { // about -40 dBFS
			voiced++
		}
	}
	if secs := float64(voiced) / 50; secs < 1.5 {
		t.Fatalf("only %.2fs of audible audio in the recording, want the ~3s announcement", secs)
	}
}

func TestSIPpEchoCalls(t *testing.T) {
	_, port := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sn", "uac", "-s", "echo", "-m", "200", "-r", "50",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", port))
	if res.ExitCode != 0 || res.Successful != 200 {
		t.Fatalf("sipp: exit %d, %d successful, %d failed\n%s", res.ExitCode, res.Successful, res.Failed, res.ErrorLog)
	}
}

// TestAdHocConferenceInDialPlan: two phones dialling sip:conf-x@ meet in
// an ad hoc conference and hear each other.
func TestAdHocConferenceInDialPlan(t *testing.T) {
	s, port := startServer(t, nil)
	uri := fmt.Sprintf("sip:conf-x@127.0.0.1:%d", port)
	a := sbt.NewPhone(t, "ann").Dial(t, uri)
	b := sbt.NewPhone(t, "bob").Dial(t, uri)
	a.StartTone(600)
	b.WaitTone(t, 600, 5*time.Second)
	if f := dsp.ToneFraction(b.Listen(t, time.Second), 8000, 600); f < 0.7 {
		t.Fatalf("bob hears ann in %.0f%% of the conference", f*100)
	}
	if c, ok := s.Conferences.Conference("x"); !ok || len(c.Roster()) != 2 {
		t.Fatalf("conference x: %v", ok)
	}
	a.Hangup(t)
	b.Hangup(t)
}

// TestMusicAndParkInDialPlan: sip:moh@ plays the embedded music, and a
// phone blind-transferred to sip:park@ is parked (with the parker taken
// from Referred-By) and hears the music.
func TestMusicAndParkInDialPlan(t *testing.T) {
	s, port := startServer(t, nil)
	listener := sbt.NewPhone(t, "listener").Dial(t, fmt.Sprintf("sip:moh@127.0.0.1:%d", port))
	listener.WaitTone(t, holdmusic.DefaultMarkerHz, 5*time.Second)
	if f := dsp.ToneFraction(listener.Listen(t, time.Second), 8000, holdmusic.DefaultMarkerHz); f < 0.6 {
		t.Fatalf("moh: marker tone in %.0f%%", f*100)
	}
	listener.Hangup(t)

	parker := sbt.NewPhone(t, "parker")
	parkee := sbt.NewPhone(t, "parkee")
	pc := parker.Dial(t, parkee.URI())
	parkee.NextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pc.Transfer(ctx, fmt.Sprintf("sip:park@127.0.0.1:%d", port), endpoint.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	parked := parkee.NextCall(t) // the call the transfer made, to the park service
	var l []park.Entry
	for deadline := time.Now().Add(5 * time.Second); len(l) == 0; l = s.Park.List() {
		if time.Now().After(deadline) {
			t.Fatal("not parked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l[0].Orbit != "7000" || !strings.Contains(l[0].Parker, "parker@") {
		t.Fatalf("park entry %+v", l[0])
	}
	parked.WaitTone(t, holdmusic.DefaultMarkerHz, 5*time.Second)
	if f := dsp.ToneFraction(parked.Listen(t, time.Second), 8000, holdmusic.DefaultMarkerHz); f < 0.6 {
		t.Fatalf("parked party hears the music in %.0f%%", f*100)
	}
	parked.Hangup(t)
}

// TestPartialStartClosesEverything checks that when an app fails to start
// (here the conference service, last in the dial plan, whose prefix
// collides with park's), newServer closes the platform and every app
// started before it: the hold-music players and park stop their
// goroutines and the SIP sockets close.
func TestPartialStartClosesEverything(t *testing.T) {
	sbt.CheckGoroutines(t)
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Platform.UDP, cfg.Platform.TCP = nil, nil
	cfg.Platform.RTPPortMin, cfg.Platform.RTPPortMax = 0, 0
	cfg.Apps.Conference.Prefix = "park-"
	cfg.Apps.Recording.Dir = t.TempDir()
	cfg.Apps.IVR.MessageDir = t.TempDir()
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	s, err := newServer(cfg, sbt.Logger(t), platform.WithUDPConn(uc))
	if err == nil {
		s.Platform.Close()
		t.Fatal("newServer succeeded with colliding routes")
	}
	if !strings.Contains(err.Error(), "conference") {
		t.Errorf("error %q does not name the app that failed", err)
	}
	if _, werr := uc.WriteTo([]byte("x"), uc.LocalAddr()); werr == nil {
		t.Error("the SIP socket is still open after a failed start")
	}
}
