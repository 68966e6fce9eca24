package admin

import (
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/mix"
)

// CallEventData is the data of a "call" event.
type CallEventData struct {
	CallID   string `json:"call_id"`
	App      string `json:"app"`
	From     string `json:"from"`
	To       string `json:"to"`
	Previous string `json:"previous"`
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
}

// ParkEventData is the data of a "park" event.
type ParkEventData struct {
	Event  string    `json:"event"`
	Orbit  string    `json:"orbit"`
	CallID string    `json:"call_id"`
	Parker string    `json:"parker"`
	Parked string    `json:"parked"`
	Since  time.Time `json:"since"`
	By     string    `json:"by,omitempty"`
}

// ConferenceEventData is the data of a "conference" event.
type ConferenceEventData struct {
	Conference string            `json:"conference"`
	Event      string            `json:"event"` // "created", "roster", "updated" (lock, mute through the API) or "talking"
	Joined     []ParticipantView `json:"joined,omitempty"`
	Left       []ParticipantView `json:"left,omitempty"`
	Updated    []ParticipantView `json:"updated,omitempty"`
	// Participant started (Talking) or stopped talking, in "talking"
	// events.
	Participant string `json:"participant,omitempty"`
	Talking     bool   `json:"talking,omitempty"`
}

// RecordingEventData is the data of a "recording" event: a conference
// recording started or stopped through the API (ID is empty in "stopped").
type RecordingEventData struct {
	Event      string `json:"event"` // "started" or "stopped"
	ID         string `json:"id,omitempty"`
	Conference string `json:"conference,omitempty"`
}

// watch subscribes to the services' events: each handler publishes to
// the broker, which never blocks.
func (s *Server) watch() {
	var mu sync.Mutex
	answered := map[*endpoint.Call]bool{}
	add := func(f func()) { s.unwatch = append(s.unwatch, f) }
	add(endpoint.Watch(s.svc.Platform, func(ev endpoint.CallEvent) {
		d := CallEventData{CallID: ev.Info.CallID, App: ev.Info.App, Previous: ev.Previous.String(), State: ev.State.String(), Reason: string(ev.Reason)}
		if ev.Info.Incoming {
			d.From, d.To = ev.Info.Remote, ev.Info.Local
		} else {
			d.From, d.To = ev.Info.Local, ev.Info.Remote
		}
		s.events.publish("call", d)
		mu.Lock()
		switch ev.State {
		case endpoint.StateEstablished:
			answered[ev.Call] = true
		case endpoint.StateTerminated:
			a := answered[ev.Call]
			delete(answered, ev.Call)
			mu.Unlock()
			s.metrics.callEnded(ev, a)
			return
		}
		mu.Unlock()
	}))
	if p := s.svc.Park; p != nil {
		add(p.OnEvent(func(e park.Event) {
			s.metrics.parkEvts.WithLabelValues(string(e.Type)).Inc()
			s.events.publish("park", ParkEventData{Event: string(e.Type), Orbit: e.Entry.Orbit, CallID: e.Entry.CallID,
				Parker: e.Entry.Parker, Parked: e.Entry.Parked, Since: e.Entry.Since.UTC(), By: e.By})
		}))
	}
	if cs := s.svc.Conferences; cs != nil {
		watchConf := func(c *conference.Conference) {
			id := c.ID()
			// The handler lives as long as the conference; a conference
			// ending drops its handlers with it.
			c.OnRosterChanged(func(rc conference.RosterChange) {
				d := ConferenceEventData{Conference: id, Event: "roster"}
				for _, p := range rc.Joined {
					d.Joined = append(d.Joined, participantView(p))
				}
				for _, p := range rc.Left {
					d.Left = append(d.Left, participantView(p))
				}
				s.events.publish("conference", d)
			})
			// On the mixer's clock goroutine: publish never blocks.
			c.Mixer().OnTalking(func(tc mix.TalkChange) {
				s.events.publish("conference", ConferenceEventData{Conference: id, Event: "talking", Participant: tc.ID, Talking: tc.Talking})
			})
		}
		add(cs.OnCreated(func(c *conference.Conference) {
			s.events.publish("conference", ConferenceEventData{Conference: c.ID(), Event: "created"})
			watchConf(c)
		}))
		for _, c := range cs.Conferences() {
			watchConf(c)
		}
	}
}
