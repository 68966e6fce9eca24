// Package platform is the root of a Switchboard server: it owns the SIP
// transports (UDP, TCP, TLS, WS through github.com/emiago/sipgo), the
// trusted-peer configuration, the RTP port range, and routes every incoming
// request to the application endpoint or dialog that owns it.
//
// Out-of-dialog requests are routed by Request-URI to the [Handler]
// registered for that owner URI with [Platform.Route], or to the default
// routing handler; anything else gets 404. In-dialog requests are routed by
// Call-ID and local tag to the call or subscription that registered the
// dialog (endpoints do, through Switchboard's internal user agent core);
// unknown dialogs get 481. OPTIONS is answered by the platform itself.
//
// Lifetime follows net/http: [New] validates the [Config] and binds the
// sockets, [Platform.Start] serves, [Platform.Shutdown] drains (new INVITEs
// get 503 with Retry-After; established calls run until the context ends
// and are then ended with BYE), and [Platform.Close] stops at once.
//
//	p, err := platform.New(platform.Config{UDP: []string{"127.0.0.1:5060"}},
//		platform.WithLogger(logger))
//	if err != nil { ... }
//	ep, _ := endpoint.NewApplication(p, endpoint.Settings{OwnerURI: "sip:bot@example.com"})
//	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) { ... }))
//	p.Start()
//	defer p.Shutdown(ctx)
package platform
