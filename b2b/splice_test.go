package b2b_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// lobby is an application endpoint that bridges every caller into conf
// with a b2b call, impersonating the caller.
func lobby(t testing.TB, srv *sbt.Server, conf *conference.Conference, opts b2b.Options) chan *b2b.Call {
	calls := make(chan *b2b.Call, 4)
	ep := srv.Handle(t, "lobby", nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		conv := ep.NewConversation()
		if err := conv.Impersonate(endpoint.Identity{URI: c.RemoteURI(), DisplayName: c.RemoteDisplayName()}); err != nil {
			t.Error(err)
			return
		}
		leg2, err := conference.Join(ctx, conv, conf.URI(), conference.JoinOptions{})
		if err != nil {
			t.Error(err)
			_ = c.Decline(ctx, 480)
			return
		}
		b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: leg2}, opts)
		if err == nil {
			err = b.Establish(ctx)
		}
		if err != nil {
			t.Error(err)
			return
		}
		c.HandOff()
		calls <- b
	}))
	return calls
}

// TestLocalJoinIsSpliced: a caller bridged by a b2b call into a conference
// of the same platform keeps the roster entry and the SIP dialogs of the
// relayed path, but its audio crosses one RTP session: the conference
// takes leg 1's flow directly, leg 2 and its far end close their sockets
// (the process holds one RTP/RTCP pair more for the caller, not three), and
// the caller and a phone in the conference hear each other.
func TestLocalJoinIsSpliced(t *testing.T) {
	srv := sbt.NewServer(t)
	svc, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	conf, _ := svc.Create("meet", conference.Options{})
	calls := lobby(t, srv, conf, b2b.Options{})
	member := sbt.NewPhone(t, "member").Dial(t, conf.URI())
	phone := sbt.NewPhone(t, "guest")

	before := sbt.OpenSockets(t)
	caller := phone.Dial(t, srv.URI("lobby"))
	var b *b2b.Call
	select {
	case b = <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no b2b call")
	}
	// The caller's phone holds one pair of sockets, leg 1 another.
	if added := sbt.OpenSockets(t) - before; added != 4 {
		t.Errorf("bridging one caller opened %d sockets, want 4 (phone's and leg 1's RTP/RTCP)", added)
	}
	if !b.Spliced() || b.Relay() != nil {
		t.Fatalf("local join not spliced (spliced %v, relay %v)", b.Spliced(), b.Relay())
	}
	waitFor(t, "the caller in the roster", func() bool { return len(conf.Roster()) == 2 })
	roster := conf.Roster()
	if len(roster) != 2 || !strings.Contains(roster[0].URI+roster[1].URI, "guest@") {
		t.Fatalf("roster %+v, want the member and the impersonated guest", roster)
	}

	caller.StartTone(700)
	member.StartTone(1300)
	// Two seconds of received audio each, counted rather than slept.
	heardByMember := member.Listen(t, 2*time.Second)
	heardByCaller := caller.Listen(t, 2*time.Second)
	caller.StopTone()
	member.StopTone()
	if f := dsp.ToneFraction(heardByMember, 8000, 700); f < 0.3 {
		t.Errorf("member hears the spliced caller in %.0f%% of windows", 100*f)
	}
	if f := dsp.ToneFraction(heardByCaller, 8000, 1300); f < 0.3 {
		t.Errorf("spliced caller hears the member in %.0f%% of windows", 100*f)
	}
	caller.Hangup(t)
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("b2b call did not end")
	}
	sbt.WaitRoster(t, conf, 1, 5*time.Second) // the caller left
	member.Hangup(t)
}

// joinRig is a caller ("talker") bridged by the lobby's b2b call into a
// conference of the same platform, spliced or relayed (opts), and a phone
// in the conference ("listener") whose heard frames are time-stamped.
type joinRig struct {
	talker, listener *sbt.PhoneCall
	call             *b2b.Call
	stamps           chan joinStamp
}

// joinStamp is when the listener heard a frame and whether it held the
// talker's 1 kHz tone.
type joinStamp struct {
	at   time.Time
	tone bool
}

