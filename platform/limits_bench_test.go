package platform

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// BenchmarkScreenLimiter measures what the per-source rate limiter adds to
// the stateless path every UDP request crosses (screen: parse, validate,
// admit): the same out-of-dialog INVITE from an untrusted source, with the
// limiter on (a rate high enough that every request passes, so both runs do
// the same work after it) and off (RateLimit negative). "sources=10000"
// spreads the requests over 10,000 addresses (one bucket each, a map that
// large). bench/limiter.sh prints the ratio.
func BenchmarkScreenLimiter(b *testing.B) {
	for _, bc := range []struct {
		name    string
		rate    float64
		sources int
	}{
		{"limiter=off", -1, 1},
		{"limiter=on", 1e12, 1},
		{"limiter=on/sources=10000", 1e12, 10000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := New(Config{UDP: []string{"127.0.0.1:0"}, RateLimit: bc.rate, RateBurst: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = p.Close() })
			parser := sip.NewParser()
			conn := &recordConn{}
			msg := []byte(screenInvite)
			from := make([]net.Addr, bc.sources)
			for i := range from {
				from[i] = &net.UDPAddr{IP: net.IPv4(192, 0, byte(2+i>>8), byte(i)), Port: 5999}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if p.screen(conn, parser, msg, from[i%len(from)]) {
					b.Fatal("the INVITE was answered by screen")
				}
				i++
			}
		})
	}
}

// BenchmarkLimiterAllow is the limiter's own cost per request (one source,
// and 10,000), without the parse around it.
func BenchmarkLimiterAllow(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(map[int]string{1: "sources=1", 10000: "sources=10000"}[n], func(b *testing.B) {
			l := newSourceLimiter(1e12, 1<<30, 100000)
			srcs := make([]netip.Addr, n)
			for i := range srcs {
				srcs[i] = netip.AddrFrom4([4]byte{192, 0, byte(2 + i>>8), byte(i)})
			}
			now := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if !l.allow(srcs[i%n], now) {
					b.Fatal("refused")
				}
				i++
			}
		})
	}
}
