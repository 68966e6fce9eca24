// Package apps is the home of Switchboard's bundled applications. Each app
// is a subpackage exposing an endpoint.Handler or a service that routes
// its own addresses, so that cmd/switchboard (and any program embedding
// Switchboard) can put it on its dial plan:
//
//   - apps/echo answers and sends back what the caller says.
//   - apps/announce plays an announcement and hangs up (the default
//     "hello" number).
//   - apps/holdmusic plays shared looping hold music at sip:moh@ and
//     sip:moh-<name>@, and to calls put on hold.
//   - apps/park is call park: orbits, retrieval, the pickup timeout chain
//     and busy lamps (RFC 4235).
//
// IVR and recording apps join this folder as they are built.
package apps
