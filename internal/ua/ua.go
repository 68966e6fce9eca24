// Package ua is the user agent core (RFC 3261 section 8) that a platform
// shares with Switchboard's own packages and with no application: the
// dialog table that routes in-dialog requests, and the client that sends
// requests from the platform's listening sockets.
//
// Package platform creates one Core per platform; package endpoint reaches
// it with Of:
//
//	core := ua.Of(p)
//	if err := core.RegisterDialog(callID, localTag, h); err != nil { ... }
//	tx, err := core.TransactionRequest(ctx, req)
package ua

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/internal/serial"
)

// DialogHandler serves the in-dialog requests of one dialog.
type DialogHandler interface {
	// ServeDialog handles an in-dialog request (including ACK) on the
	// request's goroutine; trusted is the platform's verdict on its
	// source.
	ServeDialog(req *sip.Request, tx sip.ServerTransaction, trusted bool)
	// Terminate ends the dialog (BYE or CANCEL as its state requires); the
	// platform calls it when a Shutdown deadline passes.
	Terminate(ctx context.Context) error
	// Abort releases the dialog's resources without signalling; the
	// platform calls it from Close.
	Abort()
}

// Unconfirmed is implemented by dialog handlers that can be waiting for
// the ACK of the 2xx they sent. Unconfirmed reports a dialog that has
// waited longer than an ACK takes to come (a few T1): a drain does not
// wait for those, since an unACKed dialog ends by itself at Timer H
// (64*T1), longer than a drain should last for a peer that may never ACK.
// A dialog answered a moment ago is still counted: its ACK is on the way.
type Unconfirmed interface {
	Unconfirmed() bool
}

// Confirmed returns the number of registered dialogs that are not waiting
// for an ACK, and a channel closed when a dialog is removed.
func (c *Core) Confirmed() (n int, removed <-chan struct{}) {
	c.mu.Lock()
	hs := make([]DialogHandler, 0, len(c.dialogs))
	for _, h := range c.dialogs {
		hs = append(hs, h)
	}
	removed = c.changed
	c.mu.Unlock()
	// Asked outside c.mu: a call holds its own lock when it unregisters.
	for _, h := range hs {
		if u, ok := h.(Unconfirmed); ok && u.Unconfirmed() {
			continue
		}
		n++
	}
	return n, removed
}

// Core is the dialog table and request client of one platform. Its methods
// are safe for concurrent use.
type Core struct {
	cli    *sipgo.Client
	udp    *net.UDPAddr
	closed func() error

	// Watchers are the observers of the dialogs' owners: package endpoint
	// posts one *endpoint.CallEvent per change in a call's life to them
	// (the values are opaque here, as the platform knows nothing of calls).
	Watchers serial.Handlers[any]

	mu      sync.Mutex
	dialogs map[string]DialogHandler
	// sources are the untrusted source addresses of the incoming dialogs
	// registered with RegisterIncoming, by dialog key, and bySource their
	// counts (DialogsFrom).
	sources  map[string]netip.Addr
	bySource map[netip.Addr]int
	changed  chan struct{} // closed and replaced whenever a dialog is removed
}

// New returns the core of a platform that sends with cl. udp, when not
// nil, is the platform's first UDP listening address, which UDP requests
// leave from; closed reports the platform's closed error (nil while open).
func New(cl *sipgo.Client, udp *net.UDPAddr, closed func() error) *Core {
	return &Core{cli: cl, udp: udp, closed: closed, dialogs: map[string]DialogHandler{}, changed: make(chan struct{}),
		sources: map[string]netip.Addr{}, bySource: map[netip.Addr]int{}}
}

// of is set once, by package platform's init, and never changes: it is the
// only link from the public platform type to its core. (Package platform
// imports this one, so the platform's type cannot be named here.)
var of func(platform any) *Core

// SetOf installs the function behind Of. Only package platform calls it,
// from its init.
func SetOf(f func(platform any) *Core) { of = f }

