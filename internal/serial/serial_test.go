package serial

import (
	"sync"
	"testing"
)

func TestQueueRunsInOrderOneAtATime(t *testing.T) {
	var q Queue
	var mu sync.Mutex
	var got []int
	running := 0
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		q.Post(func() {
			defer wg.Done()
			mu.Lock()
			running++
			if running != 1 {
				t.Errorf("%d functions running at once", running)
			}
			got = append(got, i)
			running--
			mu.Unlock()
		})
	}
	wg.Wait()
	for i, v := range got {
		if v != i {
			t.Fatalf("order %v", got)
		}
	}
}
