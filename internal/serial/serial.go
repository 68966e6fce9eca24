// Package serial runs posted functions one at a time, in order, on a
// goroutine that exists only while there is work: the event delivery of
// calls, back-to-back calls and conferences ("one event goroutine per
// object, serial, never under a lock").
package serial

import "sync"

// Queue is a serial executor. The zero value is ready to use; it is safe
// for concurrent use.
type Queue struct {
	mu      sync.Mutex
	q       []func()
	running bool
}

// Post queues f; it never blocks.
func (e *Queue) Post(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.q = append(e.q, f)
	if !e.running {
		e.running = true
		go e.run()
	}
}

func (e *Queue) run() {
	for {
		e.mu.Lock()
		if len(e.q) == 0 {
			e.running = false
			e.mu.Unlock()
			return
		}
		f := e.q[0]
		e.q[0] = nil
		e.q = e.q[1:]
		e.mu.Unlock()
		f()
	}
}
