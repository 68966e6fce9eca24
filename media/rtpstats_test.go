package media

import (
	"testing"
	"time"
)

func TestRxStatsLossWrapReorderAndSSRCChange(t *testing.T) {
	var r rxStats
	t0 := time.Unix(1000, 0)
	seq := uint16(65530)
	ts := uint32(0)
	for i := 0; i < 100; i++ {
		if i%10 != 3 { // lose 10 %
			r.update(7, seq, ts, false, t0.Add(time.Duration(i)*20*time.Millisecond), 8000)
		}
		seq++
		ts += 160
	}
	if r.expected() != 100 || r.lost() != 10 {
		t.Fatalf("expected %d lost %d, want 100 and 10 across the wrap", r.expected(), r.lost())
	}
	if f := r.fractionLost(); f != 25 { // 10/100*256
		t.Fatalf("fraction lost %d, want 25", f)
	}
	// A reordered old packet counts as late, not as received in order.
	if r.update(7, seq-5, ts-800, false, t0, 8000) || r.late != 1 {
		t.Fatalf("late packet not counted (late=%d)", r.late)
	}
	// Perfectly paced packets have zero jitter.
	if r.jitter > 1 {
		t.Fatalf("jitter %.2f on a perfectly paced stream", r.jitter)
	}
	// New SSRC restarts the statistics.
	r.update(8, 10, 5, false, t0, 8000)
	if r.changes != 1 || r.expected() != 1 || r.lost() != 0 {
		t.Fatalf("after SSRC change: changes %d expected %d lost %d", r.changes, r.expected(), r.lost())
	}
}

func TestRxStatsJitter(t *testing.T) {
	var r rxStats
	t0 := time.Unix(1000, 0)
	for i := 0; i < 2000; i++ {
		// Alternate 0 and 10 ms of extra delay: |D| = 80 timestamp units.
		delay := time.Duration(i%2) * 10 * time.Millisecond
		r.update(1, uint16(i), uint32(i*160), false, t0.Add(time.Duration(i)*20*time.Millisecond+delay), 8000)
	}
	if r.jitter < 70 || r.jitter > 90 {
		t.Fatalf("jitter %.1f timestamp units, want about 80", r.jitter)
	}
}
