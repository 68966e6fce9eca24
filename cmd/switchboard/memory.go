package main

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"
)

// Why the server reclaims memory itself. After a burst of calls the heap
// the calls used is garbage (their SIP transactions linger 64×T1, RFC
// 6026, then go), but an idle server allocates too little for the Go
// runtime to collect it: the next garbage collection is the forced one,
// two minutes on, and the scavenger then hands pages back slowly. Measured
// with bench/burst.sh (30,000 calls at 1,000 a second): RSS stayed at
// 650 MB for over a minute with 10 MB live. So while the heap holds much
// more than its live data, a collection every reclaimEvery returns the
// rest at once. Under load the runtime collects far more often than this
// on its own, so the extra collection costs nothing noticeable there.

const (
	reclaimEvery = 10 * time.Second
	// reclaimFloor is the heap kept from the OS below which nothing is
	// done: small heaps are not worth a collection.
	reclaimFloor = 64 << 20
)

// reclaimMemory returns heap memory to the OS when the heap retains more
// than twice its live data, every reclaimEvery until stop is closed.
func reclaimMemory(log *slog.Logger, stop <-chan struct{}) {
	t := time.NewTicker(reclaimEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if before, after, ok := reclaimOnce(); ok {
				log.Debug("memory returned to the OS", "retained_before", before, "retained_after", after)
			}
		}
	}
}

// reclaimOnce collects and frees memory to the OS when the heap retains
// more than reclaimFloor and more than twice what is live after a
// collection. It reports the heap retained before and after.
func reclaimOnce() (before, after uint64, done bool) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before = ms.HeapSys - ms.HeapReleased
	if before < reclaimFloor {
		return before, before, false
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapSys-ms.HeapReleased < 2*ms.HeapAlloc {
		return before, ms.HeapSys - ms.HeapReleased, false
	}
	debug.FreeOSMemory()
	runtime.ReadMemStats(&ms)
	return before, ms.HeapSys - ms.HeapReleased, true
}
