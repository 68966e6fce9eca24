package ivr_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/ivr"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// sippCaller is a SIPp UAC scenario: it calls [service] offering PCMU and
// telephone-event on 96 (SIPp's play_dtmf type) with the media address
// MEDIAPORT, runs ACTIONS, and then waits for the IVR's BYE.
const sippCaller = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ivr caller">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio MEDIAPORT RTP/AVP 0 96
a=rtpmap:0 PCMU/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-15

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  ACTIONS
  <recv request="BYE" timeout="BYETIMEOUT"/>
` + peers.ReplyOK + `
</scenario>`

// rtpEar is the caller's ear: a UDP socket named in SIPp's SDP that
// decodes the PCMU the IVR sends and labels every 20 ms frame with its
// arrival time. It answers the first packet with one of its own, so the
// IVR's symmetric RTP latches onto it rather than onto SIPp's media port,
// from which SIPp sends its digits.
type rtpEar struct {
	conn *net.UDPConn
	t0   time.Time

	mu     sync.Mutex
	frames []earFrame
}

type earFrame struct {
	at  time.Duration // since the ear opened
	pcm []int16
}

func newEar(t *testing.T) *rtpEar {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &rtpEar{conn: conn, t0: time.Now()}
	done := make(chan struct{})
	t.Cleanup(func() { _ = conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		latched := false
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil || p.PayloadType != 0 {
				continue
			}
			if !latched {
				latched = true
				hello := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x1234, SequenceNumber: 1, Timestamp: 160},
					Payload: codec.PCMU().Encode(nil, make([]int16, 160))}
				if b, err := hello.Marshal(); err == nil {
					_, _ = conn.WriteToUDP(b, from)
				}
			}
			pcm := codec.PCMU().Decode(nil, p.Payload)
			e.mu.Lock()
			e.frames = append(e.frames, earFrame{at: time.Since(e.t0), pcm: pcm})
			e.mu.Unlock()
		}
	}()
	return e
}

func (e *rtpEar) port() int { return e.conn.LocalAddr().(*net.UDPAddr).Port }

// segment is a run of frames with one label: a tone's frequency, -1 for
// other sound (speech), 0 for silence.
type segment struct {
	label      float64
	start, end time.Duration
}

func (s segment) String() string {
	return fmt.Sprintf("%v@%v-%v", s.label, s.start.Round(10*time.Millisecond), s.end.Round(10*time.Millisecond))
}

// segments labels the frames heard with the tones given and groups them;
// runs shorter than 60 ms (speech that looks like a tone for a frame or
// two) are absorbed by their neighbours. Gaps in arrival count as
// silence.
func (e *rtpEar) segments(tones ...float64) []segment {
	e.mu.Lock()
	defer e.mu.Unlock()
	var segs []segment
	add := func(label float64, start, end time.Duration) {
		if n := len(segs); n > 0 && segs[n-1].label == label && start-segs[n-1].end < 40*time.Millisecond {
			segs[n-1].end = end
			return
		}
		segs = append(segs, segment{label, start, end})
	}
	for _, f := range e.frames {
		label := 0.0
		if 20*math.Log10(max(dsp.RMS(f.pcm), 1e-10)) > dsp.SilenceDB {
			label = -1
			for _, hz := range tones {
				// A pure tone has all its power at hz (Goertzel gives
				// a², RMS² is a²/2); speech trips HasTone now and then
				// but never carries most of its power in one bin.
				if r := dsp.RMS(f.pcm); dsp.HasTone(f.pcm, 8000, hz) && dsp.Goertzel(f.pcm, 8000, hz) > 0.6*2*r*r {
					label = hz
				}
			}
		}
		add(label, f.at, f.at+20*time.Millisecond)
	}
	// Absorb short runs and merge what becomes adjacent.
	var out []segment
	for _, s := range segs {
		if s.end-s.start < 60*time.Millisecond && len(out) > 0 {
			out[len(out)-1].end = s.end
			continue
		}
		if n := len(out); n > 0 && out[n-1].label == s.label {
			out[n-1].end = s.end
			continue
		}
		out = append(out, s)
	}
	return out
}

// TestSIPpInvalidAndNoInput is issue 11's second acceptance test, with a
// real SIPp caller sending RFC 4733 digits: 9 is not in the menu → the
// invalid prompt, then the menu again; then no input → the no-input
// prompt, the menu, no input again, and after the retries "goodbye" and a
// BYE, each at the configured time. The caller's received audio is
// measured frame by frame.
func TestSIPpInvalidAndNoInput(t *testing.T) {
	const (
		// SIPp's first digit ends about a second after the ACK.
		menuLen   = 1500 * time.Millisecond
		firstWait = 500 * time.Millisecond
		promptLen = 300 * time.Millisecond
	)
	menu := fmt.Sprintf(`
