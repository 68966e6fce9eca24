// Package ivr is the bundled IVR app: sip:ivr@host runs a menu given as
// data (YAML, see Menu; the embedded demo menu by default), or hands calls
// to a programmable webhook (see Webhook and docs/ivr-webhook.md). It is
// built on the play-and-collect engine of package
// github.com/switchboard-sip/switchboard/ivr.
//
// Like every bundled app it is built with New on a platform, which closes
// it on Shutdown or Close:
//
//	app, err := ivr.New(p, ivr.Config{Menu: "menu.yaml"}, ivr.WithConferences(confs))
//
// A bad menu (a missing node or prompt file, an unknown action, a loop
// that never waits for input) fails New with file, line and key. At run
// time a failing action (a transfer refused, an unreachable webhook) plays
// the fallback and hangs up; nothing panics and no call is leaked.
package ivr

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/ivr"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/platform"
	"github.com/switchboard-sip/switchboard/recorder"
)

//go:embed demo.yaml
var demoMenu []byte

// DefaultMessageDir is the default directory of recorded messages,
// relative to the working directory; unlike a configured one, it is
// created when missing.
const DefaultMessageDir = "messages"

// Config configures the IVR app. The zero value serves the demo menu at
// sip:ivr@host.
type Config struct {
	// User is the user part the app answers, sip:<user>@host. Default
	// "ivr".
	User string `yaml:"user"`
	// Menu is a YAML menu file (see Menu). Default: the embedded demo.
	Menu string `yaml:"menu"`
	// MessageDir is where the record action writes. Default "messages"
	// (created if missing); another directory must exist.
	MessageDir string `yaml:"message_dir"`
	// Webhook, when its URL is set, receives every call on arrival.
	Webhook WebhookConfig `yaml:"webhook"`
}

// Option configures an App.
type Option func(*App)

// WithLogger sets the logger. Default: the platform's.
func WithLogger(l *slog.Logger) Option { return func(a *App) { a.log = l } }

// WithConferences gives the conference action its service; without it
// the action plays the fallback.
func WithConferences(s *conference.Service) Option { return func(a *App) { a.confs = s } }

// WithPark gives the retrieve action the park service of this platform:
// a caller is then connected to the parked call in process, with the park
// rules applied to the caller's own identity. Without it the action dials
// the orbit's URI, and the park service sees the IVR, not the caller.
func WithPark(s *park.Service) Option { return func(a *App) { a.park = s } }

// WithMenu sets the menu, instead of Config.Menu.
func WithMenu(m *Menu) Option { return func(a *App) { a.menu = m } }

// App is the IVR app on a platform.
type App struct {
	p     *platform.Platform
	cfg   Config
	log   *slog.Logger
	menu  *Menu
	confs *conference.Service
	park  *park.Service
	hook  *webhook
	ep    *endpoint.Endpoint

	calls apps.Calls // served now; Close ends them
}

// New loads and validates the menu, puts the app on p at
// sip:<cfg.User>@host and registers it with p, which closes it on
// Shutdown or Close.
func New(p *platform.Platform, cfg Config, opts ...Option) (*App, error) {
	if cfg.User == "" {
		cfg.User = "ivr"
	}
	a := &App{p: p, cfg: cfg}
	for _, o := range opts {
		o(a)
	}
	if a.log == nil {
		a.log = p.Logger().With("subsystem", "ivr")
	}
	var err error
	if a.menu == nil {
		if cfg.Menu == "" {
			a.menu, err = ParseMenu("embedded demo.yaml", demoMenu)
		} else {
			a.menu, err = LoadMenu(cfg.Menu)
		}
		if err != nil {
			return nil, err
		}
	}
	if a.cfg.MessageDir == "" {
		a.cfg.MessageDir = DefaultMessageDir
	}
	if a.cfg.MessageDir == DefaultMessageDir {
		if err := os.MkdirAll(a.cfg.MessageDir, 0o755); err != nil {
			return nil, fmt.Errorf("ivr: %w", err)
		}
	}
	if st, err := os.Stat(a.cfg.MessageDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("ivr: message directory %s: not a directory (%v)", a.cfg.MessageDir, err)
	}
	if a.hook, err = newWebhook(cfg.Webhook, a.menu, a.log); err != nil {
		return nil, err
	}
	if a.ep, err = endpoint.NewApplication(p, endpoint.Settings{OwnerURI: "sip:" + cfg.User + "@" + p.Host(), DisplayName: "IVR"}); err != nil {
		return nil, fmt.Errorf("ivr: %w", err)
	}
	a.ep.HandleCalls(endpoint.HandlerFunc(a.serveCall))
	if err := p.Register(a); err != nil {
		return nil, fmt.Errorf("ivr: %w", err)
	}
	return a, nil
}

