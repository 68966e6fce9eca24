// Package yamlconf decodes YAML configuration files strictly and explains
// every mistake at once, in the user's terms:
//
//	c.yaml:12:7: apps.park.orbits[1].ned: unknown key (known: start, end)
//	c.yaml:4:16: calls.rtp_timeout: 30 is not a duration: write it with a unit, such as 30s
//
// The YAML library (go.yaml.in/yaml/v4) parses and decodes; it names the
// line of each error but neither the column nor the key path, and it
// speaks in its own types ("cannot construct !!int `30` into
// time.Duration"). No library walks a document against the Go type it is
// decoded into to collect such errors, so this package does, before
// decoding: Check compares the node tree with the target's type by
// reflection and reports each unknown key, each value of the wrong kind
// and each malformed duration with its file, line, column and key path.
package yamlconf

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Error is one mistake in a file.
type Error struct {
	File         string
	Line, Column int
	Path         string // key path such as apps.park.orbits[1].end; empty for the document
	Msg          string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every mistake found in a file, in document order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Parse parses b, the contents of file, into a document node. A syntax
// error is returned as Errors with the position the parser reports.
func Parse(file string, b []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, Errors{syntaxError(file, err)}
	}
	return &doc, nil
}

// Decode parses b, the contents of file, checks it against v's type and
// decodes it into v, on top of what v holds. An empty document leaves v
// alone. Every mistake is reported at once, as Errors.
func Decode(file string, b []byte, v any) error {
	doc, err := Parse(file, b)
	if err != nil {
		return err
	}
	return DecodeNode(file, doc, v)
}

// DecodeNode is Decode for a parsed document.
func DecodeNode(file string, doc *yaml.Node, v any) error {
	if errs := Check(file, doc, reflect.TypeOf(v)); len(errs) > 0 {
		return errs
	}
	if doc.Kind == 0 || (doc.Kind == yaml.DocumentNode && (len(doc.Content) == 0 || doc.Content[0].Kind == 0)) {
		return nil
	}
	if err := doc.Decode(v); err != nil {
		// Check lets through nothing the decoder refuses that it knows
		// of; keep the decoder's words for the rest.
		return Errors{{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	return nil
}

// Check reports the mistakes of doc against type t.
func Check(file string, doc *yaml.Node, t reflect.Type) Errors {
	c := &checker{file: file}
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n.Kind == 0 {
		return nil // only comments
	}
	c.value(n, t, "")
	return c.errs
}

type checker struct {
	file string
	errs Errors
}

func (c *checker) fail(n *yaml.Node, path, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (c *checker) value(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isNull(n) {
		return // leaves the value as it is
	}
	// Types that decode themselves check themselves.
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	if reflect.PointerTo(t).Implements(textType) {
		if n.Kind != yaml.ScalarNode {
			c.fail(n, path, "want a single value, not %s", kindName(n))
		}
		return
	}
	if t == durationType {
		c.duration(n, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		c.structure(n, t, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.fail(n, path, "want a mapping of names to values, not %s", kindName(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			c.value(k, t.Key(), join(path, k.Value))
			c.value(n.Content[i+1], t.Elem(), join(path, k.Value))
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			c.fail(n, path, "want a list, not %s", kindName(n))
			return
		}
		for i, e := range n.Content {
			c.value(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Interface:
		// anything goes
	default:
		c.scalar(n, t, path)
	}
}

func (c *checker) structure(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		c.fail(n, path, "want a mapping of keys to values, not %s", kindName(n))
		return
	}
	fields := map[string]reflect.Type{}
	var names []string
	collectFields(t, fields, &names)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" { // a merge key: its mapping is checked where defined
			continue
		}
		p := join(path, k.Value)
		if seen[k.Value] {
			c.fail(k, p, "key given twice")
			continue
		}
		seen[k.Value] = true
		ft, ok := fields[k.Value]
		if !ok {
			msg := "unknown key"
			if s := closest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			c.fail(k, p, "%s (known: %s)", msg, strings.Join(names, ", "))
			continue
		}
		c.value(v, ft, p)
	}
}

// collectFields lists the YAML keys of struct type t, inline fields
// included, in declaration order.
func collectFields(t reflect.Type, out map[string]reflect.Type, names *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, out, names)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := out[name]; !dup {
			*names = append(*names, name)
		}
		out[name] = f.Type
	}
}

func (c *checker) duration(n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		c.fail(n, path, "want a duration such as 30s, not %s", kindName(n))
		return
	}
	if _, err := time.ParseDuration(n.Value); err == nil && n.Tag != "!!int" && n.Tag != "!!float" {
		return
	}
	if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
		c.fail(n, path, "%s is not a duration: write it with a unit, such as %ss (or 500ms, 2m, 1h)", n.Value, n.Value)
		return
	}
	c.fail(n, path, "%q is not a duration: want a number with a unit, such as 30s, 500ms, 2m or 1h", n.Value)
}

func (c *checker) scalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		c.fail(n, path, "want %s, not %s", typeName(t), kindName(n))
		return
	}
	v := n.Value
	switch t.Kind() {
	case reflect.Bool:
		if n.Tag != "!!bool" {
			c.fail(n, path, "%q is not true or false", v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i, err := strconv.ParseInt(v, 0, 64); err != nil || n.Tag != "!!int" {
			c.fail(n, path, "%q is not a whole number", v)
		} else if bits := t.Bits(); bits < 64 && (i < -1<<(bits-1) || i >= 1<<(bits-1)) {
			c.fail(n, path, "%s is out of range", v)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u, err := strconv.ParseUint(v, 0, 64); err != nil || n.Tag != "!!int" {
			c.fail(n, path, "%q is not a whole number of zero or more", v)
		} else if bits := t.Bits(); bits < 64 && u > math.MaxUint64>>(64-bits) {
			c.fail(n, path, "%s is out of range", v)
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(v, 64); err != nil || (n.Tag != "!!int" && n.Tag != "!!float") {
			c.fail(n, path, "%q is not a number", v)
		}
	case reflect.String:
		// any scalar reads as text
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "this"
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a whole number"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// closest returns the known name within two edits of s, if one is.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// syntaxError turns the parser's error ("yaml: line 3: did not find
// expected key") into an Error at that line.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: msg}
	var le *yaml.LoadError
	if errors.As(err, &le) && le.Mark.Line > 0 {
		e.Line, e.Column, e.Msg = le.Mark.Line, le.Mark.Column, le.Message
		if le.ContextMsg != "" {
			e.Msg = le.ContextMsg + ": " + e.Msg
		}
		return e
	}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(num); err == nil {
				e.Line, e.Column, e.Msg = l, 1, tail
			}
		}
	}
	return e
}

// SortedKeys returns the keys of a mapping node, sorted; for tests and
// for callers that look at what a file sets.
func SortedKeys(n *yaml.Node) []string {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	var out []string
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	sort.Strings(out)
	return out
}
