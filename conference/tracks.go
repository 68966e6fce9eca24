package conference

import "github.com/switchboard-sip/switchboard/media"

// ParticipantFlow returns the flow whose received audio feeds the mixer
// for participant id: the participant's own call's flow, or a local
// back-to-back caller's after a splice. Its heard observers
// (media.Flow.ObserveHeard) see what the participant says, one frame per
// mixer tick, pulled through the conference's jitter buffer: what a
// recorder needs for a per-participant track. It reports false for an
// unknown participant or one that has left.
func (c *Conference) ParticipantFlow(id string) (*media.Flow, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.parts[id]
	if !ok || p.gone {
		return nil, false
	}
	if p.flow != nil {
		return p.flow, true
	}
	return p.call.Flow(), true
}