// Endpoint returns the app's endpoint.
func (a *App) Endpoint() *endpoint.Endpoint { return a.ep }

// Close takes the app off the dial plan and ends the calls it serves. It
// is idempotent.
func (a *App) Close() error {
	_ = a.ep.Close()
	a.calls.Close()
	return nil
}

// run is one caller in the menu.
type run struct {
	a    *App
	c    *endpoint.Call
	s    *ivr.Session
	log  *slog.Logger
	vars map[string]string
}

func (a *App) serveCall(ctx context.Context, c *endpoint.Call) {
	ctx, done, ok := a.calls.Enter(ctx)
	if !ok {
		_ = c.Decline(ctx, 503)
		return
	}
	defer done()
	if err := c.Accept(ctx); err != nil {
		return
	}
	s := ivr.NewSession(c)
	defer s.Close()
	caller := c.RemoteURI()
	if u, err := endpoint.ParseURI(caller); err == nil {
		caller = u.User
	}
	r := &run{a: a, c: c, s: s, log: a.log.With("call_id", c.CallID()), vars: map[string]string{
		"caller": caller, "host": a.p.Host(), "digits": "",
	}}
	if a.hook != nil {
		a.hook.serve(ctx, r, a.hook.cfg.URL)
		return
	}
	r.node(ctx, a.menu.Start)
}

// node runs the menu from node name until the caller leaves or an action
// ends the call.
func (r *run) node(ctx context.Context, name string) {
	m := r.a.menu
	for steps := 0; name != "" && ctx.Err() == nil; steps++ {
		if steps > 1000 { // validated menus wait for input; this is a backstop
			r.log.Warn("ivr: too many steps without an end", "node", name)
			return
		}
		n := m.Nodes[name]
		if n.Next != nil {
			if err := r.s.Play(ctx, m.prompts(n.Prompt)...); err != nil {
				return
			}
			name = r.act(ctx, name, n.Next)
			continue
		}
		retries := 2
		if n.Retries != nil {
			retries = *n.Retries
		}
		invalid, noInput := n.Invalid, n.NoInput
		if invalid == nil {
			invalid = []string{"invalid"}
		}
		if noInput == nil {
			noInput = []string{"noinput"}
		}
		opts := ivr.CollectOptions{
			Prompts: m.prompts(n.Prompt), MinDigits: n.Digits.Min, MaxDigits: n.Digits.Max,
			Terminators: n.Digits.Terminator, FirstDigitTimeout: n.Digits.FirstTimeout,
			InterDigitTimeout: n.Digits.InterTimeout, Retries: retries,
			InvalidPrompt: m.prompts(invalid), NoInputPrompt: m.prompts(noInput),
		}
		var pattern *regexp.Regexp
		if n.Digits.Pattern != "" {
			pattern = regexp.MustCompile(n.Digits.Pattern) // validated
		}
		// Input that names no key and has no default is invalid too.
		if n.Default == nil || pattern != nil {
			opts.Pattern = keyPattern(n, pattern)
		}
		res, err := r.s.Collect(ctx, opts)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !errors.Is(err, ivr.ErrNoInput) && !errors.Is(err, ivr.ErrInvalid) {
				r.log.Warn("ivr: collect failed", "node", name, "error", err)
			}
			fail := n.OnFail
			if fail == nil {
				fail = &Action{Do: "hangup", Prompt: []string{"goodbye"}}
			}
			name = r.act(ctx, name, fail)
			continue
		}
		r.vars["digits"] = res.Digits
		act, ok := n.Keys[res.Digits]
		if !ok {
			act = n.Default
		}
		name = r.act(ctx, name, act)
	}
}

