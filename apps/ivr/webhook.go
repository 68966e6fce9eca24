package ivr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/ivr"
)

// WebhookConfig configures the programmable mode (docs/ivr-webhook.md).
type WebhookConfig struct {
	// URL receives a POST of the call's state on arrival (event "call")
	// and after each gather or record; its reply lists the next verbs.
	// Default "": menu mode.
	URL string `yaml:"url"`
	// Timeout bounds each request. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxReply bounds a reply's body, in bytes. Default 64 KiB.
	MaxReply int64 `yaml:"max_reply"`
	// Fallback is the menu node run when the webhook fails (unreachable,
	// too slow, an error status, a reply that is not valid). Default "":
	// the voice's "invalid" and "goodbye", then hang up.
	Fallback string `yaml:"fallback"`
}

func defaultWebhook(c WebhookConfig) WebhookConfig {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxReply <= 0 {
		c.MaxReply = 64 << 10
	}
	return c
}

// WebhookRequest is the JSON body POSTed to the webhook.
type WebhookRequest struct {
	Event     string            `json:"event"` // "call", "gather", "record"
	CallID    string            `json:"call_id"`
	From      string            `json:"from"`
	To        string            `json:"to"`
	Digits    string            `json:"digits,omitempty"`
	Reason    string            `json:"reason,omitempty"` // gather: "ok", "no-input", "invalid"
	Recording string            `json:"recording,omitempty"`
	Variables map[string]string `json:"variables,omitempty"`
}

// WebhookReply is the webhook's answer: the verbs to run, in order.
type WebhookReply struct {
	Verbs []Verb `json:"verbs"`
}

// Verb is one instruction of a webhook reply. Verb names it:
//
//	play        Prompt: names of prompts (as in a menu)
//	say_digits  Digits: read out key by key
//	gather      Prompt, MinDigits, MaxDigits, Terminator, Timeout,
//	            Pattern, Retries; the digits are POSTed to Action
//	            (default: the current URL) and its reply runs next
//	transfer    URI: blind transfer (REFER) of the caller
//	conference  Room: put the caller into a conference
//	record      Max; the file is POSTed to Action (if set)
//	redirect    URL: POST the state there and run its reply
//	set         Variables: set call variables (sent back in requests)
//	goto        Node: continue in the menu
//	hangup
type Verb struct {
	Verb       string            `json:"verb"`
	Prompt     []string          `json:"prompt,omitempty"`
	Digits     string            `json:"digits,omitempty"`
	MinDigits  int               `json:"min_digits,omitempty"`
	MaxDigits  int               `json:"max_digits,omitempty"`
	Terminator string            `json:"terminator,omitempty"`
	Timeout    string            `json:"timeout,omitempty"`
	Pattern    string            `json:"pattern,omitempty"`
	Retries    int               `json:"retries,omitempty"`
	Action     string            `json:"action,omitempty"`
	URI        string            `json:"uri,omitempty"`
	Room       string            `json:"room,omitempty"`
	URL        string            `json:"url,omitempty"`
	Node       string            `json:"node,omitempty"`
	Max        string            `json:"max,omitempty"`
	Variables  map[string]string `json:"variables,omitempty"`
}

type webhook struct {
	cfg    WebhookConfig
	menu   *Menu
	log    *slog.Logger
	client *http.Client
}

func newWebhook(c WebhookConfig, m *Menu, log *slog.Logger) (*webhook, error) {
	if c.URL == "" {
		return nil, nil
	}
	if err := checkURL(c.URL); err != nil {
		return nil, fmt.Errorf("ivr: webhook.url: %w", err)
	}
	if c.Fallback != "" {
		if _, ok := m.Nodes[c.Fallback]; !ok {
			return nil, fmt.Errorf("ivr: webhook.fallback: no node %q in menu %s", c.Fallback, m.file)
		}
	}
	return &webhook{cfg: defaultWebhook(c), menu: m, log: log}, nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", redact(s))
	}
	return nil
}

// redact drops the user info and query of a URL, which may hold secrets.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// maxHops bounds the requests of one call's webhook conversation.
const maxHops = 100

