package platform_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAdvertisedAddressesBehindNAT stands in for a server behind a 1:1
// NAT with two loopback addresses: it binds SIP and RTP on the wildcard
// address and advertises 127.0.0.2 (host for SIP, media_advertise for
// RTP). A phone on 127.0.0.1 reaches it only through what it advertises:
// its SDP answer names 127.0.0.2, the phone's audio sent there is echoed
// back, and the BYE sent to the advertised Contact ends the call.
func TestAdvertisedAddressesBehindNAT(t *testing.T) {
	sbt.CheckGoroutines(t)
	uc, err := net.ListenPacket("udp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uc.LocalAddr().(*net.UDPAddr).Port
	p, err := platform.New(platform.Config{Host: "127.0.0.2", MediaIP: "0.0.0.0", MediaAdvertise: "127.0.0.2"},
		platform.WithUDPConn(uc), platform.WithLogger(sbt.Logger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := echo.New(p, echo.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	call := sbt.NewPhone(t, "alice").Dial(t, fmt.Sprintf("sip:echo@127.0.0.2:%d", port))
	if got := call.Negotiated().Remote.Addr().String(); got != "127.0.0.2" {
		t.Fatalf("SDP answer advertises %s, want 127.0.0.2", got)
	}
	call.StartTone(440)
	call.WaitTone(t, 440, 3*time.Second)
	call.Hangup(t) // BYE to the advertised Contact: the server must get it
	deadline := time.Now().Add(3 * time.Second)
	for p.ActiveDialogs() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := p.ActiveDialogs(); n != 0 {
		t.Fatalf("%d dialogs left on the server after the BYE", n)
	}
}
