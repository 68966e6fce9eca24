// Package admin is the operator's HTTP interface to a running Switchboard:
// a JSON API under /api/v1 over its platform and apps (calls, park
// orbits, conferences, recordings, drain), a Server-Sent Events stream of
// what happens to them (/api/v1/events), Prometheus metrics (/metrics) and
// health checks (/healthz, /readyz). The API is described by the OpenAPI 3
// document in this package (openapi.json, served at /api/v1/openapi.json);
// errors are RFC 9457 problem details (application/problem+json).
//
// The metrics see SIP traffic through the platform's Observer, so they are
// made before the platform:
//
//	m := admin.NewMetrics()
//	p, _ := platform.New(cfg, platform.WithObserver(m))
//	// ... start the apps ...
//	srv, err := admin.New(admin.Config{Listen: "127.0.0.1:8080"},
//		admin.Services{Platform: p, Park: parkSvc}, admin.WithMetrics(m))
//	go srv.ListenAndServe()
//	defer srv.Close()
//
// A listener on a non-loopback address needs Config.Token; with a token,
// every request must carry "Authorization: Bearer <token>", but for the
// operator console's static files (package admin/console, served at /)
// and a GET carrying a ticket: POST /api/v1/tickets {"path": ...} gives a
// one-minute ticket for the event stream or one recording's audio, for
// browsers' EventSource and <audio>, which cannot send the header.
package admin