// keyPattern is the pattern of valid input: a key of the node, or what
// the node's own pattern (with a default) accepts.
func keyPattern(n *Node, own *regexp.Regexp) *regexp.Regexp {
	var alts []string
	for k := range n.Keys {
		alts = append(alts, regexp.QuoteMeta(k))
	}
	if own != nil && n.Default != nil {
		alts = append(alts, "(?:"+own.String()+")")
	}
	if len(alts) == 0 {
		return regexp.MustCompile(`$.^`) // nothing is valid
	}
	return regexp.MustCompile("^(?:" + strings.Join(alts, "|") + ")$")
}

// expand replaces ${name} with the run's variables.
func (r *run) expand(s string) string {
	return os.Expand(s, func(k string) string { return r.vars[k] })
}

// fallback plays the voice's "invalid" and "goodbye"; the caller hangs
// up when the handler returns.
func (r *run) fallback(ctx context.Context) {
	v := ivr.Voice()
	_ = r.s.Play(ctx, v["invalid"], v["goodbye"])
}

// act runs an action and returns the node to go to, "" to end the call.
func (r *run) act(ctx context.Context, from string, a *Action) string {
	m := r.a.menu
	if err := r.s.Play(ctx, m.prompts(a.Prompt)...); err != nil {
		return ""
	}
	switch a.Do {
	case "goto", "play":
		return a.Node
	case "hangup":
		return ""
	case "echo":
		r.echo(ctx)
		return ""
	case "transfer":
		target := r.expand(a.URI)
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.c.Transfer(tctx, target, endpoint.TransferOptions{}); err != nil {
			r.log.Warn("ivr: transfer failed", "node", from, "target", target, "error", err)
			r.fallback(ctx)
		}
		return ""
	case "bridge":
		r.bridge(ctx, from, r.expand(a.URI))
		return ""
	case "retrieve":
		orbit := "${digits}"
		if a.Orbit != "" {
			orbit = a.Orbit
		}
		orbit = r.expand(orbit)
		if !orbitRE.MatchString(orbit) {
			r.log.Warn("ivr: retrieve: not an orbit", "node", from, "orbit", orbit)
			r.fallback(ctx)
			return ""
		}
		uri := "sip:" + orbit + "@" + r.a.p.URIHost()
		if a.URI != "" {
			uri = r.expand(a.URI)
		} else if r.a.park != nil {
			var ew *park.ElsewhereError
			switch err := r.a.park.Retrieve(ctx, r.c, orbit); {
			case err == nil:
				r.c.HandOff() // the parked call and the caller talk until either hangs up
				return ""
			case !errors.As(err, &ew):
				r.log.Info("ivr: retrieve", "node", from, "orbit", orbit, "error", err)
				r.fallback(ctx)
				return ""
			}
			// Held by another node: its park address bridges to the owner.
		}
		r.bridge(ctx, from, uri)
		return ""
	case "conference":
		r.conference(ctx, r.expand(a.Room))
		return ""
	case "record":
		r.record(ctx, a.Max)
		return a.Node
	case "webhook":
		url := a.URL
		if r.a.hook == nil && url == "" {
			r.log.Warn("ivr: webhook action without a url", "node", from)
			r.fallback(ctx)
			return ""
		}
		h := r.a.hook
		if h == nil {
			h = &webhook{cfg: defaultWebhook(WebhookConfig{URL: url}), menu: r.a.menu, log: r.a.log}
		}
		if url == "" {
			url = h.cfg.URL
		}
		return h.serve(ctx, r, url)
	}
	return ""
}

// orbitRE is what an orbit entered may be: it becomes a URI's user part.
var orbitRE = regexp.MustCompile(`^[0-9A-Za-z]{1,16}$`)

// bridgeRingTimeout bounds how long the far end of a bridge may ring.
const bridgeRingTimeout = 30 * time.Second