nodes:
  main:
    prompt: ["tone:500:%v"]
    retries: 2
    invalid: ["tone:700:%v"]
    no_input: ["tone:900:%v"]
    digits: {first_timeout: %v}
    keys:
      "1": {do: echo}
    on_fail: {do: hangup, prompt: [goodbye]}
`, menuLen, promptLen, promptLen, firstWait)
	srv := startApp(t, menu, ivrapp.Config{})
	ear := newEar(t)
	sc := strings.NewReplacer("MEDIAPORT", fmt.Sprint(ear.port()), "BYETIMEOUT", "8000",
		"ACTIONS", `<pause milliseconds="300"/><nop><action><exec play_dtmf="9,160"/></action></nop>`).Replace(sippCaller)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-s", "ivr", "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	bye := time.Since(ear.t0) // SIPp quits as soon as it has answered the BYE
	if res.ExitCode != 0 {
		t.Fatalf("sipp exit %d (no BYE within 8 s?)\n%s\n%s", res.ExitCode, res.ErrorLog, res.Stderr)
	}
	segs := ear.segments(500, 700, 900)
	t.Logf("heard %v; BYE answered at %v", segs, bye.Round(10*time.Millisecond))

	// Find, in order: menu (cut by 9), invalid, menu, no input, menu, no
	// input, goodbye (speech).
	want := []float64{500, 700, 500, 900, 500, 900, -1}
	var got []segment
	for _, s := range segs {
		if len(got) < len(want) && s.label == want[len(got)] {
			got = append(got, s)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("heard %v; want the sequence %v", segs, want)
	}
	near := func(what string, d, want, tol time.Duration) {
		t.Helper()
		if d < want-tol || d > want+tol {
			t.Errorf("%s lasted %v, want %v ± %v", what, d.Round(time.Millisecond), want, tol)
		}
	}
	tol := 120 * time.Millisecond
	if d := got[0].end - got[0].start; d > menuLen-100*time.Millisecond {
		t.Errorf("the first menu played %v of %v: 9 did not barge in", d, menuLen)
	}
	if gap := got[1].start - got[0].end; gap > 100*time.Millisecond {
		t.Errorf("the invalid prompt began %v after the menu stopped", gap)
	}
	near("the invalid prompt", got[1].end-got[1].start, promptLen, tol)
	near("the menu after invalid input", got[2].end-got[2].start, menuLen, tol)
	near("the wait for a first digit", got[3].start-got[2].end, firstWait, 150*time.Millisecond)
	near("the no-input prompt", got[3].end-got[3].start, promptLen, tol)
	near("the menu after no input", got[4].end-got[4].start, menuLen, tol)
	near("the second wait for a first digit", got[5].start-got[4].end, firstWait, 150*time.Millisecond)
	near("the last no-input prompt", got[5].end-got[5].start, promptLen, tol)
	goodbye := ivr.Voice()["goodbye"].Duration()
	if gap := got[6].start - got[5].end; gap > 300*time.Millisecond {
		t.Errorf("goodbye began %v after the last no-input prompt", gap)
	}
	// The word's own leading and trailing silence is not heard as sound.
	if d := got[6].end - got[6].start; d < goodbye/3 || d > goodbye+tol {
		t.Errorf("goodbye sounded for %v; the prompt is %v", d, goodbye)
	}
	if late := bye - got[6].end; late < 0 || late > 700*time.Millisecond {
		t.Errorf("BYE answered %v after the end of goodbye, want within 700 ms", late)
	}
}

// sippUAS answers one INVITE with PCMU on its media port (SIPp echoes
// the RTP with -rtp_echo), logs the Request-URI's user and waits for the
// BYE.
const sippUAS = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bridge target">
  <recv request="INVITE">
    <action>
      <ereg regexp="^INVITE sip:([^@;>]*)@" search_in="msg" check_it="true" assign_to="all,user"/>
      <log message="ruri-user=[$user]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
` + peers.ReplyOK + `
  <Reference variables="all"/>
</scenario>`

