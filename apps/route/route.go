// Package route is the dial plan's last step: Switchboard as a trusted
// back-to-back user agent in front of a PBX or a carrier. Calls whose
// Request-URI user no bundled app claims are matched against an ordered
// list of rules (a user prefix or a regular expression, optionally for
// trusted sources only), and the first that matches places a back-to-back
// call to its target template, failing over to the next targets on 5xx or
// silence. No rule matching gives 404.
//
//	routes:
//	  - name: pbx
//	    match: '^(\d{4})$'             # four-digit extensions
//	    target: 'sip:${1}@pbx.example:5060'
//	    failover: ['sip:${1}@pbx-b.example:5060']
//	    impersonate: true              # the PBX sees the original caller
//	    headers: [X-Account]           # the only headers passed on
//	    record: stereo                 # caller left, PBX right (or true: one mono mix)
//	    codecs: [G722, PCMU]           # offered to the PBX in this order
//	  - name: carrier
//	    prefix: "00"
//	    trusted_only: true             # only your proxy may dial out
//	    target: 'sip:${user}@carrier.example'
//
// A route with codecs offers its target those formats in that order; the
// relay transcodes when the two legs settle on different codecs (a PCMU
// caller and a G.722 PBX), resampling between 8 and 16 kHz. Config.Codecs
// sets what the callers' side accepts, for every route (the INVITE is
// answered before the route is chosen). A recorded route writes a WAV
// file and a JSON sidecar per call into Config.RecordingDir with the
// recorder package, decoding each leg once while the relay keeps
// forwarding packets undecoded.
//
// Targets are templates: ${user} is the Request-URI user, ${1} to ${9}
// the groups of the rule's regular expression. The rules can be replaced
// while calls are up (SetRules; the server does it on SIGHUP): calls in
// progress keep the rule they matched.
package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
	"github.com/switchboard-sip/switchboard/recorder"
)

// Record says whether and how a route records its calls. In YAML:
// false (the default), true (one mono file mixing both legs) or stereo
// (the caller left, the target right).
type Record string

const (
	RecordOff    Record = ""
	RecordMono   Record = "mono"
	RecordStereo Record = "stereo"
)

// UnmarshalText reads true, false, mono or stereo.
func (r *Record) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "", "false", "off", "no":
		*r = RecordOff
	case "true", "on", "yes", "mono":
		*r = RecordMono
	case "stereo":
		*r = RecordStereo
	default:
		return fmt.Errorf("route: record %q: want true, false or stereo", b)
	}
	return nil
}

// Rule is one route.
type Rule struct {
	// Name labels the route in logs and the admin API (default: its
	// position, "route-1").
	Name string `yaml:"name"`
	// Prefix matches Request-URI users starting with it; Match is a
	// regular expression on the user instead. Exactly one is set.
	Prefix string `yaml:"prefix"`
	Match  string `yaml:"match"`
	// TrustedOnly refuses callers that are not trusted peers (403).
	TrustedOnly bool `yaml:"trusted_only"`
	// Target is the URI template leg 2 is placed at; Failover the
	// templates tried after it, in order.
	Target   string   `yaml:"target"`
	Failover []string `yaml:"failover"`
	// Impersonate presents the caller (From and P-Asserted-Identity) to
	// the target instead of the route's own identity.
	Impersonate bool `yaml:"impersonate"`
	// Headers is the allow-list of headers copied from the caller's
	// INVITE; no other header is passed on.
	Headers []string `yaml:"headers"`
	// RingTimeout bounds the whole attempt (default 60s); FailoverTimeout
	// is how long a target may stay silent before the next (default 5s).
	RingTimeout     time.Duration `yaml:"ring_timeout"`
	FailoverTimeout time.Duration `yaml:"failover_timeout"`
	// Record records the routed calls (default off; see Record).
	Record Record `yaml:"record"`
	// Codecs are the audio formats offered to the target, in order of
	// preference: any of PCMU, PCMA, G722 and telephone-event (see
	// endpoint.Settings.Codecs). Default: the route endpoint's (PCMU,
	// PCMA, telephone-event, or Config.Codecs). Leg 2 of such a route is
	// placed from an endpoint of its own, sip:<user>-<n>@host, which is
	// the identity the target sees unless the route impersonates.
	Codecs []string `yaml:"codecs"`
}