// bridge calls target from the app's endpoint and bridges the caller to
// it (b2b) until either side hangs up. A far end that refuses or does
// not answer gets the caller the fallback.
func (r *run) bridge(ctx context.Context, from, target string) {
	opts := b2b.Options{RingTimeout: bridgeRingTimeout}
	if r.a.park != nil {
		// A bridged party that blind-transfers the caller to this
		// platform's park address parks it in process.
		opts.TransferInProcess = r.a.park.TransferInProcess
	}
	b, err := b2b.New(b2b.Leg{Call: r.c}, b2b.Leg{Call: r.a.ep.NewConversation().NewCall(), Destination: target}, opts)
	if err == nil {
		err = b.Establish(ctx)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("ivr: bridge failed", "node", from, "target", target, "error", err)
			r.fallback(ctx)
		}
		return
	}
	select {
	case <-b.Done():
	case <-ctx.Done(): // the caller hung up, or the app closes
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = b.Terminate(tctx)
	}
}

// echo sends the caller's audio back until they hang up.
func (r *run) echo(ctx context.Context) {
	f := r.c.Flow()
	release, err := f.Receive("ivr echo", audio.SinkFunc(func(pcm []int16) { _ = f.WriteFrame(pcm) }), media.AudioOptions{})
	if err != nil {
		r.log.Warn("ivr: echo", "error", err)
		return
	}
	defer release()
	<-ctx.Done()
}

// conference puts the caller into conference id until they leave.
func (r *run) conference(ctx context.Context, id string) {
	if r.a.confs == nil {
		r.log.Warn("ivr: conference action without a conference service", "room", id)
		r.fallback(ctx)
		return
	}
	conf, ok := r.a.confs.Conference(id)
	if !ok {
		var err error
		if conf, err = r.a.confs.Create(id, conference.Options{}); err != nil {
			if conf, ok = r.a.confs.Conference(id); !ok { // created meanwhile?
				r.log.Warn("ivr: conference", "room", id, "error", err)
				r.fallback(ctx)
				return
			}
		}
	}
	if _, err := conf.Add(ctx, r.c, conference.AddOptions{}); err != nil {
		r.log.Warn("ivr: conference", "room", id, "error", err)
		r.fallback(ctx)
		return
	}
	select {
	case <-ctx.Done():
	case <-conf.Done():
	}
}

// record beeps, records the caller until # (or max, or 5 s of silence),
// then plays the message back. It returns the file, "" on failure.
func (r *run) record(ctx context.Context, max time.Duration) string {
	if max <= 0 {
		max = 2 * time.Minute
	}
	v := ivr.Voice()
	rec, err := recorder.New(recorder.Config{
		Dir: r.a.cfg.MessageDir, MaxDuration: max, SilenceTimeout: 5 * time.Second,
		CallID: r.c.CallID(), Name: "message-{start}-{id}",
	}, recorder.WithLogger(r.log))
	if err == nil {
		err = rec.AddCall(r.c, recorder.Heard, recorder.TrackOptions{Label: "message"})
	}
	if err == nil {
		err = r.s.Play(ctx, v["beep"])
	}
	r.s.Flush()
	if err == nil {
		err = rec.Start()
	}
	if err != nil {
		r.log.Warn("ivr: record", "error", err)
		r.fallback(ctx)
		return ""
	}
	keys := make(chan struct{})
	kctx, kcancel := context.WithCancel(ctx)
	go func() {
		defer close(keys)
		for {
			k, err := r.s.NextKey(kctx, 0)
			if err != nil || k == '#' {
				return
			}
		}
	}()
	select {
	case <-keys:
	case <-rec.Done():
	}
	kcancel()
	<-keys
	if err := rec.Stop("message ended"); err != nil {
		r.log.Warn("ivr: record", "error", err)
	}
	files := rec.Files()
	if ctx.Err() != nil || len(files) == 0 {
		return ""
	}
	path := recorder.Dir(r.a.cfg.MessageDir).Path(files[0])
	msg, err := ivr.OpenWAV(path)
	if err != nil {
		r.log.Warn("ivr: play back", "error", err)
		return path
	}
	_ = r.s.Play(ctx, v["playback"], msg)
	return path
}
