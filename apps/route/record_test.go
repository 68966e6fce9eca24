package route

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// uacStreaming calls 91234 and streams caller.ulaw (raw µ-law) for the
// call length given by -d, then hangs up.
const uacStreaming = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac streaming">
  <send retrans="500"><![CDATA[
INVITE sip:91234@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: "Alice" <sip:alice@[local_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:91234@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:alice@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: "Alice" <sip:alice@[local_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <nop><action><exec rtp_stream="CALLER,-1,0"/></action></nop>
  <pause/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: "Alice" <sip:alice@[local_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>`

// uasStreaming answers one INVITE with PCMU and streams callee.ulaw until
// the BYE.
const uasStreaming = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas streaming">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:1234@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
  <nop><action><exec rtp_stream="CALLEE,-1,0"/></action></nop>
  <recv request="BYE"/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
` + peers.ReplyOK + `</scenario>`

// writeTone writes 10 s of a µ-law sine at freq (SIPp's rtp_stream
// reads raw µ-law) and returns its path.
func writeTone(t testing.TB, freq float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("%.0f.ulaw", freq))
	if err := os.WriteFile(path, codec.PCMU().Encode(nil, dsp.Sine(8000, freq, 10*time.Second, 0.3)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// recordRoutedCall runs one SIPp call (the caller streams 440 Hz, the
// target 1000 Hz, 3 s) through a route with record: word and returns the
// finished recording, its sidecar and the WAV file's path.
func recordRoutedCall(t *testing.T, word string) (*sbt.Recording, *sbt.RecordingInfo, string) {
	t.Helper()
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	dir := t.TempDir()
	pbx := peers.FreeSIPPort(t)
	var rule Record
	if err := rule.UnmarshalText([]byte(word)); err != nil {
		t.Fatal(err)
	}
	if _, err := New(srv.Platform, Config{RecordingDir: dir, Rules: []Rule{{
		Match: `^9(\d+)$`, Target: fmt.Sprintf("sip:${1}@127.0.0.1:%d", pbx), Record: rule,
	}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, strings.Replace(uasStreaming, "CALLEE", writeTone(t, 1000), 1)),
		"-p", fmt.Sprint(pbx), "-m", "1", "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1))
	if err := peers.WaitUDPListening(ctx, pbx); err != nil {
		t.Fatal(err)
	}
	caller := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, strings.Replace(uacStreaming, "CALLER", writeTone(t, 440), 1)),
		"-d", "3000", "-m", "1", "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	if caller.ExitCode != 0 || caller.Successful != 1 {
		t.Fatalf("caller: exit %d\n%s", caller.ExitCode, caller.ErrorLog)
	}
	if r := uas.Wait(); r.ExitCode != 0 || r.Successful != 1 {
		t.Fatalf("target: exit %d\n%s", r.ExitCode, r.ErrorLog)
	}
	var info *sbt.RecordingInfo
	var wav string
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(m) == 1 {
			if info = sbt.ReadRecordingInfo(t, m[0]); !info.End.IsZero() {
				wav = strings.TrimSuffix(m[0], ".json") + ".wav"
				break
			}
		} else if len(m) > 1 {
			t.Fatalf("%d recordings for one call: %v", len(m), m)
		}
		if time.Now().After(deadline) {
			t.Fatal("no finished recording 5 s after the call")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sbt.ReadRecording(t, wav), info, wav
}

// TestSIPpRouteRecordsStereo: SIPp UAC (streaming 440 Hz) → a route with
// record: stereo → SIPp UAS (streaming 1000 Hz). One stereo WAV appears
// with its sidecar: the caller's 440 Hz on the left and not the right,
// the target's 1000 Hz on the right and not the left, as long as the
// call, and the sidecar names each channel's party.
func TestSIPpRouteRecordsStereo(t *testing.T) {
	rec, info, wav := recordRoutedCall(t, "stereo")
	if len(rec.Channels) != 2 || rec.SampleRate != 8000 {
		t.Fatalf("%s: %d channels at %d Hz, want stereo at 8000", wav, len(rec.Channels), rec.SampleRate)
	}
	if d := rec.Duration(); d < 2500*time.Millisecond || d > 4500*time.Millisecond {
		t.Errorf("recording lasts %v for a 3 s call", d)
	}
	left, right := rec.Channel(t, 0), rec.Channel(t, 1)
	for _, c := range []struct {
		name       string
		ch         []int16
		want, leak float64
	}{{"left (caller)", left, 440, 1000}, {"right (target)", right, 1000, 440}} {
		if l := sbt.ToneLevel(c.ch, 8000, c.want); l < -20 {
			t.Errorf("%s: %.0f Hz at %.1f dB, want the tone (about -10 dB)", c.name, c.want, l)
		}
		if f := dsp.ToneFraction(c.ch, 8000, c.want); f < 0.6 {
			t.Errorf("%s: %.0f Hz in %.0f%% of the recording", c.name, c.want, f*100)
		}
		if l := sbt.ToneLevel(c.ch, 8000, c.leak); l > -40 {
			t.Errorf("%s: the other leg's %.0f Hz leaks in at %.1f dB", c.name, c.leak, l)
		}
	}
	if len(info.Files) != 1 || len(info.Files[0].Channels) != 2 {
		t.Fatalf("sidecar: %+v, want one file of two channels", info.Files)
	}
	if ch := info.Files[0].Channels; !strings.Contains(ch[0].Party, "alice@") || !strings.Contains(ch[1].Party, "1234@") {
		t.Errorf("sidecar channels: %+v, want the caller (alice) left and the target (1234) right", ch)
	}
	t.Logf("%s: %v; left 440 Hz %.1f dB, 1000 Hz %.1f dB; right 1000 Hz %.1f dB, 440 Hz %.1f dB", filepath.Base(wav), rec.Duration(),
		sbt.ToneLevel(left, 8000, 440), sbt.ToneLevel(left, 8000, 1000), sbt.ToneLevel(right, 8000, 1000), sbt.ToneLevel(right, 8000, 440))
}

// TestRecordValues: the YAML words record takes, and a wrong one.
func TestRecordValues(t *testing.T) {
	for in, want := range map[string]Record{"true": RecordMono, "false": RecordOff, "stereo": RecordStereo, "mono": RecordMono} {
		var r Record
		if err := r.UnmarshalText([]byte(in)); err != nil || r != want {
			t.Errorf("%s: %q %v, want %q", in, r, err, want)
		}
	}
	var r Record
	if err := r.UnmarshalText([]byte("both")); err == nil || !strings.Contains(err.Error(), "want true, false or stereo") {
		t.Errorf("record: both: %v", err)
	}
}

// TestRouteCodecsOfferG722First: a route with codecs [G722, PCMU] offers
// G.722 first (the offer's m-line is checked) to a G.722-capable target,
// so that leg is wideband, while the PCMU-only
// caller stays on PCMU: the relay transcodes (with 8↔16 kHz resampling)
// and each side hears the other's tone.
func TestRouteCodecsOfferG722First(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	offers := make(chan string, 1)
	wide := sbt.NewPhone(t, "wide", sbt.PhoneOptions{
		Settings: endpoint.Settings{Codecs: []string{"G722", "PCMU", "PCMA", "telephone-event"}},
		Answer: func(ctx context.Context, c *endpoint.Call) error {
			select {
			case offers <- string(c.Request().Body()):
			default:
			}
			return c.Accept(ctx)
		},
	})
	if _, err := New(srv.Platform, Config{Rules: []Rule{{
		Prefix: "wide", Target: strings.Replace(wide.URI(), "sip:wide@", "sip:${user}@", 1), Codecs: []string{"G722", "PCMU"},
	}}}); err != nil {
		t.Fatal(err)
	}
	narrow := sbt.NewPhone(t, "narrow", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMU"}}})
	call := narrow.Dial(t, srv.URI("wide"))
	answered := wide.NextCall(t)
	offer := <-offers
	if m := mLine(offer); !strings.HasPrefix(m, "m=audio ") || !strings.HasSuffix(m, " RTP/AVP 9 0") {
		t.Errorf("offer to the target: %q, want G.722 (9) first, then PCMU (0), nothing else", m)
	}
	if got := call.Negotiated().Codec.Name; got != "PCMU" {
		t.Errorf("caller's leg: %s, want PCMU", got)
	}
	if got := answered.Negotiated().Codec.Name; got != "G722" {
		t.Errorf("target's leg: %s, want G722", got)
	}
	if r := answered.SampleRate(); r != 16000 {
		t.Errorf("target hears at %d Hz, want 16000", r)
	}
	call.StartTone(600)
	answered.StartTone(1400)
	answered.WaitTone(t, 600, 5*time.Second)
	call.WaitTone(t, 1400, 5*time.Second)
	if f := dsp.ToneFraction(answered.Listen(t, time.Second), answered.SampleRate(), 600); f < 0.9 {
		t.Errorf("the wideband target hears the caller's 600 Hz in %.0f%%", f*100)
	}
	if f := dsp.ToneFraction(call.Listen(t, time.Second), 8000, 1400); f < 0.9 {
		t.Errorf("the PCMU caller hears the target's 1400 Hz in %.0f%%", f*100)
	}
	call.Hangup(t)
	answered.WaitTerminated(t, 5*time.Second)
}

// TestRouteCodecsRefused: a rule naming a codec the platform lacks is an
// error at New and at SetRules, naming the rule, and changes nothing.
func TestRouteCodecsRefused(t *testing.T) {
	srv := sbt.NewServer(t)
	if _, err := New(srv.Platform, Config{Rules: []Rule{{Name: "opus", Prefix: "1", Target: "sip:a@b", Codecs: []string{"OPUS"}}}}); err == nil ||
		!strings.Contains(err.Error(), "routes[0] (opus): codecs") {
		t.Fatalf("New with codecs [OPUS]: %v", err)
	}
	app, err := New(srv.Platform, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.SetRules([]Rule{{Prefix: "1", Target: "sip:a@b", Codecs: []string{"G729"}}}); err == nil {
		t.Fatal("SetRules accepted codecs [G729]")
	}
}

func mLine(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "m=audio") {
			return l
		}
	}
	return ""
}

// TestSIPpRouteRecordsMono: record: true writes one mono file in which
// both legs are heard, the caller's 440 Hz and the target's 1000 Hz.
func TestSIPpRouteRecordsMono(t *testing.T) {
	rec, _, wav := recordRoutedCall(t, "true")
	if len(rec.Channels) != 1 {
		t.Fatalf("%s: %d channels, want 1", wav, len(rec.Channels))
	}
	for _, f := range []float64{440, 1000} {
		if l := sbt.ToneLevel(rec.Channels[0], 8000, f); l < -25 {
			t.Errorf("mono mix: %.0f Hz at %.1f dB, want both legs", f, l)
		}
		if fr := dsp.ToneFraction(rec.Channels[0], 8000, f); fr < 0.6 {
			t.Errorf("mono mix: %.0f Hz in %.0f%% of the recording", f, fr*100)
		}
	}
}
