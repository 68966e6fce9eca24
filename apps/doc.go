// Package apps is the home of Switchboard's bundled applications. Each app
// is a subpackage exposing an endpoint.Handler, so that cmd/switchboard
// (and any program embedding Switchboard) can put it on its dial plan:
//
//   - apps/echo answers and sends back what the caller says.
//   - apps/announce plays an announcement and hangs up (the default
//     "hello" number).
//
// Call park, hold music, IVR and recording apps join this folder as they
// are built.
package apps
