package conference

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
)

// Directory is a conference directory shared by several nodes (one
// implementation is apps/park/redisstore's Conferences): it maps a
// conference id to the one node hosting it, so that every participant of a
// conference is in one mix whichever node its INVITE reached.
//
// With a Directory, a call for sip:<prefix><id>@ that finds no local
// conference claims id first: when another live node holds it, the call is
// redirected there (302, Contact sip:<prefix><id>@<that node's address>) —
// a proxy in front of the nodes, such as deploy/kamailio, follows the
// redirect, so the caller sees one answer and the media goes straight to
// the owner. A conference's entry is released when it ends; a dead node's
// entries lapse with its heartbeat.
type Directory interface {
	// Claim makes this node the owner of id unless a live node owns it
	// already, atomically across nodes. It returns the owner's SIP address
	// (host:port), or "" when this node is (now) the owner.
	Claim(ctx context.Context, id string) (owner string, err error)
	// Release removes id's entry if this node owns it. It must not block
	// for long (it is called as a conference ends).
	Release(id string)
}

// WithDirectory shares the service's conferences with other nodes through
// d (see Directory). Without it conferences are this node's alone.
func WithDirectory(d Directory) Option { return func(s *Service) { s.dir = d } }

// directoryTimeout bounds a claim in the directory.
const directoryTimeout = 3 * time.Second

// sendToOwner claims call's conference in the directory, when the service
// has one and the conference is not here already. It returns true when
// the call was answered: redirected to the owner node, or refused with 503
// because the directory cannot be reached (no node could then tell whether
// the conference is held elsewhere).
func (s *Service) sendToOwner(ctx context.Context, call *endpoint.Call) bool {
	if s.dir == nil {
		return false
	}
	u := call.Request().Recipient
	id := u.User[len(s.cfg.Prefix):]
	if _, ok := s.Conference(id); ok {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, directoryTimeout)
	owner, err := s.dir.Claim(cctx, id)
	cancel()
	switch {
	case err != nil:
		s.log.Warn("conference: directory unreachable", "conference", id, "error", err)
		_ = call.DeclineWithReason(ctx, sip.StatusServiceUnavailable, "Conference Directory Unavailable")
		return true
	case owner == "":
		return false
	}
	s.log.Info("conference: held by another node, redirected", "conference", id, "owner", owner, "call_id", call.CallID())
	if err := call.Redirect(ctx, "sip:"+u.User+"@"+owner); err != nil {
		s.log.Warn("conference: redirect to the owner node", "conference", id, "owner", owner, "error", err)
	}
	return true
}

// unpin releases an ended conference's directory entry.
func (s *Service) unpin(id string) {
	if s.dir != nil {
		s.dir.Release(id)
	}
}