// serve runs the webhook conversation of a call, starting with a "call"
// event to url. It returns the menu node to go to ("" ends the call).
func (h *webhook) serve(ctx context.Context, r *run, url string) string {
	req := WebhookRequest{Event: "call"}
	for hop := 0; hop < maxHops; hop++ {
		verbs, err := h.post(ctx, r, url, req)
		if err != nil {
			if ctx.Err() != nil {
				return ""
			}
			r.log.Warn("ivr: webhook failed, fallback", "url", redact(url), "error", err)
			return h.fail(ctx, r)
		}
		next, nreq, node, done := h.runVerbs(ctx, r, url, verbs)
		if done {
			return node
		}
		url, req = next, nreq
	}
	r.log.Warn("ivr: webhook: too many requests for one call", "url", redact(url))
	return h.fail(ctx, r)
}

func (h *webhook) fail(ctx context.Context, r *run) string {
	if h.cfg.Fallback != "" {
		if r.a.hook == h {
			// Menu mode for the rest of the call.
			r.node(ctx, h.cfg.Fallback)
			return ""
		}
		return h.cfg.Fallback
	}
	r.fallback(ctx)
	return ""
}

// post sends the call's state and returns the validated verbs.
func (h *webhook) post(ctx context.Context, r *run, target string, req WebhookRequest) ([]Verb, error) {
	req.CallID, req.From, req.To = r.c.CallID(), r.c.RemoteURI(), r.c.LocalURI()
	req.Variables = r.vars
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("bad URL")
	}
	hr.Header.Set("Content-Type", "application/json")
	client := h.client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold secrets; it is logged redacted
		}
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("status %d", res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, h.cfg.MaxReply+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > h.cfg.MaxReply {
		return nil, fmt.Errorf("reply larger than %d bytes", h.cfg.MaxReply)
	}
	return h.parseReply(b)
}

// parseReply decodes and validates a webhook's reply body.
func (h *webhook) parseReply(b []byte) ([]Verb, error) {
	var reply WebhookReply
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reply); err != nil {
		return nil, fmt.Errorf("reply: %w", err)
	}
	if err := h.validate(reply.Verbs); err != nil {
		return nil, err
	}
	return reply.Verbs, nil
}

var verbs = []string{"play", "say_digits", "gather", "transfer", "conference", "record", "redirect", "set", "goto", "hangup"}

// validate checks a reply against the schema before any verb runs.
func (h *webhook) validate(vs []Verb) error {
	if len(vs) == 0 {
		return errors.New("reply: no verbs")
	}
	for i, v := range vs {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("reply: verbs[%d] (%s): %s", i, v.Verb, fmt.Sprintf(format, args...))
		}
		switch v.Verb {
		case "play", "gather":
			for _, p := range v.Prompt {
				if _, err := h.menu.prompt(p); err != nil {
					return bad("%v", err)
				}
			}
			if v.Verb == "gather" {
				if v.MaxDigits < 0 || v.MaxDigits > 64 || v.MinDigits < 0 || v.MinDigits > 64 || v.Retries < 0 || v.Retries > 10 {
					return bad("digits or retries out of range")
				}
				if v.Timeout != "" {
					if _, err := time.ParseDuration(v.Timeout); err != nil {
						return bad("timeout: %v", err)
					}
				}
				if v.Pattern != "" {
					if _, err := compilePattern(v.Pattern); err != nil {
						return bad("pattern: %v", err)
					}
				}
				if v.Action != "" {
					if err := checkURL(v.Action); err != nil {
						return bad("action: %v", err)
					}
				}
			}
		case "say_digits":
			if strings.Trim(v.Digits, "0123456789*#") != "" {
				return bad("digits must be 0-9, * and #")
			}
		case "transfer":
			if v.URI == "" {
				return bad("needs uri")
			}
			// The URI becomes the REFER's Refer-To once its ${variables}
			// are filled in; runVerbs checks it again then.
			if _, err := endpoint.ParseURI(os.Expand(v.URI, func(string) string { return "x" })); err != nil {
				return bad("uri: %v", err)
			}
		case "conference":
			if v.Room == "" {
				return bad("needs room")
			}
			if !roomRE.MatchString(os.Expand(v.Room, func(string) string { return "x" })) {
				return bad("room must be 1 to 64 letters, digits, '-', '_' or '.'")
			}
		case "record":
			if v.Max != "" {
				if _, err := time.ParseDuration(v.Max); err != nil {
					return bad("max: %v", err)
				}
			}
			if v.Action != "" {
				if err := checkURL(v.Action); err != nil {
					return bad("action: %v", err)
				}
			}
		case "redirect":
			if err := checkURL(v.URL); err != nil {
				return bad("url: %v", err)
			}
		case "goto":
			if _, ok := h.menu.Nodes[v.Node]; !ok {
				return bad("no node %q", v.Node)
			}
		case "set":
			for k, val := range v.Variables {
				if !varRE.MatchString(k) {
					return bad("variable name %q: want letters, digits and '_'", k)
				}
				if err := checkVar(val); err != nil {
					return bad("variable %s: %v", k, err)
				}
			}
		case "hangup":
		default:
			return bad("unknown verb (want one of %s)", strings.Join(verbs, ", "))
		}
	}
	return nil
}

