package endpoint

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

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

// routeSet reads the Record-Route headers of m (RFC 3261 section 12.1):
// in order for the UAS, reversed for the UAC.
func routeSet(m interface{ GetHeaders(string) []sip.Header }, reverse bool) []sip.Uri {
	var out []sip.Uri
	for _, h := range m.GetHeaders("Record-Route") {
		for _, v := range strings.Split(h.Value(), ",") {
			v = strings.TrimSpace(v)
			if i := strings.IndexByte(v, '<'); i >= 0 {
				if j := strings.IndexByte(v[i:], '>'); j > 0 {
					v = v[i+1 : i+j]
				}
			}
			var u sip.Uri
			if err := sip.ParseUri(v, &u); err == nil {
				out = append(out, u)
			}
		}
	}
	if reverse {
		slices.Reverse(out)
	}
	return out
}

// uasDialog builds the dialog of a request we answer (RFC 3261 section
// 12.1.1) with our tag localTag; the caller checks that it has a Contact.
// On connection-oriented transports without a route set, requests go back
// over the connection the request came in on.
func uasDialog(req *sip.Request, localTag string) dialog {
	from, to := req.From(), req.To()
	ftag, _ := from.Params.Get("tag")
	d := dialog{
		callID: req.CallID().Value(), localTag: localTag, remoteTag: ftag,
		local: to.Address, localName: to.DisplayName,
		remote: from.Address, remoteName: from.DisplayName,
		remoteSeq: req.CSeq().SeqNo, localSeq: uint32(time.Now().UnixNano()&0x7fff) + 1,
		transport: req.Transport(),
		routeSet:  routeSet(req, false),
	}
	if ct := req.Contact(); ct != nil {
		d.remoteTarget = ct.Address
	}
	if isReliable(d.transport) && len(d.routeSet) == 0 {
		d.destination = req.Source()
	}
	return d
}

// finalResponse waits for the final response of tx, skipping provisional
// ones. what names the request in errors ("BYE", "MESSAGE to sip:bob@…").
// When ctx ends first it returns ctx.Err() and leaves tx to the caller.
func finalResponse(ctx context.Context, tx sip.ClientTransaction, what string) (*sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("endpoint: %s: %w", what, err)
			}
			return nil, fmt.Errorf("endpoint: %s: transaction ended without response", what)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
