package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Event is one entry of the event stream. IDs increase by one from 1, so a
// client that reconnects with Last-Event-ID gets exactly what it missed
// while the backlog still holds it.
type Event struct {
	ID   uint64    `json:"id"`
	Type string    `json:"type"` // "call", "park", "conference", "recording", or "gap"
	Time time.Time `json:"time"`
	Data any       `json:"data"`
}

// broker keeps a bounded backlog of events and fans them out to
// subscribers. Publish never blocks: a subscriber whose buffer is full is
// cut off (its channel closed) and must reconnect with Last-Event-ID.
type broker struct {
	mu      sync.Mutex
	next    uint64
	backlog []Event // ring, oldest at start
	start   int
	n       int
	subs    map[*subscriber]struct{}
	bufSize int
}

type subscriber struct {
	ch  chan Event
	cut bool
}

func newBroker(backlog, buf int) *broker {
	return &broker{next: 1, backlog: make([]Event, backlog), subs: map[*subscriber]struct{}{}, bufSize: buf}
}

// publish appends an event and offers it to every subscriber.
func (b *broker) publish(typ string, data any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := Event{ID: b.next, Type: typ, Time: time.Now().UTC(), Data: data}
	b.next++
	if b.n < len(b.backlog) {
		b.backlog[(b.start+b.n)%len(b.backlog)] = ev
		b.n++
	} else {
		b.backlog[b.start] = ev
		b.start = (b.start + 1) % len(b.backlog)
	}
	for s := range b.subs {
		select {
		case s.ch <- ev:
		default:
			// A slow consumer: cut it off rather than hold the call,
			// conference or park event goroutine that publishes.
			s.cut = true
			close(s.ch)
			delete(b.subs, s)
		}
	}
}

// subscribe registers a subscriber and returns the backlog after lastID
// (when lastID > 0), atomically, so nothing is lost or repeated between
// the replay and the live events. gap reports that events after lastID
// have already left the backlog.
func (b *broker) subscribe(lastID uint64, resume bool) (s *subscriber, replay []Event, gap bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s = &subscriber{ch: make(chan Event, b.bufSize)}
	b.subs[s] = struct{}{}
	if !resume {
		return s, nil, false
	}
	for i := range b.n {
		ev := b.backlog[(b.start+i)%len(b.backlog)]
		if ev.ID > lastID {
			if len(replay) == 0 && ev.ID != lastID+1 {
				gap = true
			}
			replay = append(replay, ev)
		}
	}
	if len(replay) == 0 && lastID+1 < b.next {
		gap = true
	}
	return s, replay, gap
}

func (b *broker) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// closeAll ends every stream (server shutdown).
func (b *broker) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		delete(b.subs, s)
		close(s.ch)
	}
}

// serveEvents is GET /api/v1/events: a text/event-stream of events, each
// with its id, resumable with the Last-Event-ID header (or the
// last_event_id query parameter, for clients that cannot set headers).
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(http.Flusher); !ok {
		s.problem(w, http.StatusInternalServerError, "streaming unsupported", "the connection cannot stream")
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	var lastID uint64
	resume := last != ""
	if resume {
		var err error
		if lastID, err = strconv.ParseUint(last, 10, 64); err != nil {
			s.problem(w, http.StatusBadRequest, "bad Last-Event-ID", "Last-Event-ID must be an event id")
			return
		}
	}
	sub, replay, gap := s.events.subscribe(lastID, resume)
	defer s.events.unsubscribe(sub)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	// The stream is the connection: when it ends (cut off, server
	// closing) the client must reconnect, not reuse it.
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	// Every write has a deadline: a client that stops reading fills its
	// TCP window, the write times out and the stream ends (its events
	// were cut off at EventBuffer meanwhile, without waiting on it).
	rc := http.NewResponseController(w)
	send := func(write func() error) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if err := write(); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(func() error {
		if gap {
			// Events were lost for this client: it should reload its state.
			if _, err := fmt.Fprintf(w, "event: gap\ndata: {\"after\":%d}\n\n", lastID); err != nil {
				return err
			}
		}
		for _, ev := range replay {
			if err := writeEvent(w, ev); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case ev, ok := <-sub.ch:
			if !ok {
				return // cut off or server closing
			}
			if send(func() error { return writeEvent(w, ev) }) != nil {
				return
			}
		case <-keepAlive.C:
			if send(func() error { _, err := fmt.Fprint(w, ": keep-alive\n\n"); return err }) != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// streamWriteTimeout bounds each write of an event stream.
var streamWriteTimeout = 5 * time.Second

func writeEvent(w http.ResponseWriter, ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, b)
	return err
}
