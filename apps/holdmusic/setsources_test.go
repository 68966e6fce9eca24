package holdmusic

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func closed(p *audio.Player) bool { return errors.Is(p.Start(), audio.ErrPlayerClosed) }

// TestSetSources: replacing the sources keeps the player of an unchanged
// source, gives a changed or new source a new player, keeps a replaced
// player playing to the listener it has (and closes it once that
// listener has left), closes a removed player nobody listens to at once,
// and changes nothing when the new sources do not open.
func TestSetSources(t *testing.T) {
	sbt.CheckGoroutines(t)
	dir := t.TempDir()
	f600, f700, f800 := filepath.Join(dir, "600.wav"), filepath.Join(dir, "700.wav"), filepath.Join(dir, "800.wav")
	writeTone(t, f600, 8000, 1, 600, time.Second)
	writeTone(t, f700, 8000, 1, 700, time.Second)
	writeTone(t, f800, 8000, 1, 800, time.Second)
	srv, svc := newService(t, Config{Sources: map[string]SourceConfig{"a": {File: f600}, "b": {File: f800}}})
	call := sbt.NewPhone(t, "alice").Dial(t, srv.URI("moh-a"))
	pa, _ := svc.Player("a")
	pb, _ := svc.Player("b")
	pdef, _ := svc.Player("")
	waitFor(t, "attached", func() bool { return pa.Stats().Sessions == 1 })

	opened, err := svc.SetSources(Config{Sources: map[string]SourceConfig{"a": {File: f700}, "c": {File: f800}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(opened, []string{"a", "c"}) || !slices.Equal(svc.Names(), []string{"a", "c", "default"}) {
		t.Fatalf("opened %v, names %v: want a, c opened; a, c, default", opened, svc.Names())
	}
	if p, _ := svc.Player(""); p != pdef {
		t.Error("the unchanged default source got a new player")
	}
	if p, _ := svc.Player("a"); p == pa {
		t.Error("the changed source a kept its old player")
	}
	if _, ok := svc.Player("b"); ok {
		t.Error("the removed source b is still there")
	}
	if !closed(pb) {
		t.Error("the removed player b, with no listener, is not closed")
	}
	if closed(pa) {
		t.Fatal("the old player of a was closed under its listener")
	}
	call.ResetRecording()
	call.WaitTone(t, 600, 3*time.Second)
	if f := dsp.ToneFraction(call.Listen(t, time.Second), 8000, 600); f < 0.9 {
		t.Errorf("the listener of a hears its 600 Hz in %.0f%% of a second after the change", f*100)
	}
	newA, _ := svc.Player("a")
	if _, err := svc.SetSources(Config{Sources: map[string]SourceConfig{"a": {File: filepath.Join(dir, "missing.wav")}}}); err == nil {
		t.Fatal("SetSources accepted a missing file")
	}
	if p, _ := svc.Player("a"); p != newA || !slices.Equal(svc.Names(), []string{"a", "c", "default"}) {
		t.Error("a failed SetSources changed the sources")
	}

	call.Hangup(t)
	waitFor(t, "detached", func() bool { return pa.Stats().Sessions == 0 })
	if _, err := svc.SetSources(Config{Sources: map[string]SourceConfig{"a": {File: f700}, "c": {File: f800}}}); err != nil {
		t.Fatal(err)
	}
	if !closed(pa) {
		t.Error("the replaced player of a is not closed after its last listener left")
	}
	if p, _ := svc.Player("a"); p != newA {
		t.Error("an unchanged SetSources replaced a's player")
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(newA) || !closed(pdef) {
		t.Error("Close left players open")
	}
	if _, err := svc.SetSources(Config{}); err == nil {
		t.Error("SetSources after Close succeeded")
	}
}

// TestDefaultDecodedOnce: the embedded music is held as one 8 s loop of
// 8 kHz PCM (64,000 samples, the second pass through the resampler), so
// its player decodes no MP3 per frame, and the loop point is continuous:
// the step from its last sample to its first is no larger than the
// largest step inside the loop.
func TestDefaultDecodedOnce(t *testing.T) {
	src, err := openDefault()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pl, ok := src.(*playlist)
	if !ok || len(pl.tracks) != 1 || src.SampleRate() != 8000 || src.Channels() != 1 {
		t.Fatalf("default source %T: want one 8 kHz mono track in memory", src)
	}
	pcm := pl.tracks[0]
	if len(pcm) < 63990 || len(pcm) > 64010 {
		t.Errorf("%d samples, want about 64000 (8 s at 8 kHz)", len(pcm))
	}
	maxStep := 0
	for i := 1; i < len(pcm); i++ {
		maxStep = max(maxStep, abs(int(pcm[i])-int(pcm[i-1])))
	}
	if step := abs(int(pcm[0]) - int(pcm[len(pcm)-1])); step > maxStep {
		t.Errorf("loop point steps by %d, more than any step inside the loop (%d)", step, maxStep)
	}
}