func newJoinRig(tb testing.TB, opts b2b.Options) *joinRig {
	tb.Helper()
	srv := sbt.NewServer(tb)
	svc, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = svc.Close() })
	conf, _ := svc.Create("bench", conference.Options{})
	calls := lobby(tb, srv, conf, opts)
	r := &joinRig{stamps: make(chan joinStamp, 4096)}
	r.listener = sbt.NewPhone(tb, "listener").Dial(tb, conf.URI())
	r.talker = sbt.NewPhone(tb, "talker").Dial(tb, srv.URI("lobby"))
	select {
	case r.call = <-calls:
	case <-time.After(10 * time.Second):
		tb.Fatal("no b2b call")
	}
	if r.call.Spliced() == opts.NoLocalSplice {
		tb.Fatalf("spliced = %v with NoLocalSplice %v", r.call.Spliced(), opts.NoLocalSplice)
	}
	sbt.WaitRoster(tb, conf, 2, 5*time.Second)
	r.listener.Flow().ObserveHeard(audio.SinkFunc(func(pcm []int16) {
		select {
		case r.stamps <- joinStamp{time.Now(), dsp.LevelDB(pcm, 8000, 1000) > -30}:
		default:
		}
	}))
	return r
}

// onset starts the talker's tone and returns how long until the listener
// hears it (mouth to ear), then stops the tone and waits until the
// listener has heard n frames without it, so that the next onset starts
// from silence.
func (r *joinRig) onset(tb testing.TB) time.Duration {
	tb.Helper()
	for len(r.stamps) > 0 {
		<-r.stamps
	}
	t0 := time.Now()
	r.talker.StartTone(1000)
	var d time.Duration
	for s := range r.stamps {
		if s.tone {
			d = s.at.Sub(t0)
			break
		}
		if s.at.Sub(t0) > time.Second {
			tb.Fatal("tone never reached the listener")
		}
	}
	r.talker.StopTone()
	for quiet, deadline := 0, time.Now().Add(2*time.Second); quiet < 10; {
		select {
		case s := <-r.stamps:
			if s.tone {
				quiet = 0
			} else {
				quiet++
			}
		case <-time.After(time.Until(deadline)):
			tb.Fatal("the tone did not stop")
		}
	}
	return d
}

// onsets returns n mouth-to-ear delays, sorted.
func (r *joinRig) onsets(tb testing.TB, n int) []time.Duration {
	tb.Helper()
	// The first frames after the join carry the jitter buffers' start-up;
	// ten quiet frames first.
	for quiet := 0; quiet < 10; {
		select {
		case s := <-r.stamps:
			if !s.tone {
				quiet++
			}
		case <-time.After(5 * time.Second):
			tb.Fatal("the listener hears nothing")
		}
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		ds = append(ds, r.onset(tb))
	}
	slices.Sort(ds)
	return ds
}

// TestLocalJoinMouthToEar measures, in the same test, the mouth-to-ear
// delay (tone onset) from a caller bridged into a local conference to a
// phone in it, spliced and relayed through leg 2's loopback RTP, and fails
// if the spliced median is not lower than the relayed one within a
// margin. The relayed path adds only loopback hops (two sendto/recvfrom on
// the same host, tens of microseconds) ahead of the same jitter buffer and
// mixer tick, so both medians sit around the mixer's quantum and the
// ordering of a few microseconds cannot be asserted on a loaded 2-core
// machine; the margin (one 20 ms frame, the granularity at which the
// listener's frames arrive) catches a splice that adds buffering, such as
// a second jitter buffer or a frame of queueing, which is what a
// regression would look like. The medians are logged.
func TestLocalJoinMouthToEar(t *testing.T) {
	const n, margin = 7, 20 * time.Millisecond
	spliced := newJoinRig(t, b2b.Options{}).onsets(t, n)
	relayed := newJoinRig(t, b2b.Options{NoLocalSplice: true}).onsets(t, n)
	ms, mr := spliced[n/2], relayed[n/2]
	t.Logf("mouth-to-ear medians: spliced %v, relayed %v (spliced %v, relayed %v)", ms, mr, spliced, relayed)
	if ms >= mr+margin {
		t.Errorf("spliced mouth-to-ear %v is not lower than relayed %v (margin %v)", ms, mr, margin)
	}
}