// Config configures the route app.
type Config struct {
	Rules []Rule
	// User is the route endpoint's own user part, the identity a call
	// presents when its rule does not impersonate (default "switchboard").
	User string
	// Codecs are the audio formats the callers' side accepts, in order of
	// preference (see endpoint.Settings.Codecs). Default: PCMU, PCMA,
	// telephone-event.
	Codecs []string
	// RecordingDir is where recorded routes write (default "recordings",
	// created if missing). It must be writable: New and SetRules check
	// when a rule records.
	RecordingDir string
}

type compiled struct {
	Rule
	re *regexp.Regexp
}

// App routes the calls no other app takes.
type App struct {
	p     *platform.Platform
	ep    *endpoint.Endpoint
	cfg   Config
	log   *slog.Logger
	rules atomic.Pointer[[]compiled]
	calls apps.Calls

	outMu sync.Mutex
	out   map[string]*endpoint.Endpoint // leg 2 endpoints by codec list

	transfers func(*endpoint.TransferRequest, *endpoint.Call) func(context.Context, *endpoint.Call) error
}

// Option configures the app.
type Option func(*App)

// WithLogger sets the logger (default: the platform's).
func WithLogger(l *slog.Logger) Option { return func(a *App) { a.log = l } }

// WithTransfers lets a service of this platform carry out, in process,
// a REFER that a leg of a routed call sends to it (see
// b2b.Options.TransferInProcess), such as park.Service.TransferInProcess:
// a PBX or phone behind a route that blind-transfers its caller to
// sip:park@ here parks that caller directly, not through a loopback call.
func WithTransfers(f func(*endpoint.TransferRequest, *endpoint.Call) func(context.Context, *endpoint.Call) error) Option {
	return func(a *App) { a.transfers = f }
}

// New checks the rules and puts the app on p as its default endpoint.
func New(p *platform.Platform, cfg Config, opts ...Option) (*App, error) {
	rules, err := Compile(cfg.Rules)
	if err != nil {
		return nil, err
	}
	if cfg.User == "" {
		cfg.User = "switchboard"
	}
	if cfg.RecordingDir == "" {
		cfg.RecordingDir = "recordings"
	}
	a := &App{p: p, cfg: cfg, log: p.Logger(), out: map[string]*endpoint.Endpoint{}}
	for _, o := range opts {
		o(a)
	}
	a.ep, err = apps.Endpoint(p, "route", cfg.User, endpoint.HandlerFunc(a.serve), []apps.Option{func(s *endpoint.Settings) {
		s.Default = true
		s.Codecs = cfg.Codecs
	}})
	if err != nil {
		return nil, err
	}
	if err := a.prepare(rules); err != nil {
		_ = a.closeEndpoints()
		return nil, err
	}
	a.rules.Store(&rules)
	if err := p.Register(a); err != nil {
		_ = a.closeEndpoints()
		return nil, fmt.Errorf("route: %w", err)
	}
	return a, nil
}

