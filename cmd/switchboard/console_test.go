package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// The console tests drive the operator console (admin/console) in
// Debian's headless Chromium: one browser for the whole test binary, one
// tab per test.

// chromiumPath is Debian's chromium package's binary.
const chromiumPath = "/usr/bin/chromium"

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel() // chromedp's allocator kills the browser it started
	}
	os.Exit(code)
}

// newTab opens the console of e in a new tab of the shared browser and
// waits until it has loaded every view. The tab closes when the test ends.
func newTab(t *testing.T, e *adminEnv) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing (%v): run scripts/test, which installs Debian's chromium (apt-get install -y chromium)", chromiumPath, err)
	}
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath),
			chromedp.NoSandbox, // tests may run as root
			chromedp.DisableGPU,
			chromedp.WindowSize(1280, 900),
			chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
			chromedp.Flag("mute-audio", true),
		)
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		browser.ctx = ctx
		browser.cancel = func() { cancelCtx(); cancelAlloc() }
		browser.err = chromedp.Do(ctx) // starts the browser, without a timeout
	})
	if browser.err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx)
	t.Cleanup(cancel)
	// Any uncaught exception of the page (a rejected promise included)
	// fails the test: a broken script must not pass for a quiet page.
	var mu sync.Mutex
	var thrown []string
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			mu.Lock()
			thrown = append(thrown, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range thrown {
			t.Errorf("the page threw: %s", x)
		}
	})
	t.Cleanup(func() { cancel(); <-done })
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/")); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// ready waits until the page has loaded its views and its event stream
// is live.
func ready(t *testing.T, ctx context.Context) {
	t.Helper()
	waitJS(t, ctx, `document.body.dataset.ready === "true" && document.getElementById("status").dataset.state === "live"`, 10*time.Second)
}

