package serial

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Handlers is the list of handlers of one event of an object (a call's
// state changes, its key presses, ...): the model behind every OnX method,
// where several parties (the application, a back-to-back call, a
// conference, park) watch the same object without overwriting each other.
// Every handler added runs, in the order added; Add returns the function
// that removes it. The zero value is ready to use; it is safe for
// concurrent use and never runs a handler under its lock.
type Handlers[T any] struct {
	mu   sync.Mutex
	list []*handler[T]
}

type handler[T any] struct {
	f       func(T)
	removed atomic.Bool
}

// Add appends f and returns the function that removes it. Remove is
// idempotent and safe from any goroutine, a running handler included;
// once it has returned, f is not started again (a call of f already
// running on another goroutine finishes). A nil f adds nothing.
func (h *Handlers[T]) Add(f func(T)) (remove func()) {
	if f == nil {
		return func() {}
	}
	e := &handler[T]{f: f}
	h.mu.Lock()
	h.list = append(h.list, e)
	h.mu.Unlock()
	return func() {
		if e.removed.Swap(true) {
			return
		}
		h.mu.Lock()
		// Dispatch works on copies, so the list may change in place.
		h.list = slices.DeleteFunc(h.list, func(x *handler[T]) bool { return x == e })
		h.mu.Unlock()
	}
}

// Len returns the number of handlers.
func (h *Handlers[T]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.list)
}

// Dispatch returns a function that calls the handlers present now with v,
// in order, skipping those removed by the time their turn comes, and
// stopping before the next handler once stop (if not nil) reports true. It
// returns nil when there is no handler. Handlers added after Dispatch do
// not see v.
func (h *Handlers[T]) Dispatch(v T, stop func() bool) func() {
	h.mu.Lock()
	list := slices.Clone(h.list)
	h.mu.Unlock()
	if len(list) == 0 {
		return nil
	}
	return func() {
		for _, e := range list {
			if stop != nil && stop() {
				return
			}
			if !e.removed.Load() {
				e.f(v)
			}
		}
	}
}

// Post queues the delivery of v to the handlers present now on q (the
// object's event goroutine); it never blocks and queues nothing when
// there is no handler.
func (h *Handlers[T]) Post(q *Queue, v T) {
	if f := h.Dispatch(v, nil); f != nil {
		q.Post(f)
	}
}

// Run delivers v to the handlers present now on the calling goroutine.
func (h *Handlers[T]) Run(v T) {
	if f := h.Dispatch(v, nil); f != nil {
		f()
	}
}