// Of returns the core of a *platform.Platform.
func Of(platform any) *Core { return of(platform) }

func dialogKey(callID, localTag string) string { return callID + "\x00" + localTag }

// RegisterDialog routes in-dialog requests with this Call-ID and local tag
// (the To tag of requests we receive) to h. It fails once the platform is
// closed.
func (c *Core) RegisterDialog(callID, localTag string, h DialogHandler) error {
	if err := c.closed(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dialogs[dialogKey(callID, localTag)] = h
	return nil
}

// RegisterIncoming is RegisterDialog for a dialog an untrusted source
// opened: the dialog counts against source in DialogsFrom until it is
// unregistered (the platform's max_calls_per_source).
func (c *Core) RegisterIncoming(callID, localTag string, h DialogHandler, source netip.Addr) error {
	if err := c.RegisterDialog(callID, localTag, h); err != nil || !source.IsValid() {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := dialogKey(callID, localTag)
	if _, ok := c.sources[k]; !ok {
		c.sources[k] = source
		c.bySource[source]++
	}
	return nil
}

// DialogsFrom returns the number of registered dialogs that source opened
// (RegisterIncoming).
func (c *Core) DialogsFrom(source netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bySource[source]
}

// UnregisterDialog removes a dialog registered with RegisterDialog.
func (c *Core) UnregisterDialog(callID, localTag string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := dialogKey(callID, localTag)
	if src, ok := c.sources[k]; ok {
		delete(c.sources, k)
		if c.bySource[src]--; c.bySource[src] <= 0 {
			delete(c.bySource, src)
		}
	}
	if _, ok := c.dialogs[k]; ok {
		delete(c.dialogs, k)
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// Dialog returns the handler of a registered dialog.
func (c *Core) Dialog(callID, localTag string) (DialogHandler, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.dialogs[dialogKey(callID, localTag)]
	return h, ok
}

// Dialogs returns the number of registered dialogs and a channel that is
// closed when one of them is removed.
func (c *Core) Dialogs() (n int, removed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.dialogs), c.changed
}

// Snapshot returns the handlers of the registered dialogs.
func (c *Core) Snapshot() []DialogHandler {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]DialogHandler, 0, len(c.dialogs))
	for _, h := range c.dialogs {
		out = append(out, h)
	}
	return out
}

// Prepare is a sipgo client request option for the requests Switchboard
// sends: it adds a Via when there is none and binds UDP requests to the
// platform's listening socket, so that requests leave from the address
// peers know (and that their responses come back to).
func (c *Core) Prepare(cl *sipgo.Client, req *sip.Request) error {
	if err := c.closed(); err != nil {
		// After Close sipgo would open a fresh socket for the request
		// (and leak its reader): refuse instead.
		return err
	}
	if strings.EqualFold(req.Transport(), "UDP") && c.udp != nil && req.Laddr.Port == 0 {
		req.Laddr = sip.Addr{IP: c.udp.IP, Port: c.udp.Port}
	}
	if req.Via() == nil {
		return sipgo.ClientRequestAddVia(cl, req)
	}
	return nil
}

// TransactionRequest starts a client transaction for req, prepared by
// Prepare and then by opts.
func (c *Core) TransactionRequest(ctx context.Context, req *sip.Request, opts ...sipgo.ClientRequestOption) (sip.ClientTransaction, error) {
	return c.cli.TransactionRequest(ctx, req, append([]sipgo.ClientRequestOption{c.Prepare}, opts...)...)
}

// WriteRequest sends req outside any transaction (ACK for a 2xx),
// prepared by Prepare.
func (c *Core) WriteRequest(req *sip.Request) error {
	return c.cli.WriteRequest(req, c.Prepare)
}

// Client returns the sipgo client requests are sent with.
func (c *Core) Client() *sipgo.Client { return c.cli }