// js evaluates expr in the page.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is true in the page and returns how long it
// took; the DOM is checked every 10 ms.
func waitJS(t *testing.T, ctx context.Context, expr string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("message").textContent + " | " + document.body.innerText.slice(0, 1500)`))
			t.Fatalf("not within %v: %s (%v)\npage: %s", within, expr, err, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// click clicks the element sel selects (a CSS selector) with the mouse.
// The page re-renders rows as events arrive: an element replaced between
// being found and being clicked ("Could not find node") is found again.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		err := chromedp.Do(c, chromedp.Click(chromedp.CSS(sel)))
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "Could not find node") || c.Err() != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
}

// typeInto replaces the value of the input sel with text, by keyboard.
func typeInto(t *testing.T, ctx context.Context, sel, text string) {
	t.Helper()
	js[chromedp.Void](t, ctx, `document.querySelector('`+sel+`').value = ""`)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// artefacts is where the screenshots go: $SWITCHBOARD_ARTEFACTS/console
// (CI keeps it), else a temporary directory kept only when the test
// fails; each screenshot's path is logged.
func artefacts(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("SWITCHBOARD_ARTEFACTS"); dir != "" {
		dir = filepath.Join(dir, "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir, err := os.MkdirTemp("", "switchboard-console-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	return dir
}

// screenshot shows view, checks that each selector in want matches a
// visible element, and saves a screenshot of the page as NAME.png.
func screenshot(t *testing.T, ctx context.Context, dir, view, name string, want ...string) {
	t.Helper()
	click(t, ctx, "#tab-"+view)
	for _, sel := range want {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := chromedp.Do(c, chromedp.WaitVisible(chromedp.CSS(sel)))
		cancel()
		if err != nil {
			t.Fatalf("view %s: no visible %s: %v", view, sel, err)
		}
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// sippAnswerUAS answers one INVITE, echoes RTP (-rtp_echo) and waits for
// the BYE.
const sippAnswerUAS = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer UAS">
  <recv request="INVITE"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:desk@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
` + peers.ReplyOK + `</scenario>`

// TestConsoleParkBusyLampAndRetrieveToSIPp is issue 18's attendant
// story: baresip alice blind-transfers baresip bob to sip:park@; the
// orbit lights in the console's busy-lamp field within a second of the
// park; clicking the orbit and "Retrieve" with a SIPp UAS's URI connects
// bob to it (bob hears his own tone echoed by SIPp, the lamp goes out);
// the console's hang-up of bob's call ends both. Screenshots of the
// busy-lamp field and the calls view are saved.
func TestConsoleParkBusyLampAndRetrieveToSIPp(t *testing.T) {
	e := startAdminServer(t, "", nil)
	dir := artefacts(t)
	parked := make(chan time.Time, 4)
	defer e.s.Park.OnEvent(func(ev park.Event) {
		if ev.Type == park.Parked {
			parked <- time.Now()
		}
	})()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	uasPort := peers.FreeSIPPort(t)
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippAnswerUAS), "-m", "1", "-rtp_echo",
		"-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(uasPort))
	tone := func(hz float64) string { return peers.WriteWAV(t, dsp.Sine(8000, hz, 60*time.Second, 0.3), 8000) }
	bob := peers.StartBaresip(t, peers.BaresipOptions{User: "bob", AutoAnswer: true, AudioFile: tone(900)})
	alice := peers.StartBaresip(t, peers.BaresipOptions{User: "alice", AudioFile: tone(500)})
	if err := peers.WaitUDPListening(ctx, uasPort); err != nil {
		t.Fatal(err)
	}

	tab := newTab(t, e)
	ready(t, tab)
	click(t, tab, "#tab-orbits")
	waitJS(t, tab, `document.querySelectorAll("#blf .lamp").length === 100 && document.querySelectorAll("#blf .lamp.occupied").length === 0`, 5*time.Second)

	// baresip binds its RTP port at the dial, in a range other processes
	// of a shared machine may hold at that moment: try again then.
	for try := 1; ; try++ {
		err := alice.Dial(bob.URI())
		if err == nil {
			break
		}
		if try == 3 || !strings.Contains(err.Error(), "Address already in use") {
			t.Fatal(err)
		}
		t.Logf("dial %d: %v; again", try, err)
	}
	if _, err := alice.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Command("transfer", fmt.Sprintf("sip:park@127.0.0.1:%d", e.port)); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	select {
	case at = <-parked:
	case <-ctx.Done():
		t.Fatalf("bob was not parked\n%s", bob.Log())
	}
	lamp := `#blf .lamp[data-orbit="7000"]`
	waitJS(t, tab, `document.querySelector('`+lamp+`[data-state="occupied"]')`, 5*time.Second)
	lag := time.Since(at)
	t.Logf("the busy lamp lit %v after the park", lag)
	if lag > time.Second {
		t.Errorf("the busy lamp lit %v after the park, want within 1 s", lag)
	}
	if txt := js[string](t, tab, `document.querySelector('`+lamp+`').textContent`); !strings.Contains(txt, "bob@") || !strings.Contains(txt, "pickup in") {
		t.Errorf("lamp 7000 reads %q, want the parked bob and the time to the pickup timeout", txt)
	}
	click(t, tab, lamp)
	screenshot(t, tab, dir, "orbits", "orbits", lamp+".occupied.selected", "#orbit-detail p", "#orbits-target")

	typeInto(t, tab, "#orbits-target", fmt.Sprintf("sip:desk@127.0.0.1:%d", uasPort))
	click(t, tab, "#orbit-retrieve")
	waitJS(t, tab, `document.querySelector('`+lamp+`[data-state="free"]')`, 10*time.Second)
	waitJS(t, tab, `document.getElementById("message").textContent.includes("Retrieve orbit 7000") && document.getElementById("message").textContent.includes("done")`, 5*time.Second)
	time.Sleep(3 * time.Second) // bob talks to the desk, which echoes him

	// Bob's call, found in the calls view, is hung up from there.
	var bobID string
	_, b := e.do(t, "GET", "/api/v1/calls", nil)
	for _, c := range decode[struct {
		Calls []struct{ ID, From string }
	}](t, b).Calls {
		if strings.Contains(c.From, "bob@") {
			bobID = c.ID
		}
	}
	if bobID == "" {
		t.Fatalf("no call from bob in %s", b)
	}
	row := `#calls-body tr[data-id="` + bobID + `"]`
	screenshot(t, tab, dir, "calls", "calls", row, row+" button.hangup", "#calls-range")
	click(t, tab, row+" button.hangup")
	if _, err := bob.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("bob's call did not end after the console's hang-up: %v", err)
	}
	if res := uas.Wait(); res.ExitCode != 0 {
		t.Fatalf("the desk (SIPp UAS): exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, peers.ReadMessages(t, res.Dir))
	}
	rec, rate := bob.RecordingSamples(t)
	if s := dsp.ToneFraction(rec, rate, 900) * float64(len(rec)) / float64(rate); s < 1.5 {
		t.Errorf("bob heard himself echoed by the desk for %.1f s, want 1.5 s at least: not connected", s)
	}
	waitJS(t, tab, `!document.querySelector('`+row+`:not(.ended)')`, 5*time.Second)
}

