package main

import (
	"runtime"
	"testing"
)

// TestReclaimOnceReturnsGarbage: 200 MB allocated and dropped are given
// back to the OS by one reclaim, without waiting for the runtime's forced
// collection; a small heap is left alone.
func TestReclaimOnceReturnsGarbage(t *testing.T) {
	if _, _, done := reclaimOnce(); done {
		t.Log("an earlier test left a big heap; reclaimed it first")
	}
	if before, _, done := reclaimOnce(); done || before >= reclaimFloor {
		t.Fatalf("a small heap (%d bytes retained) was reclaimed", before)
	}
	garbage(200)
	before, after, done := reclaimOnce()
	if !done {
		t.Fatalf("200 MB of garbage not reclaimed (retained %d bytes)", before)
	}
	if before < 150<<20 || after > before/2 {
		t.Fatalf("retained %d bytes before, %d after: want most of 200 MB back", before, after)
	}
	t.Logf("retained %d MB before, %d MB after", before>>20, after>>20)
}

// garbage allocates and touches mb MiB, and drops it.
func garbage(mb int) {
	keep := make([][]byte, 0, mb)
	for range mb {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	runtime.KeepAlive(keep)
}
