package park_test

import (
	"encoding/xml"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/apps/park"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// lampState is one dialog-info NOTIFY a watcher received.
type lampState struct {
	version int
	state   string // the dialog's state: confirmed or terminated
}

// lampWatcher is a busy-lamp phone on its own UDP socket: it subscribes to
// an orbit's dialog events, answers every NOTIFY with 200 and records the
// dialog-info documents in the order they arrive (retransmissions once).
type lampWatcher struct {
	conn   net.PacketConn
	server net.Addr
	callID string
	tag    string
	orbit  string

	mu       sync.Mutex
	got      []lampState
	seen     map[uint32]bool // NOTIFY CSeqs
	toTag    string
	contact  string
	changed  chan struct{} // closed and replaced on every new message
	finished bool          // a NOTIFY said Subscription-State: terminated
	done     chan struct{} // the reader has returned
}

func newLampWatcher(t *testing.T, server net.Addr, orbit string) *lampWatcher {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &lampWatcher{conn: c, server: server, callID: "lamp-" + sip.GenerateTagN(10), tag: sip.GenerateTagN(8),
		orbit: orbit, seen: map[uint32]bool{}, changed: make(chan struct{}), done: make(chan struct{})}
	go w.read(t)
	w.send(t, 1, 120)
	w.wait(t, "the SUBSCRIBE's 200 OK", func() bool { return w.toTag != "" })
	t.Cleanup(func() {
		// Unsubscribe, so that the platform has no dialog left to end.
		w.send(t, 2, 0)
		w.wait(t, "the final NOTIFY", func() bool { return w.finished })
		c.Close()
		<-w.done
	})
	return w
}

// send sends the SUBSCRIBE with CSeq seq (1: initial, out of dialog).
func (w *lampWatcher) send(t *testing.T, seq, expires int) {
	t.Helper()
	local := w.conn.LocalAddr().String()
	w.mu.Lock()
	ruri, to := fmt.Sprintf("sip:%s@%s", w.orbit, w.server), fmt.Sprintf("<sip:%s@%s>", w.orbit, w.server)
	if w.toTag != "" {
		ruri, to = w.contact, to+";tag="+w.toTag
	}
	w.mu.Unlock()
	msg := strings.Join([]string{
		"SUBSCRIBE " + ruri + " SIP/2.0",
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + sip.GenerateTagN(12),
		"From: <sip:lamp@" + local + ">;tag=" + w.tag,
		"To: " + to,
		"Call-ID: " + w.callID,
		"CSeq: " + strconv.Itoa(seq) + " SUBSCRIBE",
		"Contact: <sip:lamp@" + local + ">",
		"Max-Forwards: 70",
		"Event: dialog",
		"Accept: application/dialog-info+xml",
		"Expires: " + strconv.Itoa(expires),
		"Content-Length: 0", "", ""}, "\r\n")
	if _, err := w.conn.WriteTo([]byte(msg), w.server); err != nil {
		t.Fatal(err)
	}
}

func (w *lampWatcher) read(t *testing.T) {
	defer close(w.done)
	buf := make([]byte, 65535)
	for {
		n, from, err := w.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			t.Errorf("watcher: unparsable message: %v", err)
			continue
		}
		w.mu.Lock()
		switch m := msg.(type) {
		case *sip.Response:
			if m.CSeq().MethodName == sip.SUBSCRIBE && m.CSeq().SeqNo == 1 && m.StatusCode == 200 {
				w.toTag, _ = m.To().Params.Get("tag")
				w.contact = m.Contact().Address.String()
			}
		case *sip.Request:
			if m.Method != sip.NOTIFY {
				break
			}
			res := sip.NewResponseFromRequest(m, 200, "OK", nil)
			if _, err := w.conn.WriteTo([]byte(res.String()), from); err != nil {
				t.Errorf("watcher: %v", err)
			}
			if w.seen[m.CSeq().SeqNo] {
				break // a retransmission
			}
			w.seen[m.CSeq().SeqNo] = true
			if ss := m.GetHeader("Subscription-State"); ss != nil && strings.HasPrefix(ss.Value(), "terminated") {
				w.finished = true
			}
			if len(m.Body()) > 0 {
				w.got = append(w.got, parseLamp(t, m.Body()))
			}
		}
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
}

func parseLamp(t *testing.T, body []byte) lampState {
	var doc struct {
		Version int `xml:"version,attr"`
		Dialogs []struct {
			State string `xml:"state"`
		} `xml:"dialog"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil || len(doc.Dialogs) != 1 {
		t.Errorf("watcher: bad dialog-info (%v):\n%s", err, body)
		return lampState{version: -1}
	}
	return lampState{version: doc.Version, state: doc.Dialogs[0].State}
}

// wait waits until cond (called with w.mu held) holds.
func (w *lampWatcher) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		w.mu.Lock()
		ok, ch := cond(), w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-w.done:
			t.Fatalf("watcher stopped before %s", what)
		case <-timeout:
			t.Fatalf("watcher: no %s", what)
		}
	}
}

func (w *lampWatcher) states() []lampState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]lampState(nil), w.got...)
}

// TestBusyLampNotifiesInOrder: 100 park/retrieve bursts on one orbit,
// queued as fast as the calls allow, with two watchers. Every watcher gets
// one NOTIFY per change (plus the initial one) with versions 0, 1, 2, ...
// in order (RFC 4235 section 4.1), and the last shows the orbit free.
func TestBusyLampNotifiesInOrder(t *testing.T) {
	r := newRig(t, park.Config{Orbits: []park.OrbitRange{{Start: "7000", End: "7000"}}})
	watchers := []*lampWatcher{
		newLampWatcher(t, r.srv.Addr("udp"), "7000"),
		newLampWatcher(t, r.srv.Addr("udp"), "7000"),
	}
	for _, w := range watchers {
		w.wait(t, "initial NOTIFY", func() bool { return len(w.got) >= 1 })
	}
	const bursts = 100
	caller, retriever := sbt.NewPhone(t, "caller"), sbt.NewPhone(t, "retriever")
	for i := range bursts {
		parked, e := r.parkPhone(t, caller)
		if e.Orbit != "7000" {
			t.Fatalf("burst %d parked on %q", i, e.Orbit)
		}
		rc := retriever.Dial(t, r.svc.OrbitURI("7000"))
		rc.Hangup(t)
		parked.WaitTerminated(t, 10*time.Second)
	}
	const want = 1 + 2*bursts // initial, then occupied and free per burst
	for n, w := range watchers {
		w.wait(t, fmt.Sprintf("%d NOTIFYs", want), func() bool { return len(w.got) >= want })
		got := w.states()
		for i, s := range got {
			if s.version != i {
				t.Fatalf("watcher %d: NOTIFY %d has version %d, want %d (versions %v)", n, i, s.version, i, versions(got))
			}
		}
		if len(got) != want {
			t.Errorf("watcher %d: %d NOTIFYs, want %d", n, len(got), want)
		}
		if last := got[len(got)-1]; last.state != "terminated" {
			t.Errorf("watcher %d: last NOTIFY shows the orbit %s, want terminated (free)", n, last.state)
		}
	}
}

func versions(s []lampState) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = v.version
	}
	return out
}
