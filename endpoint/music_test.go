package endpoint_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/media/sdp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func mp3Player(t *testing.T, path string) *audio.Player {
	t.Helper()
	src, err := audio.OpenMP3(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := audio.NewPlayer(src, audio.PlayerConfig{Mode: audio.PlayerAutomatic, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// recordMP3AtBaresip plays an MP3 (looping) into a call to baresip for
// 2 s and returns what baresip recorded.
func recordMP3AtBaresip(t *testing.T, path string) ([]int16, int) {
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "ear", AutoAnswer: true})
	srv := sbt.NewServer(t)
	c := srv.Handle(t, "dj", nil).NewConversation().NewCall()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Establish(ctx, b.URI(), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	p := mp3Player(t, path)
	p.Attach(c.Flow())
	time.Sleep(2 * time.Second)
	p.Detach(c.Flow())
	if err := c.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	return b.RecordingSamples(t)
}

// TestMP3ToBaresipWithoutAliasing: a 44.1 kHz stereo MP3 of 1 kHz reaches
// baresip at 1 kHz; the same with 5 kHz (above the 4 kHz Nyquist limit of
// the 8 kHz call) arrives at least 40 dB down.
func TestMP3ToBaresipWithoutAliasing(t *testing.T) {
	rec1, rate := recordMP3AtBaresip(t, "../media/audio/testdata/tone1k_44100_stereo.mp3")
	if f := dsp.ToneFraction(rec1, rate, 1000); f < 0.5 {
		t.Fatalf("1 kHz in %.0f%% of baresip's recording", f*100)
	}
	rec5, _ := recordMP3AtBaresip(t, "../media/audio/testdata/tone5k_44100_stereo.mp3")
	l1 := 20 * math.Log10(dsp.RMS(rec1)+1e-9)
	l5 := 20 * math.Log10(dsp.RMS(rec5)+1e-9)
	t.Logf("1 kHz source: %.1f dBFS RMS; 5 kHz source: %.1f dBFS RMS (3 kHz alias %.1f dB)", l1, l5, dsp.LevelDB(rec5, rate, 3000))
	if l1-l5 < 40 {
		t.Fatalf("5 kHz source only %.1f dB below the 1 kHz one, want >= 40 dB", l1-l5)
	}
}

// TestHoldWithMusicAndRetrieve: the held party hears the music; after
// retrieve, audio flows both ways again. The held party is a test phone:
// baresip 1.0 restarts its recording on every re-INVITE under the same file
// name, which leaves an empty file, so it cannot be the witness here.
func TestHoldWithMusicAndRetrieve(t *testing.T) {
	phone := sbt.NewPhone(t, "held")
	srv := sbt.NewServer(t)
	c := srv.Handle(t, "desk", nil).NewConversation().NewCall()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Establish(ctx, phone.URI(), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	held := phone.NextCall(t)
	held.StartTone(700)
	desk := sbt.WrapCall(c)
	music := mp3Player(t, "../media/audio/testdata/tone1k_44100_stereo.mp3")
	if err := c.HoldWithMusic(ctx, music); err != nil {
		t.Fatal(err)
	}
	if c.HoldType() != endpoint.HoldRemoteWithMusic || held.Negotiated().Direction != sdp.RecvOnly {
		t.Fatalf("hold type %v, held side %v", c.HoldType(), held.Negotiated().Direction)
	}
	held.WaitTone(t, 1000, 5*time.Second)
	if f := dsp.ToneFraction(held.Listen(t, 1500*time.Millisecond), 8000, 1000); f < 0.8 {
		t.Fatalf("held party heard the music in %.0f%% of the hold", f*100)
	}
	if err := c.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	desk.StartTone(1400)
	held.WaitTone(t, 1400, 5*time.Second)
	desk.WaitTone(t, 700, 5*time.Second)
	desk.ResetRecording()
	rec := held.Listen(t, 1500*time.Millisecond)
	if f := dsp.ToneFraction(rec, 8000, 1400); f < 0.8 {
		t.Fatalf("after retrieve the held party heard us in %.0f%%", f*100)
	}
	if f := dsp.ToneFraction(rec, 8000, 1000); f > 0.05 {
		t.Fatalf("music still playing after retrieve (%.0f%%)", f*100)
	}
	if f := dsp.ToneFraction(desk.Recording(), 8000, 700); f < 0.8 {
		t.Fatalf("after retrieve we heard the held party in %.0f%%", f*100)
	}
	desk.Hangup(t)
}
