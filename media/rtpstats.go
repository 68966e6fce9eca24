package media

import (
	"time"
)

// RFC 3550 appendix A.1 limits for sequence number validation.
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// rxStats tracks the reception statistics of one remote source (RFC 3550
// section 6.4.1 and appendix A.1, A.3, A.8). It is guarded by the
// session's mutex.
type rxStats struct {
	started  bool
	ssrc     uint32
	baseSeq  uint32
	maxSeq   uint16
	cycles   uint32
	received uint64
	late     uint64 // older than the highest sequence number seen
	changes  uint64 // SSRC changes and stream restarts

	// For the fraction lost of the next report (A.3).
	expectedPrior, receivedPrior uint64

	jitter      float64 // interarrival jitter in timestamp units (A.8)
	transit     int64
	haveTransit bool

	// Last SR received, for LSR/DLSR (section 6.4.1).
	lastSR     uint32
	lastSRTime time.Time
}

func (r *rxStats) init(ssrc uint32, seq uint16) {
	*r = rxStats{started: true, ssrc: ssrc, baseSeq: uint32(seq), maxSeq: seq,
		changes: r.changes, lastSR: r.lastSR, lastSRTime: r.lastSRTime}
}

// update accounts for one packet and reports whether it is in order.
func (r *rxStats) update(ssrc uint32, seq uint16, ts uint32, marker bool, arrival time.Time, clockRate int) bool {
	if !r.started || ssrc != r.ssrc {
		if r.started {
			r.changes++
		}
		r.init(ssrc, seq)
		r.received = 1
		r.setTransit(ts, arrival, clockRate)
		return true
	}
	inOrder := true
	switch udelta := seq - r.maxSeq; {
	case udelta == 0:
		// Duplicate of the newest packet.
		r.late++
		r.received++
		return false
	case udelta < maxDropout:
		if seq < r.maxSeq {
			r.cycles += 1 << 16 // wrapped
		}
		r.maxSeq = seq
	case udelta <= 1<<16-maxMisorder:
		// A jump far ahead: the source restarted (new sequence space).
		r.changes++
		r.init(ssrc, seq)
		r.received = 1
		r.setTransit(ts, arrival, clockRate)
		return true
	default:
		// Older than the newest: reordered or duplicated.
		r.late++
		inOrder = false
	}
	r.received++
	if marker {
		// A talkspurt may start after a timestamp jump: restart the
		// transit baseline rather than count the jump as jitter.
		r.setTransit(ts, arrival, clockRate)
		return inOrder
	}
	if inOrder {
		transit := int64(arrival.UnixNano())*int64(clockRate)/1e9 - int64(ts)
		if r.haveTransit {
			d := transit - r.transit
			if d < 0 {
				d = -d
			}
			r.jitter += (float64(d) - r.jitter) / 16
		}
		r.transit, r.haveTransit = transit, true
	}
	return inOrder
}

func (r *rxStats) setTransit(ts uint32, arrival time.Time, clockRate int) {
	r.transit = int64(arrival.UnixNano())*int64(clockRate)/1e9 - int64(ts)
	r.haveTransit = true
}

func (r *rxStats) extendedMax() uint32 { return r.cycles + uint32(r.maxSeq) }

func (r *rxStats) expected() uint64 {
	if !r.started {
		return 0
	}
	return uint64(r.extendedMax()-r.baseSeq) + 1
}

// lost is the cumulative number of packets lost (A.3): expected minus
// received, where late (reordered) packets count as received. Duplicates
// can make it negative, which is reported as 0.
func (r *rxStats) lost() uint64 {
	e := r.expected()
	if r.received >= e {
		return 0
	}
	return e - r.received
}

// fractionLost computes the 8-bit fraction lost since the last call (A.3).
func (r *rxStats) fractionLost() uint8 {
	expected := r.expected()
	received := r.received
	ei := expected - r.expectedPrior
	ri := received - r.receivedPrior
	r.expectedPrior, r.receivedPrior = expected, received
	if ei == 0 || ri >= ei {
		return 0
	}
	return uint8(((ei - ri) << 8) / ei)
}
