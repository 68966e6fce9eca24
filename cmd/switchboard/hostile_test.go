package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// rawInvite is an INVITE to sip:<user>@127.0.0.1:<port> from a raw
// socket at from, with an SDP offer for PCMU at rtp.
func rawInvite(user string, port int, from net.Addr, callID string, rtp int) []byte {
	body := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", rtp)
	return fmt.Appendf(nil, "INVITE sip:%[1]s@127.0.0.1:%[2]d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[3]s;branch=z9hG4bK-%[4]s\r\n"+
		"From: <sip:attacker@127.0.0.1>;tag=t-%[4]s\r\nTo: <sip:%[1]s@127.0.0.1>\r\nCall-ID: %[4]s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:attacker@%[3]s>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n"+
		"Content-Length: %[5]d\r\n\r\n%[6]s", user, port, from, callID, len(body), body)
}

// TestUnackedInvitesAreEnded sends 500 INVITEs to sip:echo@ from a raw
// socket that never ACKs the 200 OK (RFC 3261 section 13.3.1.4) nor
// answers anything. Each call must be ended with a BYE once Timer H
// (64*T1) expires, and goroutines, open files and RTP ports must come back
// to baseline, so that a normal call succeeds afterwards and a drain does
// not wait for them. Before the fix every such call stayed registered
// with its RTP port pair and two goroutines forever.
func TestUnackedInvitesAreEnded(t *testing.T) {
	const n = 500
	const t1 = 50 * time.Millisecond
	_, port := startServer(t, func(c *Config) {
		c.Platform.T1 = t1
		c.Platform.RTPPortMin, c.Platform.RTPPortMax = 40000, 41099 // 550 pairs: room for n, not much more
	})
	atk, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer atk.Close()
	// Warm up with one complete call so that long-lived state exists.
	sbt.NewPhone(t, "warm", phoneT1(t1)).Dial(t, fmt.Sprintf("sip:echo@127.0.0.1:%d", port)).Hangup(t)
	time.Sleep(64*t1 + 300*time.Millisecond) // its transactions expire (Timer J)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	oks, byes := map[string]time.Time{}, map[string]time.Time{}
	done := make(chan struct{})
	go func() { // read responses and BYEs; answer nothing
		defer close(done)
		buf := make([]byte, 65535)
		for {
			_ = atk.SetReadDeadline(time.Now().Add(64*t1*2 + 3*time.Second))
			k, _, err := atk.ReadFrom(buf)
			if err != nil {
				return
			}
			msg := buf[:k]
			id := header(msg, "Call-ID")
			switch {
			case bytes.HasPrefix(msg, []byte("SIP/2.0 200")):
				if _, seen := oks[id]; !seen { // the first 200, not its retransmissions
					oks[id] = time.Now()
				}
			case bytes.HasPrefix(msg, []byte("BYE ")):
				if _, seen := byes[id]; !seen {
					byes[id] = time.Now()
				}
			}
			if len(byes) == n {
				return
			}
		}
	}()
	for i := range n {
		if _, err := atk.WriteTo(rawInvite("echo", port, atk.LocalAddr(), fmt.Sprintf("noack-%d", i), 9000+2*i),
			&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(20 * time.Millisecond) // bounded rate: 500 in about 0.2 s
		}
	}
	<-done
	if len(oks) != n {
		t.Fatalf("%d of %d INVITEs answered 200 OK", len(oks), n)
	}
	missing, latest := 0, time.Duration(0)
	for id, ok := range oks {
		bye, ended := byes[id]
		if !ended {
			missing++
			continue
		}
		latest = max(latest, bye.Sub(ok))
	}
	if missing > 0 {
		t.Fatalf("%d of %d unACKed calls were never ended with BYE", missing, n)
	}
	// RFC 3261 section 13.3.1.4: the UAS gives up on the ACK after Timer H
	// (64*T1) and ends the dialog. The margin covers a loaded CI machine.
	const margin = 2 * time.Second
	t.Logf("latest BYE %v after its 200 OK (Timer H %v)", latest.Round(time.Millisecond), 64*t1)
	if latest > 64*t1+margin {
		t.Fatalf("a BYE came %v after its 200 OK, want within Timer H (%v) + %v", latest, 64*t1, margin)
	}
	// The BYEs' own transactions (unanswered) end after 64*T1 too.
	var g, fd int
	for deadline := time.Now().Add(64*t1 + 5*time.Second); ; time.Sleep(100 * time.Millisecond) {
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if (g <= baseG+2 && fd <= baseFD) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("goroutines %d -> %d, fds %d -> %d", baseG, g, baseFD, fd)
	if g > baseG+2 || fd > baseFD {
		t.Fatalf("not back to baseline: goroutines %d (baseline %d), open files %d (baseline %d)", g, baseG, fd, baseFD)
	}
	// The RTP ports are free again: a normal call gets media and audio.
	pc := sbt.NewPhone(t, "after", phoneT1(t1)).Dial(t, fmt.Sprintf("sip:echo@127.0.0.1:%d", port))
	pc.StartTone(600)
	pc.WaitTone(t, 600, 5*time.Second)
	if f := dsp.ToneFraction(pc.Listen(t, 500*time.Millisecond), 8000, 600); f < 0.7 {
		t.Fatalf("echo after the flood: tone in %.0f%%", f*100)
	}
	pc.Hangup(t)
}

// phoneT1 gives a test phone the server's T1 (sipgo's timers are
// process-wide, so every platform in the test process must agree).
func phoneT1(t1 time.Duration) sbt.PhoneOptions {
	return sbt.PhoneOptions{Config: platform.Config{T1: t1}}
}

// header returns the value of the first header called name in a raw SIP
// message.
func header(msg []byte, name string) string {
	for _, line := range strings.Split(string(msg), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestSilentSDPAddressGetsNoStream replays issue 14 item 7: one INVITE to
// sip:moh@ and its ACK, from a raw socket, with an SDP whose address never
// sends a packet. The music must stop within the silent-peer grace (5 s)
// instead of streaming for as long as the call lasts.
func TestSilentSDPAddressGetsNoStream(t *testing.T) {
	_, port := startServer(t, nil)
	sig, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sig.Close()
	victim, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	inv := rawInvite("moh", port, sig.LocalAddr(), "silent-sdp", victim.LocalAddr().(*net.UDPAddr).Port)
	if _, err := sig.WriteTo(inv, server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	var ok string
	for ok == "" {
		_ = sig.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := sig.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no 200 OK: %v", err)
		}
		if bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
			ok = string(buf[:n])
		}
	}
	to := header([]byte(ok), "To")
	ack := fmt.Sprintf("ACK sip:moh@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ack\r\n"+
		"From: <sip:attacker@127.0.0.1>;tag=t-silent-sdp\r\nTo: %s\r\nCall-ID: silent-sdp\r\nCSeq: 1 ACK\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", port, sig.LocalAddr(), to)
	if _, err := sig.WriteTo([]byte(ack), server); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	first, last := time.Time{}, time.Time{}
	for time.Since(start) < 9*time.Second {
		_ = victim.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, _, err := victim.ReadFrom(buf); err == nil {
			if first.IsZero() {
				first = time.Now()
			}
			last = time.Now()
		}
	}
	if first.IsZero() {
		t.Fatal("the music never started: the test proves nothing")
	}
	if d := last.Sub(start); d > 6*time.Second {
		t.Fatalf("RTP still sent to a silent address %.1f s after the ACK (grace 5 s)", d.Seconds())
	}
	t.Logf("music to the silent address from %.1f s to %.1f s after the ACK", first.Sub(start).Seconds(), last.Sub(start).Seconds())
}

// TestDrainDoesNotWaitForUnackedCalls: calls whose 200 OK is never ACKed
// end by themselves at Timer H (32 s with the default T1), longer than the
// drain timeout; a drain must not wait for them beyond the few T1 an ACK
// takes.
func TestDrainDoesNotWaitForUnackedCalls(t *testing.T) {
	s, port := startServer(t, nil)
	atk, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer atk.Close()
	const n = 20
	for i := range n {
		if _, err := atk.WriteTo(rawInvite("echo", port, atk.LocalAddr(), fmt.Sprintf("drain-%d", i), 9000+2*i),
			&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	oks := map[string]bool{}
	buf := make([]byte, 65535)
	for len(oks) < n {
		_ = atk.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := atk.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%d of %d 200 OKs: %v", len(oks), n, err)
		}
		if bytes.HasPrefix(buf[:k], []byte("SIP/2.0 200")) {
			oks[header(buf[:k], "Call-ID")] = true
		}
	}
	if d := s.Platform.ActiveDialogs(); d != n {
		t.Fatalf("%d dialogs registered, want the %d unACKed calls", d, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Platform.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// An answered call's ACK may still be on its way for a few T1 (4*T1 =
	// 2 s); beyond that the drain stops counting it, long before Timer H.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the drain waited %v for calls that were never ACKed (Timer H is 32 s)", d)
	}
	t.Logf("drain with %d unACKed calls took %v", n, time.Since(start))
}
