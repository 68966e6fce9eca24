package main

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// silentCall places a call to user from a raw socket whose SDP names a port
// that never sends RTP, ACKs the 200 OK and waits up to wait for the
// server's BYE. It returns the 200 OK's Session-Expires value and how long
// after the ACK the BYE came (0 if none came).
func silentCall(t *testing.T, port int, user string, wait time.Duration) (sessionExpires string, bye time.Duration) {
	t.Helper()
	sig, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sig.Close()
	mute, err := net.ListenPacket("udp", "127.0.0.1:0") // the phone's RTP port: it never sends
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	id := "timers-" + user
	if _, err := sig.WriteTo(rawInvite(user, port, sig.LocalAddr(), id, mute.LocalAddr().(*net.UDPAddr).Port), server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	var ok []byte
	for ok == nil {
		_ = sig.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := sig.ReadFrom(buf)
		if err != nil {
			t.Errorf("%s: no 200 OK: %v", user, err)
			return "", 0
		}
		if bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
			ok = bytes.Clone(buf[:n])
		} else if bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) && !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 1")) {
			t.Errorf("%s: %s", user, buf[:bytes.IndexByte(buf[:n], '\r')])
			return "", 0
		}
	}
	ack := fmt.Sprintf("ACK sip:%s@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ack-%s\r\n"+
		"From: <sip:attacker@127.0.0.1>;tag=t-%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", user, port, sig.LocalAddr(), id, id, header(ok, "To"), id)
	if _, err := sig.WriteTo([]byte(ack), server); err != nil {
		t.Fatal(err)
	}
	acked := time.Now()
	for deadline := acked.Add(wait); time.Now().Before(deadline); {
		_ = sig.SetReadDeadline(deadline)
		n, from, err := sig.ReadFrom(buf)
		if err != nil {
			break
		}
		if msg := buf[:n]; bytes.HasPrefix(msg, []byte("BYE ")) {
			bye = time.Since(acked)
			res := "SIP/2.0 200 OK\r\n"
			for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
				res += h + ": " + header(msg, h) + "\r\n"
			}
			_, _ = sig.WriteTo([]byte(res+"Content-Length: 0\r\n\r\n"), from)
			break
		}
	}
	return header(ok, "Session-Expires"), bye
}

// TestEveryAppHonoursCallTimers: the server's calls: section reaches the
// calls of every bundled app, not only echo's and hello's (issue 16 item
// 5: sip:moh@ hung a silent listener up after 30 s whatever rtp_timeout
// said). Each app gets a call from a phone that sends no RTP; with
// rtp_timeout 1s every one is hung up within a few seconds (the default
// would take 30), and each 200 OK carries the configured session interval.
func TestEveryAppHonoursCallTimers(t *testing.T) {
	const timeout = time.Second
	_, port := startServer(t, func(c *Config) {
		c.Calls.RTPTimeout = timeout
		c.Calls.SessionExpires = 600 * time.Second
	})
	users := []string{"echo", "moh", "park", "conf-timers", "ivr", "record"}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			se, bye := silentCall(t, port, u, 10*time.Second)
			t.Logf("%s: Session-Expires %q, BYE %v after the ACK", u, se, bye.Round(10*time.Millisecond))
			if !strings.HasPrefix(se, "600") {
				t.Errorf("%s: Session-Expires %q, want 600 (calls.session_expires)", u, se)
			}
			if bye == 0 || bye > timeout+3*time.Second {
				t.Errorf("%s: no BYE within %v of the ACK (got %v) for a caller silent past calls.rtp_timeout %v",
					u, timeout+3*time.Second, bye, timeout)
			}
		})
	}
	wg.Wait()
}
