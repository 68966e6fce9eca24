package endpoint

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// dialog is the state of one SIP dialog (RFC 3261 section 12). It is
// guarded by the owning call's mutex.
type dialog struct {
	callID       string
	localTag     string
	remoteTag    string
	local        sip.Uri // our From in requests we send
	localName    string
	remote       sip.Uri // our To in requests we send
	remoteName   string
	remoteTarget sip.Uri
	routeSet     []sip.Uri
	localSeq     uint32
	remoteSeq    uint32
	transport    string // "UDP", "TCP", ...
	// destination, when set, overrides where requests are sent: the source
	// of the initial INVITE on connection-oriented transports.
	destination string
}

// request builds an in-dialog request (RFC 3261 section 12.2.1.1). seq is
// the CSeq number; callers allocate it.
func (d *dialog) request(method sip.RequestMethod, seq uint32, contact sip.ContactHeader) *sip.Request {
	req := sip.NewRequest(method, d.remoteTarget)
	from := &sip.FromHeader{DisplayName: d.localName, Address: d.local, Params: sip.NewParams()}
	from.Params.Add("tag", d.localTag)
	to := &sip.ToHeader{DisplayName: d.remoteName, Address: d.remote, Params: sip.NewParams()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	callID := sip.CallIDHeader(d.callID)
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(&maxFwd)
	for _, r := range d.routeSet {
		req.AppendHeader(&sip.RouteHeader{Address: r})
	}
	if method != sip.BYE && method != sip.CANCEL {
		c := contact
		req.AppendHeader(&c)
	}
	req.SetTransport(d.transport)
	switch {
	case len(d.routeSet) > 0:
		req.SetDestination(d.routeSet[0].HostPort())
	case d.destination != "":
		req.SetDestination(d.destination)
	}
	return req
}

func isReliable(transport string) bool {
	t := strings.ToUpper(transport)
	return t == "TCP" || t == "TLS" || t == "WS" || t == "WSS"
}
