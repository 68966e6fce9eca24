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
	"github.com/switchboard-sip/switchboard/media"
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
// RTCP (RTP port + 1) passes too, without loss or delay, as it does on a
// network path: a session that hears nothing at all stops sending to a
// silent peer (media.SessionConfig.SilentPeerGrace).
type Relay struct {
	opts      RelayOptions
	sa, sb    *net.UDPConn
	ca, cb    *net.UDPConn // RTCP, at sa's and sb's port + 1
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
	ports := &media.PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	listen := func() (*net.UDPConn, *net.UDPConn) {
		rtp, rtcp, err := ports.ListenPair()
		if err != nil {
			t.Fatal(err)
		}
		return rtp, rtcp
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &Relay{opts: opts, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}
	r.sa, r.ca = listen()
	r.sb, r.cb = listen()
	toA := func() netip.AddrPort { r.mu.Lock(); defer r.mu.Unlock(); return r.toA }
	toB := func() netip.AddrPort { r.mu.Lock(); defer r.mu.Unlock(); return r.toB }
	rtcpOf := func(f func() netip.AddrPort) func() netip.AddrPort {
		return func() netip.AddrPort { a := f(); return netip.AddrPortFrom(a.Addr(), a.Port()+1) }
	}
	r.wg.Go(func() { r.pump(r.sa, r.sb, toB, true) })
	r.wg.Go(func() { r.pump(r.sb, r.sa, toA, true) })
	r.wg.Go(func() { r.pump(r.ca, r.cb, rtcpOf(toB), false) })
	r.wg.Go(func() { r.pump(r.cb, r.ca, rtcpOf(toA), false) })
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

// pump forwards what in receives from out to dest; lossy packets (RTP)
// suffer the simulated network, the others (RTCP) pass at once.
func (r *Relay) pump(in, out *net.UDPConn, dest func() netip.AddrPort, lossy bool) {
	buf := make([]byte, 1500)
	for {
		n, _, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !lossy {
			if to := dest(); to.Port() > 1 {
				_, _ = out.WriteToUDPAddrPort(buf[:n], to)
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
	r.ca.Close()
	r.cb.Close()
	r.wg.Wait()
}
