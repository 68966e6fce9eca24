package ivr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/ivr"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

func startApp(t *testing.T, menu string, cfg ivrapp.Config) *switchboardtest.Server {
	t.Helper()
	srv := switchboardtest.NewServer(t)
	opts := []ivrapp.Option{ivrapp.WithLogger(switchboardtest.Logger(t))}
	if menu != "" {
		m, err := ivrapp.ParseMenu("test.yaml", []byte(menu))
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, ivrapp.WithMenu(m))
	}
	confs, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, ivrapp.WithConferences(confs))
	if cfg.MessageDir == "" {
		cfg.MessageDir = t.TempDir()
	}
	if _, err := ivrapp.New(srv.Platform, cfg, opts...); err != nil {
		t.Fatal(err)
	}
	return srv
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestDemoMenu: a phone dials the default app (embedded demo menu),
// hears the menu (speech energy), presses 1 (RFC 4733) and hears its own
// 440 Hz echoed.
func TestDemoMenu(t *testing.T) {
	srv := startApp(t, "", ivrapp.Config{})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("ivr"))
	defer call.Hangup(t)
	if rms := dsp.RMS(call.Listen(t, 2*time.Second)); rms < 0.01 {
		t.Fatalf("menu prompt rms %.4f: silent", rms)
	}
	if err := call.SendDTMF(ctx5(t), "1"); err != nil {
		t.Fatal(err)
	}
	call.StartTone(440)
	call.WaitTone(t, 440, 5*time.Second)
}

const menuTmpl = `
start: main
nodes:
  main:
    prompt: ["tone:500:3s"]
    retries: 1
    invalid: ["tone:700:300ms"]
    no_input: ["tone:900:300ms"]
    digits: {first_timeout: 400ms}
    keys:
      "1": {do: transfer, uri: "%s"}
      "4": {do: record, node: bye}
      "6": {do: goto, node: ext}
    on_fail: {do: hangup, prompt: ["tone:300:300ms"]}
  ext:
    prompt: ["tone:600:2s"]
    digits: {max: 4, pattern: "[0-9]{4}"}
    default: {do: play, prompt: ["tone:1000:300ms"], node: bye}
  bye:
    prompt: ["tone:1200:300ms"]
    next: {do: hangup}
`

// TestMenuTransfer: 1 (SIP INFO) transfers the caller by REFER to bob,
// who then hears the caller's 700 Hz.
func TestMenuTransfer(t *testing.T) {
	bob := switchboardtest.NewPhone(t, "bob")
	srv := startApp(t, fmt.Sprintf(menuTmpl, bob.URI()), ivrapp.Config{})
	alice := switchboardtest.NewPhone(t, "alice")
	call := alice.Dial(t, srv.URI("ivr"))
	call.WaitTone(t, 500, 3*time.Second)
	if err := call.SendDTMFInfo(ctx5(t), "1"); err != nil {
		t.Fatal(err)
	}
	transferred := alice.NextCall(t)
	defer transferred.Hangup(t)
	atBob := bob.NextCall(t)
	transferred.StartTone(700)
	atBob.WaitTone(t, 700, 5*time.Second)
}

// TestMenuInvalidAndNoInput: 9 is not in the menu: the invalid prompt,
// then the menu again; then no input: the no-input prompt, and after the
// retries the on_fail prompt and a BYE.
func TestMenuInvalidAndNoInput(t *testing.T) {
	srv := startApp(t, fmt.Sprintf(menuTmpl, "sip:nobody@127.0.0.1"), ivrapp.Config{})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("ivr"))
	call.WaitTone(t, 500, 3*time.Second)
	if err := call.SendDTMF(ctx5(t), "9"); err != nil {
		t.Fatal(err)
	}
	call.WaitTone(t, 700, 3*time.Second)
	call.WaitTone(t, 500, 3*time.Second)
	call.WaitTone(t, 900, 6*time.Second) // no input on the retry
	call.WaitTone(t, 300, 3*time.Second)
	call.WaitTerminated(t, 3*time.Second)
}

