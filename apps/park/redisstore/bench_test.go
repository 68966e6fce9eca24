package redisstore_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
)

// BenchmarkAllocate compares one park and retrieve (Allocate then Claim)
// in the memory store and in the Redis store (one redis-server on
// loopback, one client), on a pool of 100 orbits with 90 busy and the
// NextFree policy; each reports ns/op and the p50/p99 of Allocate alone.
// The ratio of the two ns/op is the cost of sharing the pool.
func BenchmarkAllocate(b *testing.B) {
	srv := startRedis(b)
	r := park.OrbitRange{Start: "7000", End: "7099"}
	mem, err := park.NewMemoryStore([]park.OrbitRange{r}, park.NextFree)
	if err != nil {
		b.Fatal(err)
	}
	red := newRedisStore(b, srv, "bench", "", park.NextFree, 10*time.Second, r)
	for _, bc := range []struct {
		name string
		s    park.Store
	}{{"memory", mem}, {"redis", red}} {
		for i := range 90 {
			mustAllocate(b, bc.s, "", fmt.Sprint("busy-", i))
		}
		b.Run(bc.name, func(b *testing.B) {
			var lat []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				e, err := bc.s.Allocate("", park.Entry{CallID: "c", Parked: "sip:alice@example.com"})
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bc.s.Claim(e.Orbit, e.Token); err != nil {
					b.Fatal(err)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "alloc-p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "alloc-p99-ns")
		})
	}
}
