package serial

import (
	"slices"
	"sync"
	"testing"
)

func TestHandlersRunInOrderAdded(t *testing.T) {
	var h Handlers[int]
	var got []string
	h.Add(func(v int) { got = append(got, "a") })
	h.Add(func(v int) { got = append(got, "b") })
	h.Add(nil)()
	h.Add(func(v int) { got = append(got, "c") })
	h.Run(1)
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestHandlersRemoveIsIdempotentAndSafeInsideAHandler(t *testing.T) {
	var h Handlers[int]
	var got []string
	var removeA, removeB func()
	removeA = h.Add(func(v int) {
		got = append(got, "a")
		removeA() // itself, from inside
		removeA()
		removeB() // the next one: it must not run for this event
	})
	removeB = h.Add(func(int) { got = append(got, "b") })
	h.Add(func(int) { got = append(got, "c") })
	h.Run(1)
	h.Run(2)
	removeA()
	removeB()
	if want := []string{"a", "c", "c"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := h.Len(); n != 1 {
		t.Fatalf("%d handlers left, want 1", n)
	}
}

func TestHandlersAddInsideAHandlerSeesOnlyLaterEvents(t *testing.T) {
	var h Handlers[int]
	var got []int
	added := false
	h.Add(func(v int) {
		if !added {
			added = true
			h.Add(func(v int) { got = append(got, v) })
		}
	})
	h.Run(1)
	h.Run(2)
	if !slices.Equal(got, []int{2}) {
		t.Fatalf("late handler saw %v, want [2]", got)
	}
}

func TestHandlersDispatchStops(t *testing.T) {
	var h Handlers[*bool]
	var calls int
	h.Add(func(*bool) { calls++ })
	h.Add(func(done *bool) { calls++; *done = true })
	h.Add(func(*bool) { calls++ })
	done := false
	h.Dispatch(&done, func() bool { return done })()
	if calls != 2 {
		t.Fatalf("%d handlers ran, want 2", calls)
	}
	if h.Dispatch(nil, nil) == nil {
		t.Fatal("Dispatch with handlers returned nil")
	}
	var empty Handlers[int]
	if empty.Dispatch(0, nil) != nil {
		t.Fatal("Dispatch without handlers returned a function")
	}
}

func TestHandlersPostOnQueueConcurrentRemove(t *testing.T) {
	var h Handlers[int]
	var q Queue
	var mu sync.Mutex
	var got []int
	var wg sync.WaitGroup
	remove := h.Add(func(v int) { mu.Lock(); got = append(got, v); mu.Unlock() })
	h.Add(func(int) { wg.Done() })
	for i := range 50 {
		wg.Add(1)
		h.Post(&q, i)
	}
	wg.Add(1)
	go func() { defer wg.Done(); remove(); remove() }()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("events out of order: %v", got)
		}
	}
}
