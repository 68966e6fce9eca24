// Package redisstore is a park.Store in Redis, so that several Switchboard
// nodes share one pool of orbits: each allocation, claim, release and
// replace is one Lua script, so two nodes never get the same orbit and
// exactly one of many retrievers wins. Each entry records the node holding
// the parked call (Owner, ListContext). Nodes heartbeat a key with a TTL;
// the orbits of a node that stops are released by the survivors within
// Config.ReleaseAfter (default 10 s). While Redis is unreachable,
// operations fail with errors wrapping park.ErrStoreUnavailable, and the
// client reconnects by itself.
//
// The Store is a park.SharedStore: ClaimHere claims only a park this node
// holds, else returns a *park.ElsewhereError with the owner's SIP address
// (Config.Address, published as the value of its heartbeat), so that the
// park service bridges the retriever there; every change of an orbit is
// published on a Redis pub/sub channel, and OnOrbitChange tells the other
// nodes (including the liveness sweep's releases), so that busy lamps work
// through any node.
//
//	st, err := redisstore.New(ctx, "redis://10.0.0.5:6379/0", "node-1",
//		redisstore.Config{Orbits: cfg.Orbits, Allocation: cfg.Allocation, Address: "10.0.0.2:5060"})
//	if err != nil {
//		return err
//	}
//	defer st.Close()
//	svc, err := park.New(p, cfg, park.WithStore(st))
//
// The same Redis holds the conference directory (Store.Conferences, a
// conference.Directory): conference id → the node hosting it, claimed
// atomically, refreshed by the heartbeat and taken over when its node is
// gone, so that a conference has one mix whichever node a caller reaches:
//
//	confs, err := conference.New(p, ccfg, conference.WithDirectory(st.Conferences()))
//
// go-redis reports dial failures through its one process-wide logger
// (redis.SetLogger); this package leaves it alone: the program chooses.
//
// Run Redis with persistence (appendonly yes) in production. Without it, a
// restart of Redis loses the parks: the store then refuses parks for
// ReleaseAfter/2 while every live node puts back the calls it holds.
package redisstore
