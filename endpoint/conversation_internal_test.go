package endpoint

import (
	"net"
	"testing"

	"github.com/switchboard-sip/switchboard/platform"
)

// TestConversationForgetsTerminatedCalls: the state derivation drops
// terminated calls from the conversation (its list no longer only grows)
// and the conversation still ends terminated, and stays so.
func TestConversationForgetsTerminatedCalls(t *testing.T) {
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := platform.New(platform.Config{}, platform.WithUDPConn(uc))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ep, err := NewApplication(p, Settings{OwnerURI: "sip:bot@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	conv := ep.NewConversation()
	a, b := conv.NewCall(), conv.NewCall()
	for _, c := range []*Call{a, b} {
		c.setState(StateEstablishing, ReasonEstablishing)
		c.setState(StateEstablished, ReasonEstablished)
	}
	conv.callStateChanged()
	a.setState(StateTerminated, ReasonLocalHangUp)
	conv.callStateChanged()
	conv.mu.Lock()
	n, st := len(conv.calls), conv.state
	conv.mu.Unlock()
	if n != 1 || st != ConversationEstablished {
		t.Fatalf("one of two calls ended: %d calls kept, state %v; want 1, established", n, st)
	}
	b.setState(StateTerminated, ReasonRemoteHangUp)
	conv.callStateChanged()
	conv.callStateChanged() // nothing left: the state stays
	conv.mu.Lock()
	n, st = len(conv.calls), conv.state
	conv.mu.Unlock()
	if n != 0 || st != ConversationTerminated {
		t.Fatalf("both calls ended: %d calls kept, state %v; want 0, terminated", n, st)
	}
}
