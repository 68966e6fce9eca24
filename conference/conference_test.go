package conference_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func newService(t *testing.T, cfg conference.Config) (*sbt.Server, *conference.Service) {
	t.Helper()
	srv := sbt.NewServer(t)
	svc, err := conference.New(srv.Platform, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return srv, svc
}

func waitRoster(t *testing.T, c *conference.Conference, n int) []conference.ParticipantInfo {
	t.Helper()
	return sbt.WaitRoster(t, c, n, 10*time.Second)
}

// TestThreeBaresipsMixMinus: three baresip phones dial one conference,
// each playing its own tone; each one's recording holds the other two
// tones and not its own.
func TestThreeBaresipsMixMinus(t *testing.T) {
	srv, svc := newService(t, conference.Config{AdHoc: true})
	tones := []float64{500, 900, 1300}
	var bs []*peers.Baresip
	for i, f := range tones {
		b := peers.StartBaresip(t, peers.BaresipOptions{User: fmt.Sprintf("p%d", i),
			AudioFile: peers.WriteWAV(t, dsp.Sine(8000, f, 60*time.Second, 0.2), 8000)})
		bs = append(bs, b)
	}
	uri := fmt.Sprintf("sip:conf-trio@127.0.0.1:%d", srv.Port())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, b := range bs {
		if err := b.Dial(uri); err != nil {
			t.Fatal(err)
		}
		if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
			t.Fatal(err)
		}
	}
	conf, ok := svc.Conference("trio")
	if !ok {
		t.Fatal("ad hoc conference not created")
	}
	waitRoster(t, conf, 3)
	time.Sleep(3 * time.Second)
	for _, b := range bs {
		_ = b.Hangup()
	}
	for i, b := range bs {
		if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatal(err)
		}
		rec, rate := b.RecordingSamples(t)
		for j, f := range tones {
			frac := dsp.ToneFraction(rec, rate, f)
			if i == j && frac > 0.05 {
				t.Errorf("phone %d hears its own %v Hz tone in %.0f%% of its recording", i, f, frac*100)
			}
			if i != j && frac < 0.4 {
				t.Errorf("phone %d hears phone %d's %v Hz tone in only %.0f%%", i, j, f, frac*100)
			}
		}
	}
	select {
	case <-conf.Done():
	case <-time.After(5 * time.Second):
		t.Error("conference did not end when the last participant left")
	}
}