// prepare makes what rules need before they are used: an endpoint per
// codec list (which checks the codec names) and, when a rule records,
// a writable recording directory.
func (a *App) prepare(rules []compiled) error {
	var errs []error
	recording := false
	for i, r := range rules {
		if r.Record != RecordOff {
			recording = true
		}
		if len(r.Codecs) == 0 {
			continue
		}
		if _, err := a.outbound(r.Codecs); err != nil {
			errs = append(errs, fmt.Errorf("routes[%d] (%s): codecs: %w", i, r.Name, err))
		}
	}
	if recording {
		if err := checkDir(a.cfg.RecordingDir); err != nil {
			errs = append(errs, fmt.Errorf("route: recording directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkDir makes sure dir exists (creating it) and takes files.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".route-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// outbound returns the endpoint leg 2 is placed from for a codec list,
// creating it the first time (sip:<user>-<n>@host, no incoming calls).
func (a *App) outbound(codecs []string) (*endpoint.Endpoint, error) {
	key := strings.Join(codecs, ",")
	a.outMu.Lock()
	defer a.outMu.Unlock()
	if ep, ok := a.out[key]; ok {
		return ep, nil
	}
	ep, err := endpoint.NewApplication(a.p, endpoint.Settings{
		OwnerURI: fmt.Sprintf("sip:%s-%d@%s", a.cfg.User, len(a.out)+1, a.p.Host()),
		Codecs:   codecs,
	})
	if err != nil {
		return nil, err
	}
	a.out[key] = ep
	return ep, nil
}

func (a *App) closeEndpoints() error {
	errs := []error{a.ep.Close()}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	for _, ep := range a.out {
		errs = append(errs, ep.Close())
	}
	return errors.Join(errs...)
}

// Compile checks rules: exactly one of prefix and match, a regular
// expression that compiles, a target and failover templates that expand
// to SIP URIs, no negative timeout. Every mistake is reported, each
// naming its rule.
func Compile(rules []Rule) ([]compiled, error) {
	var errs []error
	out := make([]compiled, 0, len(rules))
	for i, r := range rules {
		if r.Name == "" {
			r.Name = fmt.Sprintf("route-%d", i+1)
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("routes[%d] (%s): %s", i, r.Name, fmt.Sprintf(format, args...)))
		}
		c := compiled{Rule: r}
		switch {
		case (r.Prefix == "") == (r.Match == ""):
			bad("set exactly one of prefix and match")
		case r.Match != "":
			re, err := regexp.Compile(r.Match)
			if err != nil {
				bad("match: %v", err)
			}
			c.re = re
		}
		if r.Target == "" {
			bad("target: a URI template such as sip:${user}@pbx.example is required")
		}
		for j, tpl := range append([]string{r.Target}, r.Failover...) {
			if tpl == "" {
				continue
			}
			key := "target"
			if j > 0 {
				key = fmt.Sprintf("failover[%d]", j-1)
			}
			if _, err := endpoint.ParseURI(expand(tpl, "100", []string{"100", "1", "2", "3", "4", "5", "6", "7", "8", "9"})); err != nil {
				bad("%s %q: %v", key, tpl, err)
			}
		}
		if r.RingTimeout < 0 || r.FailoverTimeout < 0 {
			bad("ring_timeout and failover_timeout cannot be negative")
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// SetRules replaces the rules (checked as by New) for the calls that
// arrive from now on; calls in progress are not touched. On error the
// rules in force stay.
func (a *App) SetRules(rules []Rule) error {
	c, err := Compile(rules)
	if err != nil {
		return err
	}
	if err := a.prepare(c); err != nil {
		return err
	}
	a.rules.Store(&c)
	return nil
}

// Endpoint returns the app's endpoint.
func (a *App) Endpoint() *endpoint.Endpoint { return a.ep }

// Close stops routing, ends the routed calls and waits for them.
func (a *App) Close() error {
	err := a.closeEndpoints()
	a.calls.Close()
	return err
}

// match returns the first rule matching user and the template variables.
func (a *App) match(user string) (*compiled, []string) {
	for _, r := range *a.rules.Load() {
		if r.re != nil {
			if m := r.re.FindStringSubmatch(user); m != nil {
				return &r, m
			}
		} else if strings.HasPrefix(user, r.Prefix) {
			return &r, []string{user}
		}
	}
	return nil, nil
}

func (a *App) serve(ctx context.Context, c *endpoint.Call) {
	ctx, leave, ok := a.calls.Enter(ctx)
	if !ok {
		_ = c.DeclineWithReason(ctx, 503, "Service Unavailable")
		return
	}
	defer leave()
	req := c.Request()
	user := req.Recipient.User
	r, groups := a.match(user)
	src := req.Source()
	if r == nil {
		a.log.Info("route: no route", "user", user, "source", src, "call_id", c.CallID())
		_ = c.DeclineWithReason(ctx, 404, "No Route")
		return
	}
	if r.TrustedOnly && !a.p.IsTrusted(req) {
		a.log.Warn("route: untrusted caller refused", "route", r.Name, "user", user, "source", src, "call_id", c.CallID())
		_ = c.DeclineWithReason(ctx, 403, "Forbidden")
		return
	}
	targets := make([]string, 0, 1+len(r.Failover))
	for _, tpl := range append([]string{r.Target}, r.Failover...) {
		targets = append(targets, expand(tpl, user, groups))
	}
	out := a.ep
	if len(r.Codecs) > 0 {
		var err error
		if out, err = a.outbound(r.Codecs); err != nil { // prepared by SetRules: not expected
			a.log.Warn("route: no endpoint for the route's codecs", "route", r.Name, "error", err, "call_id", c.CallID())
			_ = c.DeclineWithReason(ctx, 500, "Server Internal Error")
			return
		}
	}
	b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: out.NewConversation().NewCall(), Destination: targets[0]}, b2b.Options{
		ImpersonateCaller: r.Impersonate, PassHeaders: r.Headers, RingTimeout: r.RingTimeout,
		Failover: targets[1:], FailoverTimeout: r.FailoverTimeout, TransferInProcess: a.transfers,
	})
	if err != nil {
		a.log.Warn("route: cannot place the call", "route", r.Name, "target", targets[0], "error", err, "call_id", c.CallID())
		_ = c.DeclineWithReason(ctx, 404, "No Route")
		return
	}
	a.log.Info("route: routing", "route", r.Name, "user", user, "target", targets[0], "call_id", c.CallID())
	if err := b.Establish(ctx); err != nil {
		a.log.Info("route: call failed", "route", r.Name, "error", err, "call_id", c.CallID())
		return
	}
	var rec *recorder.Recorder
	if r.Record != RecordOff {
		rec = a.record(b, r)
	}
	select {
	case <-b.Done():
	case <-ctx.Done():
		_ = b.Terminate(context.WithoutCancel(ctx))
		<-b.Done()
	}
	if rec != nil {
		<-rec.Done() // it stops with the call, after its latency
	}
}

// record starts recording an established routed call; a recording that
// cannot start is logged and the call goes on without it.
func (a *App) record(b *b2b.Call, r *compiled) *recorder.Recorder {
	layout := recorder.Mono
	if r.Record == RecordStereo {
		layout = recorder.Stereo
	}
	rec, err := recorder.New(recorder.Config{Dir: a.cfg.RecordingDir, Layout: layout, Name: "{start}-{id}"}, recorder.WithLogger(a.log))
	if err == nil {
		if err = rec.AddB2B(b); err == nil {
			err = rec.Start()
		}
	}
	if err != nil {
		a.log.Warn("route: recording did not start", "route", r.Name, "error", err, "call_id", b.Leg1().CallID())
		if rec != nil {
			_ = rec.Close()
		}
		return nil
	}
	a.log.Info("route: recording", "route", r.Name, "recording", rec.ID(), "layout", layout.String(), "call_id", b.Leg1().CallID())
	return rec
}

// expand fills a target template: ${user} and ${1}..${9} (groups[1..]).
func expand(tpl, user string, groups []string) string {
	return os.Expand(tpl, func(k string) string {
		if k == "user" {
			return user
		}
		if len(k) == 1 && k[0] >= '1' && k[0] <= '9' {
			if i := int(k[0] - '0'); i < len(groups) {
				return groups[i]
			}
		}
		return "${" + k + "}"
	})
}