// TestConsoleConferenceMuteAndRecording: three phones in conf-ops; the
// roster's talking indicator follows who sends a tone; the console starts
// the recording (its hidden recorder is marked in the
// roster), mutes ann (her tone leaves what ben and cy hear, cy's stays),
// unmutes her, stops the recording, and plays it in an <audio> element
// until it ends; "l" locks the conference (a newcomer gets 403) and Eject
// ends cy's call.
func TestConsoleConferenceMuteAndRecording(t *testing.T) {
	e := startAdminServer(t, "", nil)
	dir := artefacts(t)
	uri := fmt.Sprintf("sip:conf-ops@127.0.0.1:%d", e.port)
	ann := sbt.NewPhone(t, "ann").Dial(t, uri)
	ben := sbt.NewPhone(t, "ben").Dial(t, uri)
	cy := sbt.NewPhone(t, "cy").Dial(t, uri)
	ann.StartTone(1000)
	cy.StartTone(600)
	ben.WaitTone(t, 1000, 5*time.Second)
	ben.WaitTone(t, 600, 5*time.Second)

	tab := newTab(t, e)
	ready(t, tab)
	click(t, tab, "#tab-conferences")
	annRow := `#roster tr[data-uri*="ann@"]`
	waitJS(t, tab, `document.querySelectorAll("#roster tbody tr").length === 3 && document.querySelector('`+annRow+`')`, 5*time.Second)
	// ann and cy send tones, ben silence: the talking indicator says so.
	benRow := `#roster tr[data-uri*="ben@"]`
	waitJS(t, tab, `document.querySelector('`+annRow+` .badge.talking') && document.querySelector('#roster tr[data-uri*="cy@"] .badge.talking') && !document.querySelector('`+benRow+` .badge.talking')`, 5*time.Second)
	ben.StartTone(1500)
	waitJS(t, tab, `document.querySelector('`+benRow+` .badge.talking')`, 5*time.Second)
	ben.StopTone()
	waitJS(t, tab, `!document.querySelector('`+benRow+` .badge.talking')`, 5*time.Second)
	click(t, tab, "#conf-record")
	waitJS(t, tab, `document.querySelectorAll("#roster tbody tr").length === 4 && document.querySelector('#roster tr[data-hidden="true"] .badge.hidden-p')`, 10*time.Second)
	screenshot(t, tab, dir, "conferences", "conferences", "#conf-list li.selected", `#roster tr[data-hidden="true"] .badge.hidden-p`, annRow+" button.mute", "#conf-lock", "#conf-detail .badge.rec")

	time.Sleep(time.Second) // the recording hears ann first
	click(t, tab, annRow+" button.mute")
	waitJS(t, tab, `document.querySelector('`+annRow+`[data-muted="true"] .badge.muted-p')`, 5*time.Second)
	time.Sleep(200 * time.Millisecond) // the mixer's fade and the jitter buffers
	ben.ResetRecording()
	cy.ResetRecording()
	time.Sleep(1500 * time.Millisecond)
	if rec := ben.Recording(); len(rec) < 8000 || dsp.HasTone(rec, 8000, 1000) || !dsp.HasTone(rec, 8000, 600) {
		t.Errorf("ben, ann muted: 1000 Hz %v (want false), cy's 600 Hz %v (want true), %d samples",
			dsp.HasTone(rec, 8000, 1000), dsp.HasTone(rec, 8000, 600), len(rec))
	}
	if rec := cy.Recording(); len(rec) < 8000 || dsp.HasTone(rec, 8000, 1000) {
		t.Errorf("cy still hears the muted ann (%d samples)", len(rec))
	}
	click(t, tab, annRow+" button.mute") // now "Unmute"
	waitJS(t, tab, `document.querySelector('`+annRow+`[data-muted="false"]')`, 5*time.Second)
	ben.ResetRecording()
	ben.WaitTone(t, 1000, 5*time.Second)
	time.Sleep(time.Second) // the recording hears ann again

	click(t, tab, "#conf-record") // stop
	click(t, tab, "#tab-recordings")
	waitJS(t, tab, `document.querySelectorAll("#recs-body tr").length === 1 && !document.querySelector("#recs-body button.play").disabled`, 10*time.Second)
	click(t, tab, "#recs-body button.play")
	waitJS(t, tab, `document.getElementById("player-audio").dataset.state === "playing"`, 10*time.Second)
	js[chromedp.Void](t, tab, `document.getElementById("player-audio").playbackRate = 4`)
	waitJS(t, tab, `document.getElementById("player-audio").dataset.state === "ended" && document.getElementById("player-audio").ended`, 20*time.Second)
	if d := js[float64](t, tab, `document.getElementById("player-audio").duration`); d < 1 {
		t.Errorf("the recording played %.1f s, want at least 1 s", d)
	}
	checkMutedInRecording(t, e, js[string](t, tab, `document.querySelector("#recs-body tr").dataset.id`))
	screenshot(t, tab, dir, "recordings", "recordings", "#recs-body tr.selected", "#recs-body button.download", "#player-audio")

	// Lock ("l"): a newcomer gets 403; eject cy from her row: her call ends.
	click(t, tab, "#tab-conferences")
	do(t, tab, chromedp.KeyEvent("l"))
	waitJS(t, tab, `document.querySelector('#conf-list li.selected').textContent.includes("locked") && document.getElementById("conf-lock").textContent.startsWith("Unlock")`, 5*time.Second)
	var re *endpoint.ResponseError
	if _, err := sbt.NewPhone(t, "late").DialContext(context.Background(), uri, endpoint.EstablishOptions{}); !errors.As(err, &re) || re.Code != 403 {
		t.Errorf("joining the locked conference: %v, want 403", err)
	}
	click(t, tab, `#roster tr[data-uri*="cy@"] button.eject`)
	cy.WaitTerminated(t, 5*time.Second)
	waitJS(t, tab, `!document.querySelector('#roster tr[data-uri*="cy@"]')`, 5*time.Second)
	ann.Hangup(t)
	ben.Hangup(t)
}

