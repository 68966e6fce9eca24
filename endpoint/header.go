package endpoint

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Header is a SIP header field added to a request or response, such as
// Header{Name: "X-Account", Value: "42"}. Name must be a token (RFC 3261
// section 25.1) and Value must not contain control characters, so a header
// cannot smuggle in another one. Headers that the dialog or request owns
// (Call-ID, From, To, CSeq, Via, Contact, Content-Length, Max-Forwards) are
// refused wherever a Header is accepted.
type Header struct {
	Name  string
	Value string
}

// CheckHeaders reports whether hs would be accepted by Establish, Accept,
// Transfer and Request: each name a token that the dialog does not own
// and each value free of control characters and at most [MaxValueLength]
// bytes long. Code that copies headers from a request it received (a
// back-to-back user agent) checks them with it to refuse that request
// before placing a call with them.
func CheckHeaders(hs []Header) error { return checkHeaders(hs, isReserved, "a call") }

// checkHeaders validates hs for a message whose own headers are named
// (lower case) by owned.
func checkHeaders(hs []Header, owned func(lower string) bool, where string) error {
	for _, h := range hs {
		if !isToken(h.Name) {
			return fmt.Errorf("endpoint: header name %q is not a token", h.Name)
		}
		if owned(strings.ToLower(h.Name)) {
			return fmt.Errorf("endpoint: header %s may not be set on %s", h.Name, where)
		}
		if err := checkValue("header "+h.Name, h.Value); err != nil {
			return err
		}
	}
	return nil
}

// isReserved reports whether a header (lower-case name) belongs to the
// dialog or transaction layer.
func isReserved(lower string) bool { return reservedHeaders[lower] }

// sipHeaders converts hs to sipgo headers.
func sipHeaders(hs []Header) []sip.Header {
	out := make([]sip.Header, len(hs))
	for i, h := range hs {
		out[i] = sip.NewHeader(h.Name, h.Value)
	}
	return out
}

// isToken reports whether s is a non-empty RFC 3261 token (section 25.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// compactForms maps header names to their compact forms (RFC 3261 section
// 7.3.3 and the extensions that define one), so that a lookup by the long
// name also finds a field a peer sent in compact form.
var compactForms = map[string]string{
	"accept-contact": "a", "referred-by": "b", "content-type": "c", "content-encoding": "e",
	"from": "f", "call-id": "i", "supported": "k", "content-length": "l", "contact": "m",
	"event": "o", "refer-to": "r", "subject": "s", "to": "t", "allow-events": "u", "via": "v",
}

// Header returns the value of the first header field called name (case
// insensitive; a field sent in compact form, such as "s" for Subject, is
// found by its long name too) in the INVITE of an incoming call, or "" if
// there is none or the call is outgoing. For headers that may appear more
// than once use [Call.Headers]; for anything else [Call.Request] gives the
// whole parsed INVITE.
func (c *Call) Header(name string) string {
	if v := c.Headers(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Headers returns the values of every header field called name (case
// insensitive, compact forms included, see [Call.Header]) in the INVITE of
// an incoming call, in the order received; nil if there is none or the call
// is outgoing. Each field is one value: a field carrying a comma-separated
// list is not split.
func (c *Call) Headers(name string) []string {
	c.mu.Lock()
	req := c.invReq
	c.mu.Unlock()
	if req == nil {
		return nil
	}
	var out []string
	lower := strings.ToLower(name)
	compact := compactForms[lower]
	for _, h := range req.Headers() {
		if n := strings.ToLower(h.Name()); n == lower || (compact != "" && n == compact) {
			out = append(out, h.Value())
		}
	}
	return out
}
