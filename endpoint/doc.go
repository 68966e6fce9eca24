// Package endpoint implements application endpoints, conversations and
// audio calls on a [platform.Platform], in the model of UCMA.
//
// An [Endpoint] is an identity on the platform (owner URI, phone URI,
// display name). Application endpoints are trusted: their conversations may
// impersonate other identities ([Conversation.Impersonate]) and may join
// conferences as trusted participants; user endpoints may not.
//
// Incoming calls are served like net/http requests: the endpoint's
// [Handler] runs on the call's own goroutine, and the call ends when the
// handler returns unless the handler called [Call.HandOff]. The context
// passed to the handler is cancelled when the call terminates (for example
// when the remote side hangs up).
//
//	ep, _ := endpoint.NewApplication(p, endpoint.Settings{OwnerURI: "sip:beep@example.com"})
//	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
//		if c.Header("X-Account") == "" {
//			_ = c.Decline(ctx, 403) // 403 Forbidden
//			return
//		}
//		if err := c.Accept(ctx); err != nil {
//			return
//		}
//		_ = c.Flow().Play(ctx, dsp.Sine(8000, 440, time.Second, 0.3)) // 1 s beep at 8 kHz
//	}))
//
// Simple jobs need no sipgo import: [Header] values add header fields to
// an INVITE ([EstablishOptions]), a 200 OK ([Call.AcceptWithHeaders]) or a
// REFER, and [Call.Header] reads those of an incoming INVITE. The parsed
// sipgo INVITE stays available as [Call.Request] for everything else.
//
// Outgoing calls belong to a conversation:
//
//	conv := ep.NewConversation()
//	_ = conv.Impersonate(endpoint.Identity{URI: "sip:alice@example.com", DisplayName: "Alice"})
//	call := conv.NewCall()
//	err := call.Establish(ctx, "sip:bob@192.0.2.10", endpoint.EstablishOptions{})
//
// Out-of-dialog requests (a MESSAGE to a user, an unsolicited NOTIFY, an
// OPTIONS ping) leave from the endpoint's owner URI, or from a
// conversation's identity with [Conversation.Request]; a failure response
// is a [*ResponseError]:
//
//	err := ep.SendMessage(ctx, "sip:bob@192.0.2.10", "text/plain", []byte("Your call was parked on 7001"))
//	res, err := ep.Request(ctx, sip.OPTIONS, "sip:gw@192.0.2.1", endpoint.RequestOptions{})
//
// Events ([Call.OnStateChanged], [Call.OnMediaChanged], [Call.OnDTMF],
// [Call.OnTransferRequested]) add handlers: every handler added runs, in
// the order added, one event at a time on a goroutine of its call, never
// under a lock, and must not block. Each OnX returns the function that
// removes its handler, so an application's handlers and those of a
// back-to-back call, conference or park service on the same call coexist.
package endpoint