// TestSIPpBridge: four digits then # → the bridge action calls
// sip:${digits}@<SIPp UAS>, which sees those digits as the Request-URI's
// user; the caller's 700 Hz goes through the bridge and comes back
// (SIPp's RTP echo).
func TestSIPpBridge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	uas, sipPort := startUAS(t, ctx, sippUAS)
	menu := fmt.Sprintf(`
nodes:
  main:
    prompt: ["tone:500:3s"]
    digits: {max: 8, pattern: "[0-9]{4}", inter_timeout: 2s}
    default: {do: bridge, uri: "sip:${digits}@127.0.0.1:%d"}
`, sipPort)
	srv := startApp(t, menu, ivrapp.Config{})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("ivr"))
	call.WaitTone(t, 500, 3*time.Second)
	if err := call.SendDTMF(ctx5(t), "4242#"); err != nil {
		t.Fatal(err)
	}
	call.StartTone(700)
	call.WaitTone(t, 700, 5*time.Second) // echoed by SIPp through the bridge
	call.Hangup(t)
	res := uas.Wait()
	if res.ExitCode != 0 {
		t.Fatalf("sipp UAS exit %d\n%s", res.ExitCode, res.ErrorLog)
	}
	if logs := peers.ReadLogs(t, res.Dir); !strings.Contains(logs, "ruri-user=4242\n") {
		t.Fatalf("the UAS was reached as %q, want user 4242", logs)
	}
}

// startUAS starts a SIPp UAS (-m 1, RTP echo, -trace_logs) on free ports.
// Other test processes share the machine, and a port found free can be
// taken before SIPp binds it (SIPp then exits with 254): it tries again
// on other ports, up to three times.
func startUAS(t *testing.T, ctx context.Context, scenario string) (*peers.SIPpProcess, int) {
	t.Helper()
	sf := peers.WriteScenario(t, scenario)
	for try := 1; ; try++ {
		port := peers.FreeSIPPort(t)
		uas := peers.StartSIPp(t, ctx, "-sf", sf, "-m", "1", "-rtp_echo", "-trace_logs",
			"-p", fmt.Sprint(port), "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1))
		err := peers.WaitUDPListening(ctx, port)
		if err == nil {
			// Bound, but by SIPp? A bind failure ends it at once.
			select {
			case <-uas.Exited():
				err = fmt.Errorf("sipp exited with %d", uas.Wait().ExitCode)
			case <-time.After(300 * time.Millisecond):
				return uas, port
			}
		}
		if try == 3 {
			t.Fatalf("sipp UAS did not start: %v", err)
		}
	}
}

// TestBridgeRefused: the far end of a bridge declines (486): the caller
// hears the fallback (speech) and is hung up; no call is left behind.
func TestBridgeRefused(t *testing.T) {
	srv := switchboardtest.NewServer(t)
	srv.Handle(t, "4242", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		_ = c.Decline(ctx, 486)
	}))
	m, err := ivrapp.ParseMenu("test.yaml", []byte(fmt.Sprintf(`
nodes:
  main:
    prompt: ["tone:500:3s"]
    digits: {max: 8, pattern: "[0-9]{4}"}
    default: {do: bridge, uri: "sip:${digits}@127.0.0.1:%d"}
`, srv.Port())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ivrapp.New(srv.Platform, ivrapp.Config{MessageDir: t.TempDir()}, ivrapp.WithMenu(m), ivrapp.WithLogger(switchboardtest.Logger(t))); err != nil {
		t.Fatal(err)
	}
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("ivr"))
	call.WaitTone(t, 500, 3*time.Second)
	if err := call.SendDTMF(ctx5(t), "4242#"); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	call.WaitTerminated(t, 6*time.Second)
	if d := time.Since(sent); d < 2*time.Second {
		t.Errorf("hung up %v after the digits: no fallback prompt", d)
	}
	rec := call.Recording()
	if rms := dsp.RMS(rec[max(0, len(rec)-16000):]); rms < 0.01 {
		t.Errorf("the last 2 s before the hang-up are silent (rms %.4f): no fallback prompt", rms)
	}
}