// TestTrustedApplicationJoinsTwice is the seed 002 scenario: an
// application joins twice with generated identities, one call plays a
// prompt, the other records the mix.
func TestTrustedApplicationJoinsTwice(t *testing.T) {
	srv, svc := newService(t, conference.Config{})
	conf, err := svc.Create("board", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var phones []*sbt.PhoneCall
	tones := []float64{500, 900, 1300}
	for i, f := range tones {
		ph := sbt.NewPhone(t, fmt.Sprintf("member%d", i))
		pc := ph.Dial(t, conf.URI())
		pc.StartTone(f)
		phones = append(phones, pc)
	}
	waitRoster(t, conf, 3)

	// A SIP subscriber sees only the phones.
	notify := subscribe(t, conf.URI())

	app := srv.Handle(t, "bot", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	player, err := conference.Join(ctx, app.NewConversation(), conf.URI(), conference.JoinOptions{Trusted: true, GeneratedIdentity: true})
	if err != nil {
		t.Fatal(err)
	}
	recorder, err := conference.Join(ctx, app.NewConversation(), conf.URI(), conference.JoinOptions{Trusted: true, GeneratedIdentity: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := sbt.WrapCall(recorder)
	roster := waitRoster(t, conf, 5)
	trusted := 0
	for _, p := range roster {
		if p.Trusted {
			trusted++
			if !p.Hidden || p.Role != conference.Leader || !strings.Contains(p.URI, endpoint.GeneratedUserPrefix) {
				t.Errorf("trusted participant %+v: want hidden leader with a generated URI", p)
			}
		}
	}
	if trusted != 2 || len(conf.PublicRoster()) != 3 {
		t.Fatalf("roster: %d trusted of %d, public %d; want 2 of 5, public 3", trusted, len(roster), len(conf.PublicRoster()))
	}

	// The player call plays a WAV prompt (2 s of 1800 Hz) into the
	// conference.
	wavPath := filepath.Join(t.TempDir(), "prompt.wav")
	if err := writeWAV(wavPath, dsp.Sine(8000, 1800, 2*time.Second, 0.3)); err != nil {
		t.Fatal(err)
	}
	src, err := audio.OpenWAVSource(wavPath)
	if err != nil {
		t.Fatal(err)
	}
	prompt, err := audio.NewPlayer(src, audio.PlayerConfig{Mode: audio.PlayerManual})
	if err != nil {
		t.Fatal(err)
	}
	defer prompt.Close()
	done := make(chan struct{})
	prompt.OnCompleted(func() { close(done) })
	for _, pc := range phones {
		pc.ResetRecording()
	}
	rec.ResetRecording()
	prompt.Attach(player.Flow())
	if err := prompt.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("prompt did not complete")
	}
	time.Sleep(200 * time.Millisecond) // the mixer's and jitter buffers' delay
	for i, pc := range phones {
		if f := dsp.ToneFraction(pc.Recording(), 8000, 1800); f < 0.5 {
			t.Errorf("phone %d heard the prompt in %.0f%%", i, f*100)
		}
	}
	// The recorder hears everyone: the three phones and the prompt.
	mix := rec.Recording()
	for _, f := range append(tones, 1800) {
		if frac := dsp.ToneFraction(mix, 8000, f); frac < 0.4 {
			t.Errorf("recorder heard %v Hz in %.0f%%", f, frac*100)
		}
	}

	// The subscriber's roster lists the three phones only.
	body := notify()
	if n := strings.Count(body, "<user "); n != 3 || strings.Contains(body, endpoint.GeneratedUserPrefix) {
		t.Errorf("subscriber roster has %d users (generated identity shown: %v):\n%s", n, strings.Contains(body, endpoint.GeneratedUserPrefix), body)
	}

	// An ordinary second join with a URI already present is refused.
	dup := sbt.NewPhone(t, "member0")
	_, err = dup.DialContext(ctx, conf.URI(), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 486 || re.Reason != "Already In Conference" {
		t.Errorf("duplicate URI join: %v, want 486 Already In Conference", err)
	}
	// A trusted join from another platform (an untrusted address) gets 403.
	outsider := sbt.NewPhone(t, "outsider")
	_, err = conference.Join(ctx, outsider.Endpoint.NewConversation(), conf.URI(), conference.JoinOptions{Trusted: true})
	if !errors.As(err, &re) || re.Code != 403 {
		t.Errorf("trusted join from outside: %v, want 403", err)
	}
	_, err = conference.Join(ctx, outsider.Endpoint.NewConversation(), conf.URI(), conference.JoinOptions{GeneratedIdentity: true})
	if !errors.As(err, &re) || re.Code != 403 {
		t.Errorf("generated identity from outside: %v, want 403", err)
	}
	waitRoster(t, conf, 5)
}

func writeWAV(path string, pcm []int16) error {
	w, err := audio.CreateWAV(path, 8000, 1)
	if err != nil {
		return err
	}
	if err := w.Write(pcm); err != nil {
		return err
	}
	return w.Close()
}

// subscribe runs a SIPp subscriber to the conference event package and
// returns a function that yields the body of the first NOTIFY.
func subscribe(t *testing.T, confURI string) func() string {
	t.Helper()
	hostport := strings.TrimPrefix(confURI[strings.Index(confURI, "@")+1:], "")
	user := confURI[len("sip:"):strings.Index(confURI, "@")]
	sc := `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="conference subscriber">
  <send retrans="500">
    <![CDATA[
SUBSCRIBE sip:` + user + `@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:watcher@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:` + user + `@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 SUBSCRIBE
Contact: sip:watcher@[local_ip]:[local_port]
Max-Forwards: 70
Event: conference
Accept: application/conference-info+xml
Expires: 60
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv request="NOTIFY">
    <action>
      <ereg regexp="version=.1." search_in="body" check_it="true" assign_to="1"/>
    </action>
  </recv>
` + peers.ReplyOK + `  <send retrans="500">
    <![CDATA[
SUBSCRIBE sip:` + user + `@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:watcher@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:` + user + `@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 SUBSCRIBE
Contact: sip:watcher@[local_ip]:[local_port]
Max-Forwards: 70
Event: conference
Expires: 0
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv request="NOTIFY">
    <action>
      <ereg regexp="terminated" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="2"/>
    </action>
  </recv>
` + peers.ReplyOK + `  <Reference variables="1,2"/>
</scenario>`
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	var once sync.Once
	var body string
	p := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-m", "1", "-trace_msg",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), hostport)
	return func() string {
		once.Do(func() {
			defer cancel()
			res := p.Wait()
			if res.ExitCode != 0 {
				t.Errorf("subscriber: sipp exit %d\n%s", res.ExitCode, res.ErrorLog)
			}
			msgs := peers.ReadMessages(t, res.Dir)
			if i := strings.Index(msgs, "<?xml"); i >= 0 {
				body = msgs[i:]
				if j := strings.Index(body, "</conference-info>"); j >= 0 {
					body = body[:j+len("</conference-info>")]
				}
			}
		})
		return body
	}
}

// TestMuteEjectLock: mute removes a participant's tone from the others'
// audio; eject sends BYE and updates the roster; a locked conference
// refuses a new phone.
func TestMuteEjectLock(t *testing.T) {
	_, svc := newService(t, conference.Config{})
	conf, _ := svc.Create("ctl", conference.Options{})
	a := sbt.NewPhone(t, "alice").Dial(t, conf.URI())
	b := sbt.NewPhone(t, "bob").Dial(t, conf.URI())
	a.StartTone(600)
	b.StartTone(1100)
	roster := waitRoster(t, conf, 2)
	b.WaitTone(t, 600, 5*time.Second)
	if f := dsp.ToneFraction(b.Listen(t, time.Second), 8000, 600); f < 0.6 {
		t.Fatalf("bob hears alice in %.0f%% before mute", f*100)
	}
	if err := conf.Mute(roster[0].ID, true); err != nil {
		t.Fatal(err)
	}
	b.WaitNoTone(t, 600, 5*time.Second)
	if f := dsp.ToneFraction(b.Listen(t, time.Second), 8000, 600); f > 0.05 {
		t.Fatalf("bob still hears muted alice in %.0f%%", f*100)
	}
	changes := make(chan conference.RosterChange, 4)
	conf.OnRosterChanged(func(ch conference.RosterChange) { changes <- ch })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conf.Eject(ctx, roster[1].ID); err != nil {
		t.Fatal(err)
	}
	b.WaitTerminated(t, 5*time.Second)
	if b.Reason() != endpoint.ReasonRemoteHangUp {
		t.Fatalf("ejected call ended with %q", b.Reason())
	}
	select {
	case ch := <-changes:
		if len(ch.Left) != 1 || ch.Left[0].ID != roster[1].ID {
			t.Fatalf("roster change %+v, want bob left", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no roster event for the ejection")
	}
	conf.Lock()
	_, err := sbt.NewPhone(t, "carol").DialContext(ctx, conf.URI(), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("join while locked: %v, want 403", err)
	}
	a.Hangup(t)
}

func TestConferenceEventPackage(t *testing.T) {
	_, svc := newService(t, conference.Config{})
	conf, _ := svc.Create("events", conference.Options{})
	a := sbt.NewPhone(t, "alice").Dial(t, conf.URI())
	waitRoster(t, conf, 1)
	body := subscribe(t, conf.URI())()
	if !strings.Contains(body, `state="full"`) || !strings.Contains(body, "sip:alice@127.0.0.1") || strings.Count(body, "<user ") != 1 {
		t.Fatalf("NOTIFY body:\n%s", body)
	}
	a.Hangup(t)
}

// TestJoinReturnsOnceInRoster: Conference.Join returns when the roster
// holds the call (the conference answers first and adds the call after
// the ACK), for many joins at once, each with its own participant.
func TestJoinReturnsOnceInRoster(t *testing.T) {
	srv, svc := newService(t, conference.Config{})
	conf, err := svc.Create("joins", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bot := srv.Handle(t, "bot", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 8
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			call, err := conf.Join(ctx, bot.NewConversation(), conference.JoinOptions{Trusted: true, GeneratedIdentity: true})
			if err != nil {
				t.Errorf("Join: %v", err)
				return
			}
			p, ok := conf.ParticipantByCallID(call.CallID())
			if !ok {
				t.Errorf("Join returned before %s was in the roster", call.CallID())
				return
			}
			ids <- p.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("participant %s returned twice", id)
		}
		seen[id] = true
	}
	if len(conf.Roster()) != n || len(seen) != n {
		t.Fatalf("roster %d, joins %d, want %d", len(conf.Roster()), len(seen), n)
	}
}
