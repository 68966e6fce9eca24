package park_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func TestParkBadInput(t *testing.T) {
	r := newRig(t, park.Config{})
	ph := sbt.NewPhone(t, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var re *endpoint.ResponseError
	for _, uri := range []string{"sip:park-9999@", "sip:park-70x1@", "sip:7100@", "sip:70123@", "sip:park-retrieve-forged@"} {
		_, err := ph.DialContext(ctx, uri+strings.TrimPrefix(r.srv.URI(""), "sip:@"), endpoint.EstablishOptions{})
		if !errors.As(err, &re) || re.Code != 404 {
			t.Errorf("%s: %v, want 404", uri, err)
		}
	}
	// Parking a call that is not established is refused.
	idle := r.srv.Handle(t, "app", nil).NewConversation().NewCall()
	if _, err := r.svc.Park(ctx, idle, park.ParkOptions{}); !errors.Is(err, park.ErrNotEstablished) {
		t.Errorf("park of an idle call: %v", err)
	}
	// A REFER sent to the park service itself must name its referrer.
	c, err := net.Dial("udp", r.srv.Addr("udp").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := strings.Join([]string{
		"REFER " + r.svc.URI() + " SIP/2.0", "Via: SIP/2.0/UDP " + local + ";branch=z9hG4bKref1",
		"From: <sip:a@127.0.0.1>;tag=1", "To: <" + r.svc.URI() + ">", "Call-ID: ref-1", "CSeq: 1 REFER",
		"Contact: <sip:a@" + local + ">", "Refer-To: <sip:b@127.0.0.1>", "Max-Forwards: 70", "Content-Length: 0",
	}, "\r\n") + "\r\n\r\n"
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 400 Missing Referred-By") {
		t.Errorf("REFER without Referred-By: %q", string(buf[:min(n, 60)]))
	}
	if n := len(r.svc.List()); n != 0 {
		t.Errorf("bad input parked %d calls", n)
	}
}

func TestParkConfigErrors(t *testing.T) {
	srv := sbt.NewServer(t)
	for name, cfg := range map[string]park.Config{
		"overlap":      {Orbits: []park.OrbitRange{{Start: "7000", End: "7099"}, {Start: "7050", End: "7150"}}},
		"reversed":     {Orbits: []park.OrbitRange{{Start: "7099", End: "7000"}}},
		"length":       {Orbits: []park.OrbitRange{{Start: "700", End: "7099"}}},
		"too big":      {Orbits: []park.OrbitRange{{Start: "000000", End: "020000"}}},
		"timeout":      {PickupTimeout: 5 * time.Second},
		"attempts":     {MaxAttempts: 11},
		"allocation":   {Allocation: "random"},
		"fallback uri": {FallbackURI: "not a uri"},
	} {
		if _, err := park.New(srv.Platform, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "park: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}