// BenchmarkLocalJoin measures a caller bridged into a conference of the
// same platform, spliced (default) and relayed through leg 2's loopback
// RTP (NoLocalSplice), in the same run: mouth-to-ear from the caller to a
// phone in the conference (mean of ten tone onsets), and the server's CPU
// while both talk. It runs once whatever b.N is:
// go test -run '^$' -bench LocalJoin ./b2b/
func BenchmarkLocalJoin(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts b2b.Options
	}{{"spliced", b2b.Options{}}, {"relayed", b2b.Options{NoLocalSplice: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			r := newJoinRig(b, mode.opts)
			delays := r.onsets(b, 10)
			r.listener.StartTone(600)
			r.talker.StartTone(1000)
			start, cpu0 := time.Now(), cpuTime()
			time.Sleep(5 * time.Second)
			cpu, elapsed := cpuTime()-cpu0, time.Since(start)
			var sum time.Duration
			for _, d := range delays {
				sum += d
			}
			b.ReportMetric(float64(sum.Microseconds())/float64(len(delays))/1000, "mouth-to-ear-ms")
			b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "median-mouth-to-ear-ms")
			b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu%")
			r.talker.Hangup(b)
			r.listener.Hangup(b)
		})
	}
}

// cpuTime is the CPU the process used so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLocalJoinSIPp bridges LEGS (30) SIPp callers streaming G.711
// into one conference through the lobby's b2b calls, spliced and relayed
// in the same run, and reports the server process's CPU (% of one core;
// SIPp runs in its own process) and the process's open sockets while all
// are in. It runs once whatever b.N is:
// go test -run '^$' -bench LocalJoinSIPp ./b2b/
func BenchmarkLocalJoinSIPp(b *testing.B) {
	const legs = 30
	for _, mode := range []struct {
		name string
		opts b2b.Options
	}{{"spliced", b2b.Options{}}, {"relayed", b2b.Options{NoLocalSplice: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			srv := sbt.NewServer(b)
			svc, err := conference.New(srv.Platform, conference.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer svc.Close()
			conf, _ := svc.Create("bench", conference.Options{})
			calls := lobby(b, srv, conf, mode.opts)
			go func() {
				for range calls {
				}
			}()
			base := sbt.OpenSockets(b)
			dir := b.TempDir()
			tone := filepath.Join(dir, "tone.ulaw")
			if err := os.WriteFile(tone, codec.PCMU().Encode(nil, dsp.Sine(8000, 300, 10*time.Second, 0.05)), 0o600); err != nil {
				b.Fatal(err)
			}
			sc, err := os.ReadFile("../bench/uac_media.xml")
			if err != nil {
				b.Fatal(err)
			}
			// Each caller needs its own URI: the roster holds a URI once.
			scenario := peers.WriteScenario(b, strings.NewReplacer(`rtp_stream="tone.ulaw`, `rtp_stream="`+tone,
				"From: sipp <sip:sipp@", "From: sipp <sip:sipp[call_number]@").Replace(string(sc)))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p := peers.StartSIPp(b, ctx, "-sf", scenario, "-s", "lobby", "-m", fmt.Sprint(legs), "-l", fmt.Sprint(legs),
				"-r", "20", "-d", "15000", "-p", fmt.Sprint(peers.FreeSIPPort(b)), "-mp", fmt.Sprint(peers.FreeUDPPort(b)&^1),
				fmt.Sprintf("127.0.0.1:%d", srv.Port()))
			defer p.Stop()
			for deadline := time.Now().Add(20 * time.Second); len(conf.Roster()) < legs; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("only %d callers joined", len(conf.Roster()))
				}
			}
			sockets := sbt.OpenSockets(b) - base
			time.Sleep(time.Second)
			start, cpu0 := time.Now(), cpuTime()
			time.Sleep(5 * time.Second)
			cpu, elapsed := cpuTime()-cpu0, time.Since(start)
			b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu%")
			b.ReportMetric(float64(sockets)/legs, "sockets/caller")
		})
	}
}