// TestMenuDigitsInBand: 6 then four digits and # as in-band tones reach
// the ext node's default action (its tone), then bye and a hang-up.
func TestMenuDigitsInBand(t *testing.T) {
	srv := startApp(t, fmt.Sprintf(menuTmpl, "sip:nobody@127.0.0.1"), ivrapp.Config{})
	ph := switchboardtest.NewPhone(t, "carol", switchboardtest.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMU"}}})
	call := ph.Dial(t, srv.URI("ivr"))
	call.WaitTone(t, 500, 3*time.Second)
	if err := call.SendDTMF(ctx5(t), "6"); err != nil {
		t.Fatal(err)
	}
	call.WaitTone(t, 600, 3*time.Second)
	if err := call.SendDTMF(ctx5(t), "4242#"); err != nil {
		t.Fatal(err)
	}
	call.WaitTone(t, 1000, 3*time.Second)
	call.WaitTone(t, 1200, 3*time.Second)
	call.WaitTerminated(t, 3*time.Second)
}

// TestMenuSameForEveryDTMFMethod: the same menu and the same key presses
// (6, then 4242#) lead to the same nodes whether the phone sends RFC 4733
// events, SIP INFO or in-band tones.
func TestMenuSameForEveryDTMFMethod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		codecs []string // the phone's; without telephone-event, DTMF goes in-band
		info   bool
	}{
		{"rfc4733", nil, false},
		{"sip info", nil, true},
		{"in-band", []string{"PCMU"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startApp(t, fmt.Sprintf(menuTmpl, "sip:nobody@127.0.0.1"), ivrapp.Config{})
			ph := switchboardtest.NewPhone(t, "dana", switchboardtest.PhoneOptions{Settings: endpoint.Settings{Codecs: tc.codecs}})
			call := ph.Dial(t, srv.URI("ivr"))
			send := func(keys string) {
				t.Helper()
				var err error
				if tc.info {
					err = call.SendDTMFInfo(ctx5(t), keys)
				} else {
					err = call.SendDTMF(ctx5(t), keys)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			call.WaitTone(t, 500, 3*time.Second)
			send("6")
			call.WaitTone(t, 600, 3*time.Second)
			send("4242#")
			call.WaitTone(t, 1000, 3*time.Second)
			call.WaitTone(t, 1200, 3*time.Second)
			call.WaitTerminated(t, 3*time.Second)
		})
	}
}

// TestMenuRecord: 4 records a message: after the beep the caller's 700 Hz
// goes into the file, # ends it, and the caller hears it played back.
func TestMenuRecord(t *testing.T) {
	dir := t.TempDir()
	srv := startApp(t, fmt.Sprintf(menuTmpl, "sip:nobody@127.0.0.1"), ivrapp.Config{MessageDir: dir})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("ivr"))
	defer call.Hangup(t)
	call.WaitTone(t, 500, 3*time.Second)
	if err := call.SendDTMF(ctx5(t), "4"); err != nil {
		t.Fatal(err)
	}
	call.WaitTone(t, ivr.BeepHz, 3*time.Second)
	if err := call.Play(ctx5(t), dsp.Sine(8000, 700, 1500*time.Millisecond, 0.3)); err != nil { // paced, real time
		t.Fatal(err)
	}
	if err := call.SendDTMF(ctx5(t), "#"); err != nil {
		t.Fatal(err)
	}
	call.WaitTone(t, 700, 10*time.Second) // the message played back
	files, _ := filepath.Glob(filepath.Join(dir, "message-*.wav"))
	if len(files) != 1 {
		t.Fatalf("message files %v", files)
	}
	rec := switchboardtest.ReadRecording(t, files[0])
	if f := dsp.ToneFraction(rec.Channel(t, 0), 8000, 700); f < 0.3 {
		t.Fatalf("700 Hz in %.0f%% of the message (%v)", f*100, rec.Duration())
	}
}

// TestWebhook: the webhook answers the call with a gather; the digits are
// POSTed back and the next verbs (a tone, hang-up) run.
func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	var got []ivrapp.WebhookRequest
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ivrapp.WebhookRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		switch req.Event {
		case "call":
			fmt.Fprint(w, `{"verbs":[{"verb":"set","variables":{"lang":"en"}},{"verb":"gather","prompt":["tone:500:3s"],"max_digits":3,"action":"`+"http://"+r.Host+`/digits"}]}`)
		case "gather":
			fmt.Fprintf(w, `{"verbs":[{"verb":"play","prompt":["tone:800:500ms"]},{"verb":"hangup"}]}`)
		}
	}))
	defer hook.Close()
	srv := startApp(t, fmt.Sprintf(menuTmpl, "sip:nobody@127.0.0.1"), ivrapp.Config{Webhook: ivrapp.WebhookConfig{URL: hook.URL + "/call"}})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("ivr"))
	call.WaitTone(t, 500, 3*time.Second)
	if err := call.SendDTMF(ctx5(t), "42#"); err != nil {
		t.Fatal(err)
	}
	call.WaitTone(t, 800, 3*time.Second)
	call.WaitTerminated(t, 3*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[1].Event != "gather" || got[1].Digits != "42" || got[1].Variables["lang"] != "en" || !strings.HasPrefix(got[0].From, "sip:alice@") {
		t.Fatalf("webhook requests %+v", got)
	}
}

