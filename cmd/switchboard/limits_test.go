package main

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
)

// TestInviteFloodFromOneSource: with loopback no longer trusted and the
// embedded default's rate limit (50 per second per source), one source
// (127.0.0.2) sends 10,000 INVITEs per second for 10 s while SIPp on
// another source (127.0.0.3) places 50 calls per second to the echo:
// every SIPp call completes, the flood gets 503s (no more than its
// requests: nothing is amplified), and /metrics counts the rejections.
func TestInviteFloodFromOneSource(t *testing.T) {
	e := startAdminServer(t, "", func(c *Config) { c.Platform.TrustedPeers = nil })
	flood, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: e.port}
	var answered, answeredBytes atomic.Int64
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := flood.ReadFrom(buf)
			if err != nil {
				return
			}
			answered.Add(1)
			answeredBytes.Add(int64(n))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sipp := peers.StartSIPp(t, ctx, "-sn", "uac", "-s", "echo", "-i", "127.0.0.3", "-r", "50", "-m", "500", "-l", "200",
		"-d", "500", "-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", e.port))
	// The flood: 10,000 INVITEs per second for 10 s, 100 every 10 ms.
	const perTick, ticks = 100, 1000
	sent, sentBytes := 0, 0
	tick := time.NewTicker(10 * time.Millisecond)
	for k := range ticks {
		for i := range perTick {
			n := k*perTick + i
			msg := "INVITE sip:echo@127.0.0.1 SIP/2.0\r\n" +
				"Via: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKflood" + strconv.Itoa(n) + "\r\n" +
				"From: <sip:flood@127.0.0.2>;tag=f" + strconv.Itoa(n) + "\r\n" +
				"To: <sip:echo@127.0.0.1>\r\n" +
				"Call-ID: flood-" + strconv.Itoa(n) + "\r\n" +
				"CSeq: 1 INVITE\r\nContact: <sip:flood@127.0.0.2:5999>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
			if _, err := flood.WriteTo([]byte(msg), to); err == nil {
				sent++
				sentBytes += len(msg)
			}
		}
		<-tick.C
	}
	tick.Stop()
	res := sipp.Wait()
	if res.ExitCode != 0 {
		t.Fatalf("SIPp at 50 calls/s from another source: exit %d\n%s", res.ExitCode, res.ErrorLog)
	}
	time.Sleep(200 * time.Millisecond) // the last answers to the flood
	t.Logf("flood: %d INVITEs sent (%d bytes), %d answers (%d bytes)", sent, sentBytes, answered.Load(), answeredBytes.Load())
	if answeredBytes.Load() > int64(sentBytes) {
		t.Errorf("the flood got %d bytes back for %d sent: amplified", answeredBytes.Load(), sentBytes)
	}
	_, b := e.do(t, "GET", "/metrics", nil)
	m := regexp.MustCompile(`switchboard_sip_rejected_total\{method="INVITE",reason="rate"\} (\d+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("/metrics has no INVITE rate rejections:\n%s", grepLines(string(b), "rejected"))
	}
	rejected, _ := strconv.Atoi(m[1])
	// 50 per second with bursts of 100 over about 10 s let at most ~600
	// through; nearly all the rest are refused (the kernel may drop some
	// of the flood before we read it).
	if rejected < sent/2 || rejected > sent {
		t.Errorf("%d INVITEs rejected for rate out of %d sent", rejected, sent)
	}
}
