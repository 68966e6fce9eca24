// Package apps is the home of Switchboard's bundled applications. Every app
// is a subpackage with the same shape, so that cmd/switchboard (and any
// program embedding Switchboard) puts it on its dial plan the same way:
//
//	app, err := park.New(p, park.Config{}, park.WithLogger(log))
//
// New(platform, Config, ...Option) validates the config, routes the app's
// addresses on the platform and registers the app with it; the platform
// closes its apps, last started first, on Shutdown or Close, and each
// app's Close is idempotent. Apps whose behaviour a bot may want on its
// own endpoint also export a Handler.
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
