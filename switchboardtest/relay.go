package switchboardtest

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/callsession"
)

// RelayOptions describe the network a Relay simulates.
type RelayOptions struct {
	// Loss is the probability (0–1) that a packet is dropped.
	Loss float64
	// Delay is the base one-way delay; Jitter adds a uniformly random
	// 0..Jitter on top, so packets may arrive out of order.
	Delay, Jitter time.Duration
	// Seed makes the loss and delay pattern reproducible (0: random).
	Seed uint64
}

// Relay forwards RTP between two media sessions through a simulated lossy,
// jittery network on loopback, like netem but inside the test process.
type Relay struct {
	opts      RelayOptions
	sa, sb    *net.UDPConn
	mu        sync.Mutex
	rng       *rand.Rand
	toA, toB  netip.AddrPort
	forwarded atomic.Uint64
	dropped   atomic.Uint64
	wg        sync.WaitGroup
	closed    atomic.Bool
}

// NewRelay starts a relay; it is closed on test cleanup.
func NewRelay(t testing.TB, opts RelayOptions) *Relay {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &Relay{opts: opts, sa: listen(), sb: listen(), rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}
	r.wg.Go(func() { r.pump(r.sa, r.sb, func() netip.AddrPort { r.mu.Lock(); defer r.mu.Unlock(); return r.toB }) })
	r.wg.Go(func() { r.pump(r.sb, r.sa, func() netip.AddrPort { r.mu.Lock(); defer r.mu.Unlock(); return r.toA }) })
	t.Cleanup(r.Close)
	return r
}

// Attach routes a's RTP to b and b's to a through the relay.
func (r *Relay) Attach(ca, cb *endpoint.Call) {
	a, b := callsession.Of(ca), callsession.Of(cb)
	r.mu.Lock()
	r.toA, r.toB = a.LocalAddr(), b.LocalAddr()
	r.mu.Unlock()
	a.SetRemote(r.sa.LocalAddr().(*net.UDPAddr).AddrPort())
	b.SetRemote(r.sb.LocalAddr().(*net.UDPAddr).AddrPort())
}

// Stats returns how many packets were forwarded and dropped.
func (r *Relay) Stats() (forwarded, dropped uint64) { return r.forwarded.Load(), r.dropped.Load() }

func (r *Relay) pump(in, out *net.UDPConn, dest func() netip.AddrPort) {
	buf := make([]byte, 1500)
	for {
		n, _, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		r.mu.Lock()
		drop := r.rng.Float64() < r.opts.Loss
		var jit time.Duration
		if r.opts.Jitter > 0 {
			jit = time.Duration(r.rng.Int64N(int64(r.opts.Jitter)))
		}
		r.mu.Unlock()
		if drop {
			r.dropped.Add(1)
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		to := dest()
		time.AfterFunc(r.opts.Delay+jit, func() {
			if r.closed.Load() {
				return
			}
			if _, err := out.WriteToUDPAddrPort(pkt, to); err == nil {
				r.forwarded.Add(1)
			}
		})
	}
}

// Close stops the relay. It is idempotent.
func (r *Relay) Close() {
	if r.closed.Swap(true) {
		return
	}
	r.sa.Close()
	r.sb.Close()
	r.wg.Wait()
}