// TestConsoleTokenEscapingAndEndedCall: with a token, the console asks
// for it and its event stream works through a ticket; a caller whose
// display name is HTML is shown as text (no element made, no script
// run); "p" parks the selected call and its lamp lights in a field of
// every orbit of two ranges; hanging up the
// orbit ends it; transferring the call that has
// just ended says so; the event log lists what happened.
func TestConsoleTokenEscapingAndEndedCall(t *testing.T) {
	// Two orbit ranges, one with leading zeros: the busy-lamp field shows
	// every orbit of both.
	e := startAdminServer(t, "s3cret-token", func(c *Config) {
		c.Apps.Park.Orbits = []park.OrbitRange{{Start: "7000", End: "7009"}, {Start: "0100", End: "0104"}}
	})
	dir := artefacts(t)
	tab := newTab(t, e)
	waitJS(t, tab, `!document.getElementById("login").hidden`, 5*time.Second)
	typeInto(t, tab, "#login-token", "wrong")
	click(t, tab, `#login button[type="submit"]`)
	waitJS(t, tab, `document.getElementById("login-error").textContent.includes("refused")`, 5*time.Second)
	typeInto(t, tab, "#login-token", e.token)
	click(t, tab, `#login button[type="submit"]`)
	ready(t, tab)

	// The call starts after the page has loaded: it can only appear
	// through the event stream (opened with a ticket).
	const evil = `<img src=x onerror=window.__pwned=1><b id=pwned>Boss</b>`
	ph := sbt.NewPhone(t, "mallory", sbt.PhoneOptions{Settings: endpoint.Settings{DisplayName: evil}})
	pc := ph.Dial(t, fmt.Sprintf("sip:echo@127.0.0.1:%d", e.port))
	row := `#calls-body tr[data-id="` + pc.CallID() + `"]`
	waitJS(t, tab, `document.querySelector('`+row+` td.from') && document.querySelector('`+row+` td.from').textContent.includes("Boss")`, 5*time.Second)
	if got := js[string](t, tab, `document.querySelector('`+row+` td.from').textContent`); !strings.HasPrefix(got, evil+" <sip:mallory@") {
		t.Errorf("caller shown as %q, want the display name as text", got)
	}
	if n := js[int](t, tab, `document.querySelectorAll("#pwned, #calls-body img, #calls-body b").length + (window.__pwned ? 100 : 0)`); n != 0 {
		t.Errorf("the display name became markup (%d)", n)
	}
	typeInto(t, tab, "#calls-target", "sip:nobody@127.0.0.1:9")
	click(t, tab, row) // selects it
	screenshot(t, tab, dir, "calls", "calls-escaped", row+".selected td.from", row+" button.transfer")

	// The attendant parks the call ("p" on the selected row); the lamp
	// lights; "Hang up selected" on the orbit ends the call.
	do(t, tab, chromedp.KeyEvent("p"))
	waitJS(t, tab, `/^Parked on orbit \d+\.$/.test(document.getElementById("message").textContent)`, 5*time.Second)
	orbit := strings.TrimSuffix(strings.TrimPrefix(js[string](t, tab, `document.getElementById("message").textContent`), "Parked on orbit "), ".")
	click(t, tab, "#tab-orbits")
	lamps := js[[]string](t, tab, `[...document.querySelectorAll("#blf .lamp")].map((b) => b.dataset.orbit)`)
	if len(lamps) != 15 || lamps[0] != "7000" || lamps[9] != "7009" || lamps[10] != "0100" || lamps[14] != "0104" {
		t.Errorf("busy lamps %v, want 7000–7009 then 0100–0104", lamps)
	}
	lamp := `#blf .lamp[data-orbit="` + orbit + `"]`
	waitJS(t, tab, `document.querySelector('`+lamp+`.occupied') && document.querySelector('`+lamp+`').textContent.includes("mallory@")`, 5*time.Second)
	click(t, tab, lamp)
	click(t, tab, "#orbit-hangup")
	pc.WaitTerminated(t, 5*time.Second)
	waitJS(t, tab, `document.querySelector('`+lamp+`[data-state="free"]')`, 5*time.Second)
	click(t, tab, "#tab-calls")
	waitJS(t, tab, `document.querySelector('`+row+`.ended')`, 5*time.Second)
	click(t, tab, row+" button.transfer")
	waitJS(t, tab, `document.getElementById("message").dataset.kind === "error" && document.getElementById("message").textContent.includes("has already ended")`, 5*time.Second)
	screenshot(t, tab, dir, "calls", "calls-ended", "#message", row+".ended")
	screenshot(t, tab, dir, "events", "events", `#event-log li[data-type="call"]`)
	if log := js[string](t, tab, `document.getElementById("event-log").textContent`); !strings.Contains(log, "terminated") || !strings.Contains(log, "sip:echo@") {
		t.Errorf("event log %q: want the call's states", log)
	}
	if n := js[int](t, tab, `document.querySelectorAll("#event-log img, #event-log b").length`); n != 0 {
		t.Errorf("the event log made %d elements of the display name", n)
	}
	// Tickets open their own path only, for a GET.
	var tk struct{ Ticket string }
	code, body := e.do(t, "POST", "/api/v1/tickets", map[string]string{"path": "/api/v1/events"})
	if code != 201 {
		t.Fatalf("ticket: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &tk); err != nil || tk.Ticket == "" {
		t.Fatalf("ticket %s: %v", body, err)
	}
	status := func(method, path string) int {
		req, _ := http.NewRequest(method, e.base+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := status("GET", "/api/v1/calls?ticket="+tk.Ticket); code != 401 {
		t.Errorf("a ticket for the events opened /api/v1/calls: %d", code)
	}
	if code := status("POST", "/api/v1/drain?ticket="+tk.Ticket); code != 401 {
		t.Errorf("a ticket allowed a POST: %d", code)
	}
	if code := status("GET", "/api/v1/events?ticket=forged"); code != 401 {
		t.Errorf("a forged ticket: %d, want 401", code)
	}
	if code := status("GET", "/"); code != 200 {
		t.Errorf("the console page without the token: %d, want 200", code)
	}
	if code, _ := e.do(t, "POST", "/api/v1/tickets", map[string]string{"path": "/api/v1/calls"}); code != 400 {
		t.Errorf("a ticket for /api/v1/calls: %d, want 400", code)
	}
}

// checkMutedInRecording reads the conference recording id and checks, in
// 250 ms windows, that ann's 1000 Hz is heard before and after her mute
// and that there is a second or more of cy's 600 Hz without it (the mute).
func checkMutedInRecording(t *testing.T, e *adminEnv, id string) {
	t.Helper()
	code, b := e.do(t, "GET", "/api/v1/recordings/"+id+"/audio", nil)
	if code != 200 {
		t.Fatalf("download: %d", code)
	}
	rec, err := sbt.ParseRecording(b)
	if err != nil {
		t.Fatal(err)
	}
	var pattern strings.Builder // A: ann and cy, c: cy alone, .: neither
	run, longest := 0, 0
	samples, w := rec.Channels[0], rec.SampleRate/4
	for i := 0; i+w <= len(samples); i += w {
		ann, cy := dsp.HasTone(samples[i:i+w], rec.SampleRate, 1000), dsp.HasTone(samples[i:i+w], rec.SampleRate, 600)
		switch {
		case ann:
			pattern.WriteByte('A')
			run = 0
		case cy:
			pattern.WriteByte('c')
			run++
			longest = max(longest, run)
		default:
			pattern.WriteByte('.')
			run = 0
		}
	}
	p := pattern.String()
	t.Logf("recording %s in 250 ms windows (A ann, c cy alone): %s", id, p)
	first, last := strings.IndexByte(p, 'A'), strings.LastIndexByte(p, 'A')
	if first < 0 || longest < 4 || !strings.Contains(p[first:last+1], strings.Repeat("c", 4)) {
		t.Errorf("recording (250 ms windows; A ann, c cy alone): %s; want ann, a second or more of cy alone (ann muted), ann again", p)
	}
}

// TestConsoleThousandCalls: with 1,000 live SIPp calls (which the page
// learns of from the event stream), the calls view renders one page of 50
// rows, says how many there are, and pages and selects with the keyboard;
// "h" hangs up the selected call (SIPp gets its BYE); the server then
// hangs up the others and the view empties.
func TestConsoleThousandCalls(t *testing.T) {
	e := startAdminServer(t, "", func(c *Config) { c.Calls.RTPTimeout = -1 })
	dir := artefacts(t)
	tab := newTab(t, e)
	ready(t, tab)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sipp := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippWaitBye), "-s", "echo", "-m", "1000", "-r", "250", "-l", "1000",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", e.port))
	took := waitJS(t, tab, `document.getElementById("count-calls").textContent === "1000"`, 30*time.Second)
	t.Logf("the console counted 1,000 live calls %v after SIPp started", took)
	waitJS(t, tab, `document.getElementById("calls-range").textContent === "1–50 of 1000 calls"`, 2*time.Second)
	if n := js[int](t, tab, `document.querySelectorAll("#calls-body tr").length`); n != 50 {
		t.Errorf("%d rows rendered, want one page of 50", n)
	}
	screenshot(t, tab, dir, "calls", "calls-1000", "#calls-body tr:nth-child(50)", "#calls-next:enabled")
	do(t, tab, chromedp.KeyEvent("]"))
	waitJS(t, tab, `document.getElementById("calls-range").textContent === "51–100 of 1000 calls" && document.querySelectorAll("#calls-body tr").length === 50`, 2*time.Second)
	do(t, tab, chromedp.KeyEvent("j"), chromedp.KeyEvent("j"))
	sel := `[...document.querySelectorAll("#calls-body tr")].findIndex((tr) => tr.classList.contains("selected"))`
	if i := js[int](t, tab, sel); i != 2 {
		t.Fatalf("after j j the selected row is %d, want 2", i)
	}
	id := js[string](t, tab, `document.querySelector("#calls-body tr.selected").dataset.id`)
	do(t, tab, chromedp.KeyEvent("h"))
	waitJS(t, tab, `document.querySelector('#calls-body tr.ended[data-id="`+id+`"]') && document.getElementById("count-calls").textContent === "999"`, 5*time.Second)

	// 1,000 BYEs at once would overflow SIPp's socket and wait for
	// their retransmissions: 20 at a time.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for _, c := range endpoint.Calls(e.s.Platform) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.Terminate(ctx)
		})
	}
	wg.Wait()
	if res := sipp.Wait(); res.ExitCode != 0 || res.Successful != 1000 {
		t.Fatalf("sipp: exit %d, %d/1000 successful (a BYE missing)\n%s", res.ExitCode, res.Successful, res.ErrorLog)
	}
	waitJS(t, tab, `document.getElementById("count-calls").textContent === "0"`, 10*time.Second)
}
