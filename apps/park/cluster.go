package park

import (
	"context"
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
)

// SharedStore is a Store shared by several nodes (package park/redisstore),
// each holding the media of the calls it parked. A Service whose store is a
// SharedStore retrieves a call held by another node by bridging to that
// node, and lights the busy lamps of every node's orbits.
type SharedStore interface {
	Store
	// ClaimHere is Claim, except that it claims only a park held by this
	// node: for a park held by another node it changes nothing and returns
	// an *ElsewhereError. The check and the claim are one atomic step, so
	// exactly one of many retrievers on any nodes wins.
	ClaimHere(orbit, token string) (Entry, error)
	// OnOrbitChange adds a function told about orbits that another node,
	// or the liveness sweep, parked, freed or replaced; "" means any orbit
	// may have changed (the store missed changes while cut off). Every
	// function added is told, in the order added, on a goroutine of the
	// store, one call at a time; none may block. remove removes this one
	// (idempotent).
	OnOrbitChange(f func(orbit string)) (remove func())
}

// ElsewhereError says that an orbit's parked call is held by another node.
type ElsewhereError struct {
	Orbit string
	// Node is the id of the node holding the call.
	Node string
	// Address is where that node takes SIP requests (host:port), "" when
	// the node published none or is no longer alive.
	Address string
}

func (e *ElsewhereError) Error() string {
	if e.Address == "" {
		return fmt.Sprintf("park: orbit %s is held by node %s, which publishes no address", e.Orbit, e.Node)
	}
	return fmt.Sprintf("park: orbit %s is held by node %s at %s", e.Orbit, e.Node, e.Address)
}

// ForwardedHeader marks a retrieval that a node bridged to the node holding
// the parked call; its value is the forwarding node's id. A node never
// forwards such a request again, so two nodes that disagree about the
// owner cannot bounce it between them.
const ForwardedHeader = "X-Park-Forwarded"

// claim claims orbit for a retriever: only a park held by this node when
// the store is shared (the others are bridged to their node).
func (s *Service) claim(orbit, token string) (Entry, error) {
	if ss, ok := s.store.(SharedStore); ok {
		return ss.ClaimHere(orbit, token)
	}
	return s.store.Claim(orbit, token)
}

// orbitChanged lights the lamps of an orbit that another node changed (all
// watched orbits for ""): the store's pub/sub goroutine calls it.
func (s *Service) orbitChanged(orbit string) {
	s.mu.Lock()
	var orbits []string
	for o, subs := range s.subs {
		if len(subs) > 0 && (orbit == "" || o == orbit) {
			orbits = append(orbits, o)
		}
	}
	s.mu.Unlock()
	for _, o := range orbits {
		s.lamp(o, nil)
	}
}

// bridge connects a retriever to a park held by another node: a b2b call
// from this node to the owner's orbit URI (or safe-retrieve URI with a
// token), presenting the retriever's identity, so that the owner applies
// the same federation and safe-retrieve rules and its atomic claim decides
// between concurrent retrievers. The owner's refusal (404 for an orbit
// emptied meanwhile) reaches the retriever as is. The owner must list this
// node among its trusted peers (platform.Config.TrustedPeers) to believe
// the presented identity.
func (s *Service) bridge(ctx context.Context, c *endpoint.Call, ew *ElsewhereError, token string) {
	if c.Request().GetHeader(ForwardedHeader) != nil {
		// The forwarding node thought this node held the call; believing
		// it again would loop.
		s.log.Info("park: forwarded retrieval of an orbit held elsewhere", "orbit", ew.Orbit, "owner", ew.Node,
			"forwarded_by", c.Header(ForwardedHeader))
		_ = c.DeclineWithReason(ctx, sip.StatusNotFound, "Orbit Empty")
		return
	}
	if ew.Address == "" {
		s.log.Warn("park: retrieval of an orbit held by an unreachable node", "orbit", ew.Orbit, "owner", ew.Node)
		_ = c.DeclineWithReason(ctx, sip.StatusTemporarilyUnavailable, "Owner Node Unavailable")
		return
	}
	user := ew.Orbit
	if token != "" {
		user = s.cfg.User + "-retrieve-" + token
	}
	target := "sip:" + user + "@" + ew.Address
	node := ""
	if n, ok := s.store.(interface{ Node() string }); ok {
		node = n.Node()
	}
	b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: s.ringer.NewConversation().NewCall(), Destination: target,
		Establish: endpoint.EstablishOptions{Headers: []endpoint.Header{{Name: ForwardedHeader, Value: node}}}},
		b2b.Options{ImpersonateCaller: true})
	if err != nil {
		s.log.Warn("park: bridge to the owner node", "orbit", ew.Orbit, "owner", ew.Node, "error", err)
		_ = c.DeclineWithReason(ctx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	// Establish refuses the retriever with the owner's answer on failure.
	if err := b.Establish(ctx); err != nil {
		var re *endpoint.ResponseError
		if !errors.As(err, &re) {
			s.log.Warn("park: bridge to the owner node failed", "orbit", ew.Orbit, "owner", ew.Node, "error", err)
		}
		return
	}
	s.log.Info("park: retrieved through the owner node", "orbit", ew.Orbit, "owner", ew.Node,
		"by", c.RemoteURI(), "safe_retrieve", token != "")
	c.HandOff()
}