// TestWebhookFailures: a webhook down, too slow, answering an error,
// garbage or an unknown verb sends the caller to the fallback node (its
// tone), then a hang-up.
func TestWebhookFailures(t *testing.T) {
	slow := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		case "/500":
			w.WriteHeader(500)
		case "/garbage":
			fmt.Fprint(w, `{"verbs":[{"verb":"play",`)
		case "/unknown":
			fmt.Fprint(w, `{"verbs":[{"verb":"explode"}]}`)
		case "/huge":
			fmt.Fprint(w, `{"verbs":[{"verb":"play","prompt":["`+strings.Repeat("x", 100<<10)+`"]}]}`)
		}
	}))
	defer hook.Close()
	defer close(slow) // before Close, which waits for the slow handler
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	for _, u := range []string{downURL, hook.URL + "/slow", hook.URL + "/500", hook.URL + "/garbage", hook.URL + "/unknown", hook.URL + "/huge"} {
		t.Run(strings.TrimPrefix(u, hook.URL), func(t *testing.T) {
			srv := startApp(t, fmt.Sprintf(menuTmpl, "sip:nobody@127.0.0.1"), ivrapp.Config{Webhook: ivrapp.WebhookConfig{
				URL: u, Timeout: 500 * time.Millisecond, Fallback: "bye",
			}})
			call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("ivr"))
			call.WaitTone(t, 1200, 3*time.Second)
			call.WaitTerminated(t, 3*time.Second)
		})
	}
}

// TestBadMenus: every kind of bad menu fails at start-up with file, line
// and key.
func TestBadMenus(t *testing.T) {
	for _, tc := range []struct{ menu, want string }{
		{"nodes:\n  main:\n    keys:\n      \"1\": {do: goto, node: nowhere}\n", `test.yaml:4: nodes.main.keys.1.node: no node "nowhere"`},
		{"nodes:\n  main:\n    keys:\n      \"1\": {do: dance}\n", `test.yaml:4: nodes.main.keys.1.do: unknown action "dance"`},
		{"nodes:\n  main:\n    prompt: [nope]\n    keys: {\"1\": {do: hangup}}\n", `test.yaml:3: nodes.main.prompt: no prompt "nope"`},
		{"prompts: {hi: /nonexistent/hi.wav}\nnodes:\n  main:\n    keys: {\"1\": {do: hangup}}\n", `prompts.hi`},
		{"nodes:\n  main:\n    next: {do: goto, node: b}\n  b:\n    next: {do: play, node: main}\n", `loop of nodes that never wait for input`},
		{"start: x\nnodes:\n  main:\n    next: {do: hangup}\n", `start: no node "x"`},
		{"nodes:\n  main:\n    keys:\n      \"1\": {do: bridge}\n", `test.yaml:4: nodes.main.keys.1.uri: bridge needs a uri`},
		// Unknown keys, at every depth, were once silently ignored.
		{"strat: main\nnodes:\n  main:\n    next: {do: hangup}\n", `test.yaml:1: strat: unknown key`},
		{"nodes:\n  main:\n    promt: [menu]\n    next: {do: hangup}\n", `test.yaml:3: nodes.main.promt: unknown key (want one of prompt, digits,`},
		{"nodes:\n  main:\n    keys:\n      \"1\": {do: goto, nod: main}\n", `test.yaml:4: nodes.main.keys.1.nod: unknown key`},
		{"nodes:\n  main:\n    digits:\n      maximum: 4\n    keys: {\"1\": {do: hangup}}\n", `test.yaml:4: nodes.main.digits.maximum: unknown key`},
		{"nodes:\n  main:\n    keys: {\"1\": {do: hangup}}\n    on_fail: {do: hangup, promt: [goodbye]}\n", `test.yaml:4: nodes.main.on_fail.promt: unknown key`},
	} {
		_, err := ivrapp.ParseMenu("test.yaml", []byte(tc.menu))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("menu %q: error %v; want %q", tc.menu, err, tc.want)
		}
	}
	srv := switchboardtest.NewServer(t)
	if _, err := ivrapp.New(srv.Platform, ivrapp.Config{Menu: "/nonexistent/menu.yaml"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/menu.yaml") {
		t.Errorf("missing menu file: %v", err)
	}
	if _, err := ivrapp.New(srv.Platform, ivrapp.Config{User: "x", MessageDir: t.TempDir(), Webhook: ivrapp.WebhookConfig{URL: "ftp://x", Fallback: "main"}}); err == nil || !strings.Contains(err.Error(), "webhook.url") {
		t.Errorf("bad webhook url: %v", err)
	}
}
