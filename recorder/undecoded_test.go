package recorder_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// waitCounter polls cond, which reads packet counters (they have no
// event), every 20 ms for up to 10 s.
func waitCounter(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSameCodecRelayStaysUndecoded: a b2b call with PCMA on both legs is
// relayed without decoding; attaching a Recorder does not change that:
// the relay's Forwarded counters keep rising both ways while its
// Transcoded counters stay at zero, and each leg decodes its received
// packets once (shared by the recorder and the leg's in-band DTMF
// detector: the test phones offer no telephone-event). The stereo file (Native: the
// wire's A-law) holds each party on its channel.
func TestSameCodecRelayStaysUndecoded(t *testing.T) {
	sbt.CheckGoroutines(t)
	r := newRig(t, rigOptions{callerCodec: "PCMA", calleeCodec: "PCMA"})
	relay := r.b.Relay()
	leg1, leg2 := r.b.Leg1().Flow(), r.b.Leg2().Flow()
	if relay == nil || leg1 == nil || leg2 == nil {
		t.Fatal("bridged call without media")
	}
	r.startTones(300, 600)
	waitCounter(t, "media both ways", func() bool {
		st := relay.Stats()
		return st.AtoB.Forwarded > 25 && st.BtoA.Forwarded > 25
	})
	rs0 := relay.Stats()
	if rs0.AtoB.Transcoded != 0 || rs0.BtoA.Transcoded != 0 {
		t.Fatalf("relay transcoded a same-codec call before recording: %+v", rs0)
	}

	rec, dir := newRecorder(t, recorder.Config{Layout: recorder.Stereo, Encoding: recorder.Native})
	ev := watch(rec)
	if err := rec.AddB2B(r.b); err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	ev.waitState(t, recorder.Recording, 5*time.Second)
	ev.waitVoice(t, 0, true, 5*time.Second)
	ev.waitVoice(t, 1, true, 5*time.Second)
	rs1, s1a, s1b := relay.Stats(), leg1.Stats(), leg2.Stats()
	waitCounter(t, "2 s more relayed while recorded", func() bool {
		st := relay.Stats()
		return st.AtoB.Forwarded >= rs1.AtoB.Forwarded+100 && st.BtoA.Forwarded >= rs1.BtoA.Forwarded+100
	})
	rs2, s2a, s2b := relay.Stats(), leg1.Stats(), leg2.Stats()
	if err := rec.Stop(""); err != nil {
		t.Fatal(err)
	}
	t.Logf("relay before %+v, recording %+v, later %+v", rs0, rs1, rs2)
	for _, st := range []struct {
		name string
		a, b uint64
	}{
		{"A→B forwarded, before and at the start", rs0.AtoB.Forwarded, rs1.AtoB.Forwarded},
		{"B→A forwarded, before and at the start", rs0.BtoA.Forwarded, rs1.BtoA.Forwarded},
		{"A→B forwarded while recorded", rs1.AtoB.Forwarded, rs2.AtoB.Forwarded},
		{"B→A forwarded while recorded", rs1.BtoA.Forwarded, rs2.BtoA.Forwarded},
	} {
		if st.b <= st.a {
			t.Errorf("%s: %d → %d, not rising", st.name, st.a, st.b)
		}
	}
	if rs2.AtoB.Transcoded != 0 || rs2.BtoA.Transcoded != 0 {
		t.Errorf("relay transcoded %d and %d packets of a same-codec call while recorded", rs2.AtoB.Transcoded, rs2.BtoA.Transcoded)
	}
	for _, l := range []struct {
		name   string
		s1, s2 uint64 // decoded
		r1, r2 uint64 // received
	}{
		{"leg 1", s1a.Decoded, s2a.Decoded, s1a.PacketsReceived, s2a.PacketsReceived},
		{"leg 2", s1b.Decoded, s2b.Decoded, s1b.PacketsReceived, s2b.PacketsReceived},
	} {
		// Give or take the packets in flight when the counters were read.
		if dec, recv := l.s2-l.s1, l.r2-l.r1; dec == 0 || dec > recv+4 {
			t.Errorf("%s decoded %d payloads for %d received: not once per packet", l.name, dec, recv)
		}
	}
	md := rec.Metadata()
	if enc := md.Files[0].Encoding; enc != "pcma" {
		t.Errorf("file encoding %q, want pcma (the legs' codec)", enc)
	}
	wav := sbt.ReadRecording(t, filepath.Join(dir, md.Files[0].Name))
	levels(t, "left", wav.Channel(t, 0), 300, 600)
	levels(t, "right", wav.Channel(t, 1), 600, 300)
}
