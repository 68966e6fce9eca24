package endpoint

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// ConversationState is the state of a conversation.
type ConversationState int

// Conversation states, as in UCMA.
const (
	ConversationIdle ConversationState = iota
	ConversationIncoming
	ConversationEstablishing
	ConversationEstablished
	ConversationTerminating
	ConversationTerminated
)

var convStateNames = [...]string{"idle", "incoming", "establishing", "established", "terminating", "terminated"}

func (s ConversationState) String() string {
	if int(s) < len(convStateNames) {
		return convStateNames[s]
	}
	return fmt.Sprintf("ConversationState(%d)", int(s))
}

// presence is the parsed form of an Identity that calls present.
type presence struct {
	uri   sip.Uri
	phone *sip.Uri
	name  string
}

// Conversation groups the calls of one logical session and carries the
// identity they present.
type Conversation struct {
	ep *Endpoint

	mu           sync.Mutex
	id           presence
	impersonated bool
	state        ConversationState
	calls        []*Call
}

// Endpoint returns the conversation's endpoint.
func (c *Conversation) Endpoint() *Endpoint { return c.ep }

// State returns the conversation state.
func (c *Conversation) State() ConversationState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Identity is who a conversation's calls and requests present themselves
// as, in From and (for application endpoints) P-Asserted-Identity (RFC
// 3325).
type Identity struct {
	// URI is a SIP, SIPS or tel URI. Required.
	URI string
	// PhoneURI is an optional tel: URI or SIP URI with user=phone,
	// asserted as a second P-Asserted-Identity. Empty when URI is itself a
	// user=phone URI.
	PhoneURI string
	// DisplayName is shown in From; it may be empty.
	DisplayName string
}

// Identity returns the identity the conversation presents: the
// endpoint's own, or the one set by Impersonate.
func (c *Conversation) Identity() Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := Identity{URI: c.id.uri.String(), DisplayName: c.id.name}
	if c.id.phone != nil {
		id.PhoneURI = formatURI(*c.id.phone)
	}
	return id
}

// Impersonated reports whether Impersonate was called.
func (c *Conversation) Impersonated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.impersonated
}

// Errors of Impersonate.
var (
	ErrImpersonateState = errors.New("endpoint: impersonation is only allowed before the conversation is established")
	ErrPhoneURIConflict = errors.New("endpoint: uri is already a user=phone URI; do not pass another phone URI")
)

// Impersonate sets the identity that every outgoing request of the
// conversation carries in From and P-Asserted-Identity:
//
//	err := conv.Impersonate(endpoint.Identity{URI: "sip:alice@example.com", DisplayName: "Alice"})
//
// It is allowed only on application endpoints and only while the
// conversation is idle. id.URI must be a SIP or tel URI; id.PhoneURI, when
// set, a tel URI or a SIP URI with user=phone; no field may contain control
// characters.
func (c *Conversation) Impersonate(id Identity) error {
	uri, phoneURI, displayName := id.URI, id.PhoneURI, id.DisplayName
	if c.ep.kind != KindApplication {
		return ErrNotApplication
	}
	u, err := ParseURI(uri)
	if err != nil {
		return err
	}
	var ph *sip.Uri
	if phoneURI != "" {
		if u.UriParams != nil {
			if v, _ := u.UriParams.Get("user"); v == "phone" {
				return ErrPhoneURIConflict
			}
		}
		p, err := ParseURI(phoneURI)
		if err != nil {
			return err
		}
		isPhone := p.Scheme == "tel"
		if p.UriParams != nil {
			if v, _ := p.UriParams.Get("user"); v == "phone" {
				isPhone = true
			}
		}
		if !isPhone {
			return fmt.Errorf("endpoint: phone URI %q must be tel: or have user=phone", phoneURI)
		}
		ph = &p
	}
	if err := checkValue("display name", displayName); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != ConversationIdle {
		return ErrImpersonateState
	}
	c.id = presence{uri: u, phone: ph, name: displayName}
	c.impersonated = true
	return nil
}

// NewCall returns an idle audio call in this conversation.
func (c *Conversation) NewCall() *Call {
	call := newCall(c, false)
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	return call
}

// Calls returns the conversation's calls that have not terminated
// (terminated calls are also dropped from the conversation itself).
func (c *Conversation) Calls() []*Call {
	c.mu.Lock()
	calls := append([]*Call(nil), c.calls...)
	c.mu.Unlock()
	// Call states are read without c.mu (lock order: see callStateChanged).
	return slices.DeleteFunc(calls, func(call *Call) bool { return call.State() == StateTerminated })
}

// callStateChanged derives the conversation state from its calls and
// drops the terminated ones from its list. Lock order: a call's mutex may
// be held while taking the conversation's, never the reverse, so the call
// states are read before conv.mu is taken.
func (c *Conversation) callStateChanged() {
	c.mu.Lock()
	calls := append([]*Call(nil), c.calls...)
	c.mu.Unlock()
	if len(calls) == 0 {
		return // every call has ended (and was dropped): the state stays
	}
	best := ConversationTerminated
	ended := map[*Call]bool{}
	for _, call := range calls {
		var s ConversationState
		st := call.State()
		if st == StateTerminated {
			ended[call] = true
		}
		switch st {
		case StateIdle:
			s = ConversationIdle
		case StateIncoming:
			s = ConversationIncoming
		case StateEstablishing:
			s = ConversationEstablishing
		case StateTerminating:
			s = ConversationTerminating
		case StateTerminated:
			s = ConversationTerminated
		default:
			s = ConversationEstablished
		}
		if rank(s) > rank(best) {
			best = s
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(ended) > 0 {
		c.calls = slices.DeleteFunc(c.calls, func(call *Call) bool { return ended[call] })
	}
	if c.state == ConversationIdle && best == ConversationIdle {
		return
	}
	c.state = best
}

func rank(s ConversationState) int {
	switch s {
	case ConversationEstablished:
		return 6
	case ConversationEstablishing:
		return 5
	case ConversationIncoming:
		return 4
	case ConversationIdle:
		return 3
	case ConversationTerminating:
		return 2
	}
	return 1
}

// pai returns the P-Asserted-Identity values (RFC 3325): the URI and,
// when set, the phone URI.
func (id presence) pai() []sip.Header {
	name := ""
	if id.name != "" {
		name = `"` + id.name + `" `
	}
	out := []sip.Header{sip.NewHeader("P-Asserted-Identity", name+"<"+formatURI(id.uri)+">")}
	if id.phone != nil {
		out = append(out, sip.NewHeader("P-Asserted-Identity", "<"+formatURI(*id.phone)+">"))
	}
	return out
}

func formatURI(u sip.Uri) string {
	if u.Scheme == "tel" {
		return "tel:" + u.User
	}
	s := u.String()
	if !strings.Contains(s, ":") {
		s = "sip:" + s
	}
	return s
}
