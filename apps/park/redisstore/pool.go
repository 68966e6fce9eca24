package redisstore

import (
	"strconv"

	"github.com/switchboard-sip/switchboard/apps/park"
)

// pool numbers the orbits of validated ranges 0..size-1 in numeric order;
// Redis keys orbits by this index, so Lua never does arithmetic on orbit
// numbers of up to 18 digits (beyond a Lua number's exact integers).
type pool struct {
	width int
	spans []span // sorted by start
	size  int
}

type span struct {
	start  uint64
	count  int
	offset int
}

// newPool builds the pool of ranges that passed park.ValidateRanges.
func newPool(r []park.OrbitRange) pool {
	p := pool{width: len(r[0].Start)}
	for _, x := range r {
		s, _ := strconv.ParseUint(x.Start, 10, 64)
		e, _ := strconv.ParseUint(x.End, 10, 64)
		p.spans = append(p.spans, span{start: s, count: int(e-s) + 1})
	}
	for i := 1; i < len(p.spans); i++ {
		for j := i; j > 0 && p.spans[j].start < p.spans[j-1].start; j-- {
			p.spans[j], p.spans[j-1] = p.spans[j-1], p.spans[j]
		}
	}
	for i := range p.spans {
		p.spans[i].offset = p.size
		p.size += p.spans[i].count
	}
	return p
}

// index returns the pool index of a canonical orbit number.
func (p *pool) index(orbit string) (int, bool) {
	if len(orbit) != p.width {
		return 0, false
	}
	for i := 0; i < len(orbit); i++ {
		if orbit[i] < '0' || orbit[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(orbit, 10, 64)
	if err != nil {
		return 0, false
	}
	for _, s := range p.spans {
		if n >= s.start && n-s.start < uint64(s.count) {
			return s.offset + int(n-s.start), true
		}
	}
	return 0, false
}

// orbit returns the canonical orbit number at pool index i, or "".
func (p *pool) orbit(i int) string {
	for _, s := range p.spans {
		if i >= 0 && i < s.offset+s.count {
			d := strconv.FormatUint(s.start+uint64(i-s.offset), 10)
			for len(d) < p.width {
				d = "0" + d
			}
			return d
		}
	}
	return ""
}