// roomRE is what a webhook's conference room may be: the characters
// conference.Service.Create accepts, bounded because the room becomes a
// URI's user part.
var roomRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// varRE is what a variable set by a webhook may be called.
var varRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// checkVar refuses a variable value that could not be written into a
// header once a ${name} template is filled in with it: control characters
// (CR, LF, NUL) or more than endpoint.MaxValueLength bytes.
func checkVar(v string) error {
	if len(v) > endpoint.MaxValueLength {
		return fmt.Errorf("%d bytes long; at most %d are allowed", len(v), endpoint.MaxValueLength)
	}
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		return fmt.Errorf("contains a control character at byte %d", i)
	}
	return nil
}

// runVerbs runs verbs; it returns the next request to make, or done with
// the menu node to continue in.
func (h *webhook) runVerbs(ctx context.Context, r *run, cur string, vs []Verb) (next string, req WebhookRequest, node string, done bool) {
	for _, v := range vs {
		if ctx.Err() != nil {
			return "", req, "", true
		}
		switch v.Verb {
		case "play":
			if err := r.s.Play(ctx, h.menu.prompts(v.Prompt)...); err != nil {
				return "", req, "", true
			}
		case "say_digits":
			if err := r.s.Play(ctx, ivr.Voice().Digits(v.Digits)...); err != nil {
				return "", req, "", true
			}
		case "set":
			for k, val := range v.Variables {
				r.vars[k] = val
			}
		case "gather":
			opts := ivr.CollectOptions{
				Prompts: h.menu.prompts(v.Prompt), MinDigits: v.MinDigits, MaxDigits: v.MaxDigits,
				Terminators: v.Terminator, Retries: v.Retries,
			}
			if v.Timeout != "" {
				opts.FirstDigitTimeout, _ = time.ParseDuration(v.Timeout)
			}
			if v.Pattern != "" {
				opts.Pattern, _ = compilePattern(v.Pattern)
			}
			res, err := r.s.Collect(ctx, opts)
			if ctx.Err() != nil {
				return "", req, "", true
			}
			reason := "ok"
			switch {
			case errors.Is(err, ivr.ErrNoInput):
				reason = "no-input"
			case err != nil:
				reason = "invalid"
			}
			r.vars["digits"] = res.Digits
			if v.Action != "" {
				cur = v.Action
			}
			return cur, WebhookRequest{Event: "gather", Digits: res.Digits, Reason: reason}, "", false
		case "record":
			var max time.Duration
			if v.Max != "" {
				max, _ = time.ParseDuration(v.Max)
			}
			file := r.record(ctx, max)
			if v.Action != "" {
				return v.Action, WebhookRequest{Event: "record", Recording: file}, "", false
			}
		case "transfer":
			if _, err := endpoint.ParseURI(r.expand(v.URI)); err != nil {
				r.log.Warn("ivr: webhook transfer: bad uri, fallback", "error", err)
				return "", req, h.fail(ctx, r), true
			}
			r.act(ctx, "webhook", &Action{Do: "transfer", URI: v.URI})
			return "", req, "", true
		case "conference":
			if !roomRE.MatchString(r.expand(v.Room)) {
				r.log.Warn("ivr: webhook conference: bad room, fallback")
				return "", req, h.fail(ctx, r), true
			}
			r.act(ctx, "webhook", &Action{Do: "conference", Room: v.Room})
			return "", req, "", true
		case "redirect":
			return v.URL, WebhookRequest{Event: "call"}, "", false
		case "goto":
			if r.a.hook == h {
				r.node(ctx, v.Node)
				return "", req, "", true
			}
			return "", req, v.Node, true
		case "hangup":
			return "", req, "", true
		}
	}
	return "", req, "", true // the verbs ran out: hang up
}
