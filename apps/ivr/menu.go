package ivr

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/switchboard-sip/switchboard/ivr"
)

// Menu is an IVR menu as data: named prompts and nodes. It reads from
// YAML (see demo.yaml):
//
//	start: main
//	prompts: {hello: /srv/prompts/hello.wav}   # added to the shared voice
//	nodes:
//	  main:
//	    prompt: [hello, menu]
//	    retries: 2
//	    keys:
//	      "1": {do: echo}
//	      "2": {do: goto, node: pin}
//	  pin:
//	    prompt: [enter_orbit]
//	    digits: {max: 4, pattern: "[0-9]{4}"}
//	    default: {do: transfer, uri: "sip:${digits}@pbx.example.com"}
//
// A prompt name is one of Prompts, a word of ivr.Voice(), or
// "tone:<Hz>:<duration>" (tone:440:500ms) or "silence:<duration>".
type Menu struct {
	// Start is the first node. Default "main".
	Start string `yaml:"start"`
	// Prompts maps names to WAV files.
	Prompts map[string]string `yaml:"prompts"`
	// Nodes are the menu's states.
	Nodes map[string]*Node `yaml:"nodes"`

	file   string // where the menu was read from, for errors
	loaded ivr.Set
}

// Node is one state of a menu: it plays its prompt, collects keys and acts
// on them. A node without Keys and Default collects nothing: it plays its
// prompt and runs Next.
type Node struct {
	// Prompt names what is played before collecting (barge-in on).
	Prompt []string `yaml:"prompt"`
	// Digits sets how keys are collected. Default: one key.
	Digits Digits `yaml:"digits"`
	// Keys maps the collected input (one key, or several digits) to an
	// action.
	Keys map[string]*Action `yaml:"keys"`
	// Default is the action for input that Keys does not name; ${digits}
	// in its templates is the input. Without it such input is invalid.
	Default *Action `yaml:"default"`
	// Retries after no input or invalid input. Default 2.
	Retries *int `yaml:"retries"`
	// Invalid and NoInput name the prompts played after a failed attempt.
	// Defaults: the voice's "invalid" and "noinput".
	Invalid []string `yaml:"invalid"`
	NoInput []string `yaml:"no_input"`
	// OnFail runs when the attempts are used up. Default: "goodbye" and
	// hang up.
	OnFail *Action `yaml:"on_fail"`
	// Next runs after the prompt of a node that collects nothing.
	Next *Action `yaml:"next"`

	line int
}

// Digits configures the collection of a node (see ivr.CollectOptions).
type Digits struct {
	Min          int           `yaml:"min"`
	Max          int           `yaml:"max"`
	Terminator   string        `yaml:"terminator"` // default "#"
	Pattern      string        `yaml:"pattern"`    // whole input must match
	FirstTimeout time.Duration `yaml:"first_timeout"`
	InterTimeout time.Duration `yaml:"inter_timeout"`
}

// Action is what a key (or a node's end) does. Do is one of:
//
//	goto        go to Node
//	play        play Prompt, then go to Node (or hang up without one)
//	hangup      play Prompt, then hang up
//	transfer    blind transfer (REFER) of the caller to URI
//	bridge      call URI and bridge the caller to it back to back (package
//	            b2b): the caller stays with the app until either side
//	            hangs up
//	retrieve    retrieve the call parked in Orbit (default "${digits}"):
//	            the caller is bridged to the orbit's address at the park
//	            app, sip:<orbit>@host (or URI, when set)
//	conference  put the caller into conference Room
//	record      beep, record the caller until # (or Max, or 5 s of
//	            silence), play the message back, then Node or hang up
//	echo        echo the caller's audio until they hang up
//	webhook     hand the call to the webhook at URL (default: the app's)
//
// URI, Orbit and Room are templates: ${digits} is the input collected, ${caller}
// the caller's user part.
type Action struct {
	Do     string        `yaml:"do"`
	Node   string        `yaml:"node"`
	Prompt []string      `yaml:"prompt"`
	URI    string        `yaml:"uri"`
	Room   string        `yaml:"room"`
	Orbit  string        `yaml:"orbit"`
	URL    string        `yaml:"url"`
	Max    time.Duration `yaml:"max"`

	line int
}

