package platform

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ErrSettingsConflict is returned by New for a platform whose T1 or
// UDPMaxMessage differs from those of a platform still open in the same
// process.
var ErrSettingsConflict = errors.New("platform: sipgo settings conflict")

// sipgo v1.7.2 keeps its transaction timers (sip.T1 and the timers derived
// from it) and its UDP size limit (sip.UDPMTUSize) in package variables,
// with no per-UserAgent setting. The first platform open in a process
// fixes them; while any platform is open, New refuses one that needs other
// values rather than silently changing the timers under the first one's
// transactions. This is the one process-wide state of the package; it
// mirrors sipgo's.
var sipgoSettings struct {
	mu     sync.Mutex
	open   int // platforms that hold the settings (New succeeded, not yet closed)
	t1     time.Duration
	udpMax int
}

// acquireSipgoSettings applies t1 and udpMax to sipgo, or checks them
// against the values in force; release undoes the hold.
func acquireSipgoSettings(t1 time.Duration, udpMax int) (release func(), err error) {
	s := &sipgoSettings
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open > 0 {
		if t1 != s.t1 {
			return nil, fmt.Errorf("%w: T1 %v, but another platform in this process runs with T1 %v "+
				"(sipgo's timers are process-wide: give every platform the same t1)", ErrSettingsConflict, t1, s.t1)
		}
		if udpMax != s.udpMax {
			return nil, fmt.Errorf("%w: UDPMaxMessage %d, but another platform in this process uses %d "+
				"(sipgo's UDP size limit is process-wide: give every platform the same udp_max_message)", ErrSettingsConflict, udpMax, s.udpMax)
		}
	} else {
		// Write only what changes: platforms on defaults never touch
		// sipgo's variables.
		if sip.T1 != t1 {
			sip.SetTimers(t1, 8*t1, 10*t1) // T2 = 4 s and T4 = 5 s for the default T1
		}
		// sipgo refuses UDP messages above UDPMTUSize-200.
		if sip.UDPMTUSize != udpMax+200 {
			sip.UDPMTUSize = udpMax + 200
		}
		s.t1, s.udpMax = t1, udpMax
	}
	s.open++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.open--
			s.mu.Unlock()
		})
	}, nil
}
