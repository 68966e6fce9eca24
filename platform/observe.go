package platform

import (
	"github.com/emiago/sipgo/sip"
)

// Observer watches the SIP traffic of a platform, for metrics. Its methods
// run on the goroutines that receive requests and send responses, one call
// per message, and must not block.
type Observer interface {
	// ObserveRequest is called for each request the platform receives
	// and serves (including those it answers statelessly).
	ObserveRequest(method string)
	// ObserveResponse is called for each response the platform or its
	// handlers send to a received request (not those sipgo sends by
	// itself, such as 487 to a cancelled INVITE).
	ObserveResponse(method string, code int)
}

// WithObserver makes o see the platform's SIP requests and responses.
func WithObserver(o Observer) Option { return func(p *Platform) { p.obs = o } }

// observedTx counts the responses sent on a server transaction.
type observedTx struct {
	sip.ServerTransaction
	method string
	obs    Observer
}

func (t observedTx) Respond(res *sip.Response) error {
	t.obs.ObserveResponse(t.method, res.StatusCode)
	return t.ServerTransaction.Respond(res)
}