// UnmarshalYAML keeps the node's line for errors.
func (n *Node) UnmarshalYAML(v *yaml.Node) error {
	type plain Node
	if err := v.Decode((*plain)(n)); err != nil {
		return err
	}
	n.line = v.Line
	return nil
}

// UnmarshalYAML keeps the action's line for errors.
func (a *Action) UnmarshalYAML(v *yaml.Node) error {
	type plain Action
	if err := v.Decode((*plain)(a)); err != nil {
		return err
	}
	a.line = v.Line
	return nil
}

var actions = []string{"goto", "play", "hangup", "transfer", "bridge", "retrieve", "conference", "record", "echo", "webhook"}

// LoadMenu reads and validates the menu file at path.
func LoadMenu(path string) (*Menu, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ivr: menu: %w", err)
	}
	return ParseMenu(path, b)
}

// ParseMenu reads and validates a menu; file names it in errors. A menu
// that names a missing node or prompt, an unknown action, or has a loop of
// nodes that never waits for input is an error with file, line and key.
func ParseMenu(file string, b []byte) (*Menu, error) {
	m := &Menu{file: file}
	// yaml.v3's KnownFields does not reach into types with their own
	// UnmarshalYAML (Node, Action decode through yaml.Node.Decode, which
	// ignores unknown keys), so every mapping is checked against the
	// struct it fills first.
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("ivr: menu %s: %w", file, err)
	}
	if err := m.checkKeys(&doc, reflect.TypeFor[Menu](), ""); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("ivr: menu %s: %w", file, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// checkKeys rejects a key of a YAML mapping that names no field of the
// struct t it decodes into, with its line and dotted path. Values of the
// wrong kind are left to the decoder.
func (m *Menu) checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) == 1 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := yamlField(t, k.Value)
			if !ok {
				return m.errf(k.Line, join(k.Value), "unknown key (want one of %s)", strings.Join(yamlKeys(t), ", "))
			}
			if err := m.checkKeys(v, f.Type, join(k.Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := m.checkKeys(n.Content[i+1], t.Elem(), join(n.Content[i].Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, v := range n.Content {
			if err := m.checkKeys(v, t.Elem(), join(strconv.Itoa(i))); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlField is the field of struct t whose yaml tag names key.
func yamlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); f.IsExported() && name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlKeys lists the keys struct t accepts.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

func (m *Menu) errf(line int, key, format string, args ...any) error {
	return fmt.Errorf("ivr: menu %s:%d: %s: %s", m.file, line, key, fmt.Sprintf(format, args...))
}

func (m *Menu) validate() error {
	if m.Start == "" {
		m.Start = "main"
	}
	if _, ok := m.Nodes[m.Start]; !ok {
		return m.errf(1, "start", "no node %q", m.Start)
	}
	m.loaded = ivr.Set{}
	for name, path := range m.Prompts {
		p, err := ivr.OpenWAV(path)
		if err != nil {
			return m.errf(1, "prompts."+name, "%v", err)
		}
		m.loaded[name] = p
	}
	names := make([]string, 0, len(m.Nodes))
	for name := range m.Nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		n := m.Nodes[name]
		if n == nil {
			return m.errf(1, "nodes."+name, "empty node")
		}
		key := "nodes." + name
		if err := m.checkPrompts(n.line, key+".prompt", n.Prompt); err != nil {
			return err
		}
		if err := m.checkPrompts(n.line, key+".invalid", n.Invalid); err != nil {
			return err
		}
		if err := m.checkPrompts(n.line, key+".no_input", n.NoInput); err != nil {
			return err
		}
		if n.Digits.Pattern != "" {
			if _, err := regexp.Compile(n.Digits.Pattern); err != nil {
				return m.errf(n.line, key+".digits.pattern", "%v", err)
			}
		}
		collects := len(n.Keys) > 0 || n.Default != nil
		if !collects && n.Next == nil {
			return m.errf(n.line, key, "a node needs keys, default or next")
		}
		if collects && n.Next != nil {
			return m.errf(n.Next.line, key+".next", "a node that collects keys has no next")
		}
		keys := make([]string, 0, len(n.Keys))
		for k := range n.Keys {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := m.checkAction(n.line, key+".keys."+k, n.Keys[k]); err != nil {
				return err
			}
		}
		for k, a := range map[string]*Action{"default": n.Default, "on_fail": n.OnFail, "next": n.Next} {
			if a != nil {
				if err := m.checkAction(n.line, key+"."+k, a); err != nil {
					return err
				}
			}
		}
	}
	// A loop of nodes that collect nothing would play forever without
	// waiting for the caller.
	for _, name := range names {
		seen := map[string]bool{}
		for cur := name; ; {
			n := m.Nodes[cur]
			if n.Next == nil || (n.Next.Do != "goto" && n.Next.Do != "play") || n.Next.Node == "" {
				break
			}
			if seen[cur] {
				return m.errf(n.Next.line, "nodes."+cur+".next", "loop of nodes that never wait for input (%s)", strings.Join(slices.Sorted(mapKeys(seen)), " → "))
			}
			seen[cur] = true
			cur = n.Next.Node
		}
	}
	return nil
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (m *Menu) checkAction(line int, key string, a *Action) error {
	if a == nil {
		return m.errf(line, key, "empty action")
	}
	if a.line != 0 {
		line = a.line
	}
	if !slices.Contains(actions, a.Do) {
		return m.errf(line, key+".do", "unknown action %q (want one of %s)", a.Do, strings.Join(actions, ", "))
	}
	if err := m.checkPrompts(line, key+".prompt", a.Prompt); err != nil {
		return err
	}
	if a.Node != "" {
		if _, ok := m.Nodes[a.Node]; !ok {
			return m.errf(line, key+".node", "no node %q", a.Node)
		}
	}
	switch a.Do {
	case "goto":
		if a.Node == "" {
			return m.errf(line, key+".node", "goto needs a node")
		}
	case "transfer", "bridge":
		if a.URI == "" {
			return m.errf(line, key+".uri", "%s needs a uri", a.Do)
		}
	case "conference":
		if a.Room == "" {
			return m.errf(line, key+".room", "conference needs a room")
		}
	}
	return nil
}

func (m *Menu) checkPrompts(line int, key string, names []string) error {
	for _, n := range names {
		if _, err := m.prompt(n); err != nil {
			return m.errf(line, key, "%v", err)
		}
	}
	return nil
}

// prompt resolves a prompt name.
func (m *Menu) prompt(name string) (ivr.Prompt, error) {
	if p, ok := m.loaded[name]; ok {
		return p, nil
	}
	if p, ok := ivr.Voice()[name]; ok {
		return p, nil
	}
	return parsePrompt(name)
}

// parsePrompt reads "tone:<Hz>:<duration>" and "silence:<duration>".
func parsePrompt(name string) (ivr.Prompt, error) {
	parts := strings.Split(name, ":")
	switch {
	case len(parts) == 3 && parts[0] == "tone":
		f, err1 := strconv.ParseFloat(parts[1], 64)
		d, err2 := time.ParseDuration(parts[2])
		if err1 == nil && err2 == nil && f > 0 && f < 4000 && d > 0 && d <= time.Minute {
			return ivr.Tone(f, d), nil
		}
	case len(parts) == 2 && parts[0] == "silence":
		if d, err := time.ParseDuration(parts[1]); err == nil && d > 0 && d <= time.Minute {
			return ivr.Silence(d), nil
		}
	}
	return ivr.Prompt{}, fmt.Errorf("no prompt %q", name)
}

// prompts resolves validated names.
func (m *Menu) prompts(names []string) []ivr.Prompt {
	out := make([]ivr.Prompt, 0, len(names))
	for _, n := range names {
		if p, err := m.prompt(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// compilePattern compiles a digit pattern; it is bounded in length since
// webhook replies carry them.
func compilePattern(s string) (*regexp.Regexp, error) {
	if len(s) > 256 {
		return nil, fmt.Errorf("pattern longer than 256 bytes")
	}
	return regexp.Compile(s)
}
