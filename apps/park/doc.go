// Package park is the call park service: a parked call waits on an orbit
// (a friendly number such as 7005), hearing music, until someone retrieves
// it by dialling the orbit, or the parker retrieves it with the safe
// retrieve URI, or the pickup timeout rings the parker back.
//
// Parking:
//   - from the API: Service.Park(ctx, call, ParkOptions{}) returns the
//     orbit and the safe retrieve URI;
//   - from any SIP phone, blind: transfer (REFER) the other party to
//     sip:park@host, or to sip:park-<orbit>@host for directed park; the
//     parked party arrives with Referred-By naming the parker, or without
//     it (many phones omit it): then it parks itself, hears its orbit
//     announced, and has no parker to be rung back;
//   - from any SIP phone, attended: call sip:park@host (your call is
//     parked, hearing the orbit number), then complete an attended
//     transfer (REFER with Replaces): the parked party takes over the
//     orbit in one store operation (Store.Replace).
//
// ParkOptions.OnState reports an API park's steps as UCMA does (Parking,
// then Parked with the orbit, or ParkFailed with the call kept); CanPark
// says whether a call can be parked (conference legs cannot). Ring-backs
// carry Alert-Info <urn:alert:service:recall:hold> (RFC 7462) and
// X-Park-Orbit; ReminderOf reads them on the receiving side.
//
// The orbit is returned in the X-Park-Orbit header of the 200 OK for
// programs. A full pool refuses the park with 486 "No Free Orbit", so a
// phone that transferred with REFER learns it from the NOTIFY and keeps its
// call.
//
// Retrieving: an INVITE to sip:<orbit>@host from an internal domain
// connects to the parked party (federated users get 403, an empty orbit
// 404); sip:park-retrieve-<token>@host connects only while the orbit still
// holds the call that was parked with that token (the Mary/Steven case: a
// reused orbit is refused with 404 "Safe Retrieve Failed").
//
// Timeout chain: after the pickup timeout (default 90 s) the parker is rung
// back, up to MaxAttempts times; then the fallback URI is called if
// configured; otherwise the parked party is disconnected and the parker is
// told why (a SIP MESSAGE). Phones may SUBSCRIBE to the dialog event
// package (RFC 4235) of an orbit URI to show a busy lamp.
//
// Only audio is parked: video m-lines are answered with port 0.
//
// State lives in a Store: by default a MemoryStore for this server; the
// Redis store of package park/redisstore (WithStore) shares one pool of
// orbits between several nodes. A store that cannot reach its server
// refuses parks and retrievals with ErrStoreUnavailable (503 "Park Store
// Unavailable").
//
// Several nodes: with a SharedStore, each node holds the media of the calls
// it parked, and a retrieval (by orbit or safe retrieve) arriving at a node
// that does not hold the call is bridged (b2b, presenting the retriever's
// identity, marked with X-Park-Forwarded) to the owner node's address,
// which the store publishes. The owner applies the usual rules again and
// claims the orbit atomically in the store, so exactly one retriever wins on
// any number of nodes; the losers get its 404. Nodes must trust each other
// (platform.Config.TrustedPeers). Busy lamps subscribed through any node
// follow the orbits of every node (SharedStore.OnOrbitChange), including
// orbits released when a node dies.
package park
