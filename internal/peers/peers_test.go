package peers_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
)

// TestBaresipCallAudio calls one real baresip from another and checks that
// each side recorded the tone the other one played.
func TestBaresipCallAudio(t *testing.T) {
	t.Parallel()
	a := peers.StartBaresip(t, peers.BaresipOptions{
		User:       "alice",
		AudioFile:  peers.WriteWAV(t, sine(440, 8000, 20), 8000),
		AutoAnswer: true,
	})
	b := peers.StartBaresip(t, peers.BaresipOptions{
		User:      "bob",
		AudioFile: peers.WriteWAV(t, sine(1000, 8000, 20), 8000),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()

	if err := b.Dial(a.URI()); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, ctx, a, "CALL_ESTABLISHED"); ev.PeerURI != b.URI() || ev.Direction != "incoming" {
		t.Errorf("alice's CALL_ESTABLISHED = %+v, want incoming from %s", ev, b.URI())
	}
	if ev := waitEvent(t, ctx, b, "CALL_ESTABLISHED"); ev.PeerURI != a.URI() || ev.Direction != "outgoing" {
		t.Errorf("bob's CALL_ESTABLISHED = %+v, want outgoing to %s", ev, a.URI())
	}
	time.Sleep(2 * time.Second)
	if err := b.Hangup(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, a, "CALL_CLOSED")
	waitEvent(t, ctx, b, "CALL_CLOSED")

	heardByA, rateA := a.RecordingSamples(t)
	heardByB, rateB := b.RecordingSamples(t)
	assertTone(t, "alice's recording", heardByA, rateA, 1000, 440)
	assertTone(t, "bob's recording", heardByB, rateB, 440, 1000)
}

// TestBaresipDTMFAndOptions checks manual answering, DTMF events, codec
// restriction, a 48 kHz source file, and the silent default source.
func TestBaresipDTMFAndOptions(t *testing.T) {
	t.Parallel()
	a := peers.StartBaresip(t, peers.BaresipOptions{User: "alice"})
	b := peers.StartBaresip(t, peers.BaresipOptions{
		User:      "bob",
		AudioFile: peers.WriteWAV(t, sine(1000, 48000, 20), 48000),
		Codecs:    []string{"PCMA"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()

	if err := b.SendDTMF("1"); err == nil {
		t.Error("SendDTMF without a call succeeded")
	}
	if err := b.Dial(a.URI()); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, ctx, a, "CALL_INCOMING"); ev.PeerURI != b.URI() {
		t.Errorf("alice's CALL_INCOMING = %+v, want from %s", ev, b.URI())
	}
	if err := a.Accept(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, a, "CALL_ESTABLISHED")
	waitEvent(t, ctx, b, "CALL_ESTABLISHED")

	const digits = "123#"
	if err := b.SendDTMF(digits); err != nil {
		t.Fatal(err)
	}
	for _, d := range digits {
		if ev := waitEvent(t, ctx, a, "CALL_DTMF_START"); ev.Param != string(d) {
			t.Errorf("CALL_DTMF_START param = %q, want %q", ev.Param, string(d))
		}
		waitEvent(t, ctx, a, "CALL_DTMF_END")
	}
	time.Sleep(500 * time.Millisecond)
	if err := a.Hangup(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, a, "CALL_CLOSED")
	waitEvent(t, ctx, b, "CALL_CLOSED")

	for _, p := range []*peers.Baresip{a, b} {
		if !strings.Contains(p.Log(), "Set audio decoder: PCMA") {
			t.Errorf("%s did not use PCMA; log:\n%s", p.URI(), p.Log())
		}
	}
	heardByA, rateA := a.RecordingSamples(t)
	assertTone(t, "alice's recording", heardByA, rateA, 1000, 440)
	heardByB, rateB := b.RecordingSamples(t)
	if len(heardByB) < rateB/2 {
		t.Errorf("bob's recording has %d samples at %d Hz, want at least half a second", len(heardByB), rateB)
	}
	if r := rms(heardByB); r > 50 {
		t.Errorf("bob's recording has RMS %.0f, want silence", r)
	}
	if got := len(a.Recordings()); got != 1 {
		t.Errorf("alice has %d recordings, want 1", got)
	}
}

// TestSIPpUACAgainstUAS runs SIPp's built-in UAC against its built-in UAS.
func TestSIPpUACAgainstUAS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	var uas *peers.SIPpProcess
	var port int
	for attempt := 1; uas == nil; attempt++ {
		port = peers.FreeUDPPort(t)
		p := peers.StartSIPp(t, ctx, "-sn", "uas", "-p", strconv.Itoa(port))
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
		err := peers.WaitUDPListening(wctx, port)
		wcancel()
		select {
		case <-p.Exited():
			err = errors.New("SIPp exited")
		case <-time.After(100 * time.Millisecond):
		}
		if err == nil {
			uas = p
			break
		}
		res := p.Stop()
		if attempt == 3 {
			t.Fatalf("SIPp UAS did not start on port %d: %v\n%s\n%s", port, err, res.Stdout, res.Stderr)
		}
		t.Logf("SIPp UAS attempt %d on port %d failed (%v); retrying", attempt, port, err)
	}

	res := peers.RunSIPp(t, ctx, "-sn", "uac", "127.0.0.1:"+strconv.Itoa(port), "-m", "10", "-r", "50")
	if res.ExitCode != 0 || res.Successful != 10 || res.Failed != 0 {
		t.Errorf("SIPp UAC: exit %d, %d successful, %d failed; want 0, 10, 0\n%s\n%s\n%s",
			res.ExitCode, res.Successful, res.Failed, res.Stdout, res.Stderr, res.ErrorLog)
	}
	if res.Stats["OutgoingCall(C)"] != "10" {
		t.Errorf("SIPp UAC stats OutgoingCall(C) = %q, want 10", res.Stats["OutgoingCall(C)"])
	}

	ures := uas.Stop()
	if ures.Successful != 10 || ures.Failed != 0 {
		t.Errorf("SIPp UAS: %d successful, %d failed; want 10, 0", ures.Successful, ures.Failed)
	}
	if ures.Stats["IncomingCall(C)"] != "10" {
		t.Errorf("SIPp UAS stats IncomingCall(C) = %q, want 10", ures.Stats["IncomingCall(C)"])
	}
}

// waitEvent waits for the next baresip event of the given type or fails the
// test.
func waitEvent(t testing.TB, ctx context.Context, b *peers.Baresip, typ string) peers.Event {
	t.Helper()
	ev, err := b.WaitEvent(ctx, typ)
	if err != nil {
		t.Fatalf("%s: %v", b.URI(), err)
	}
	return ev
}

// sine returns seconds of a half-scale sine wave at freq Hz.
func sine(freq float64, rate int, seconds float64) []int16 {
	out := make([]int16, int(seconds*float64(rate)))
	for i := range out {
		out[i] = int16(16000 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// goertzel returns the amplitude of the component of samples at freq Hz, in
// the same units as the samples.
func goertzel(samples []int16, rate int, freq float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(len(samples))
}

// rms returns the root mean square of samples.
func rms(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, x := range samples {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum / float64(len(samples)))
}

// assertTone checks that samples hold at least a second of a clear tone at
// want Hz and little at other Hz.
func assertTone(t testing.TB, name string, samples []int16, rate int, want, other float64) {
	t.Helper()
	if len(samples) < rate {
		t.Errorf("%s: %d samples at %d Hz, want at least one second", name, len(samples), rate)
		return
	}
	// A pure tone of amplitude A has RMS A/√2.
	peak := rms(samples) * math.Sqrt2
	got, leak := goertzel(samples, rate, want), goertzel(samples, rate, other)
	t.Logf("%s: %.1f s at %d Hz, peak %.0f, %.0f Hz amplitude %.0f, %.0f Hz amplitude %.0f",
		name, float64(len(samples))/float64(rate), rate, peak, want, got, other, leak)
	if peak < 2000 || got < 0.5*peak || leak > 0.1*got {
		t.Errorf("%s: want a clear %.0f Hz tone; peak %.0f, %.0f Hz amplitude %.0f, %.0f Hz amplitude %.0f",
			name, want, peak, want, got, other, leak)
	}
}
