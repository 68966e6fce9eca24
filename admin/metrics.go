package admin

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
)

// Metrics are Switchboard's Prometheus metrics (switchboard_*, with the Go
// runtime and process collectors). It is a platform.Observer: pass it to
// platform.New with platform.WithObserver, then to New with WithMetrics.
// Its methods are safe for concurrent use and never block.
type Metrics struct {
	reg       *prometheus.Registry
	sipReqs   *prometheus.CounterVec
	sipResps  *prometheus.CounterVec
	sipRetx   *prometheus.CounterVec
	calls     *prometheus.CounterVec
	parkEvts  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	mu        sync.Mutex
	finished  endpointTotals // RTP counters of calls that have ended
	svc       *Services
	attachMux sync.Mutex
}

type endpointTotals struct {
	packetsSent, packetsRecv, bytesSent, bytesRecv, lost uint64
}

// NewMetrics returns the metrics, registered in a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.sipReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_sip_requests_total", Help: "SIP requests received, by method.",
	}, []string{"method"})
	m.sipResps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_sip_responses_total", Help: "SIP responses sent to received requests, by request method and status code.",
	}, []string{"method", "code"})
	m.sipRetx = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_sip_retransmissions_total",
		Help: "SIP messages retransmitted on UDP, by method (a response's CSeq method), kind (request or response) and direction (received or sent).",
	}, []string{"method", "kind", "direction"})
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_calls_total", Help: "Calls ended, by app and outcome (answered, rejected, cancelled, failed).",
	}, []string{"app", "outcome"})
	m.parkEvts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_park_events_total", Help: "Park outcomes: parked, retrieved, abandoned, timed out, ring back, fallback, disconnected.",
	}, []string{"event"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_sip_rejected_total", Help: "Requests refused by the abuse limits, by method and reason (rate: over the source's rate, max_calls: the call limit).",
	}, []string{"method", "reason"})
	m.reg.MustRegister(m.sipReqs, m.sipResps, m.sipRetx, m.calls, m.parkEvts, m.rejected, live{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry the metrics are in (to add more).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// knownMethods bounds the method label: a peer may send any token as a
// method, and each would otherwise become a time series.
var knownMethods = strings.Fields("INVITE ACK CANCEL BYE OPTIONS REFER NOTIFY INFO UPDATE SUBSCRIBE MESSAGE REGISTER PRACK PUBLISH")

func methodLabel(m string) string {
	for _, k := range knownMethods {
		if k == m {
			return m
		}
	}
	return "other"
}

// ObserveRequest counts a received SIP request (platform.Observer).
func (m *Metrics) ObserveRequest(method string) {
	m.sipReqs.WithLabelValues(methodLabel(method)).Inc()
}

// ObserveResponse counts a SIP response sent (platform.Observer).
func (m *Metrics) ObserveResponse(method string, code int) {
	m.sipResps.WithLabelValues(methodLabel(method), strconv.Itoa(code)).Inc()
}

// ObserveRejected counts a request refused by the platform's abuse
// limits (platform.RejectObserver).
func (m *Metrics) ObserveRejected(method, reason string) {
	m.rejected.WithLabelValues(methodLabel(method), reason).Inc()
}

var _ platform.RejectObserver = (*Metrics)(nil)

// ObserveRetransmission counts a retransmitted SIP message
// (platform.RetransmissionObserver).
func (m *Metrics) ObserveRetransmission(method string, response bool, direction string) {
	kind := "request"
	if response {
		kind = "response"
	}
	m.sipRetx.WithLabelValues(methodLabel(method), kind, direction).Inc()
}

var _ platform.RetransmissionObserver = (*Metrics)(nil)

// callEnded counts a terminated call and keeps its RTP totals.
func (m *Metrics) callEnded(ev endpoint.CallEvent, answered bool) {
	m.calls.WithLabelValues(appLabel(ev.Info.App), outcome(ev.Reason, answered)).Inc()
	st := ev.Call.Flow().Stats()
	m.mu.Lock()
	m.finished.packetsSent += st.PacketsSent
	m.finished.packetsRecv += st.PacketsReceived
	m.finished.bytesSent += st.BytesSent
	m.finished.bytesRecv += st.BytesReceived
	m.finished.lost += st.PacketsLost
	m.mu.Unlock()
}

func appLabel(app string) string {
	if app == "" {
		return "unknown"
	}
	return app
}

// outcome classifies how a call ended, for the calls_total label.
func outcome(r endpoint.Reason, answered bool) string {
	switch {
	case answered:
		return "answered"
	case r == endpoint.ReasonCancelled || r == endpoint.ReasonRemoteCancelled:
		return "cancelled"
	case r == endpoint.ReasonDeclined || r == endpoint.ReasonRejected:
		return "rejected"
	}
	return "failed"
}

func (m *Metrics) attach(s *Services) {
	m.attachMux.Lock()
	m.svc = s
	m.attachMux.Unlock()
}

func (m *Metrics) services() *Services {
	m.attachMux.Lock()
	defer m.attachMux.Unlock()
	return m.svc
}

// live collects, at scrape time, what is read from the running server:
// active calls, RTP counters (ended calls plus live ones), orbits and
// recordings.
type live struct{ m *Metrics }

var (
	descActive    = prometheus.NewDesc("switchboard_calls_active", "Calls in progress, by app.", []string{"app"}, nil)
	descPackets   = prometheus.NewDesc("switchboard_rtp_packets_total", "RTP packets, by direction.", []string{"direction"}, nil)
	descBytes     = prometheus.NewDesc("switchboard_rtp_bytes_total", "RTP payload bytes, by direction.", []string{"direction"}, nil)
	descLost      = prometheus.NewDesc("switchboard_rtp_packets_lost_total", "RTP packets lost (from sequence numbers) on received streams.", nil, nil)
	descJitter    = prometheus.NewDesc("switchboard_rtp_jitter_max_seconds", "Highest RFC 3550 interarrival jitter of the calls in progress.", nil, nil)
	descOrbitsUse = prometheus.NewDesc("switchboard_park_orbits_in_use", "Park orbits holding a call.", nil, nil)
	descOrbitsCap = prometheus.NewDesc("switchboard_park_orbits_capacity", "Park orbits configured.", nil, nil)
	descRecActive = prometheus.NewDesc("switchboard_recordings_active", "Recordings whose sidecar has no end yet (in progress, or cut short by a crash).", nil, nil)
	descRecStored = prometheus.NewDesc("switchboard_recordings_stored", "Recordings in the recording directory.", nil, nil)
	descRecBytes  = prometheus.NewDesc("switchboard_recordings_bytes", "Bytes of audio in the recording directory.", nil, nil)
	descConfs     = prometheus.NewDesc("switchboard_conferences_active", "Conferences in progress.", nil, nil)
	descMixLate   = prometheus.NewDesc("switchboard_mixer_late_ticks", "Mixer clock ticks that missed their 20 ms deadline, summed over the conferences in progress.", nil, nil)
	descMixMax    = prometheus.NewDesc("switchboard_mixer_frame_max_seconds", "Longest time one mixer frame took, over the conferences in progress.", nil, nil)
)

func (l live) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descPackets, descBytes, descLost, descJitter, descOrbitsUse, descOrbitsCap, descRecActive, descRecStored, descRecBytes, descConfs, descMixLate, descMixMax} {
		ch <- d
	}
}

func (l live) Collect(ch chan<- prometheus.Metric) {
	m := l.m
	m.mu.Lock()
	tot := m.finished
	m.mu.Unlock()
	s := m.services()
	active := map[string]int{}
	var jitter float64
	if s != nil && s.Platform != nil {
		for _, c := range endpoint.Calls(s.Platform) {
			info := c.Info()
			if info.State == endpoint.StateTerminated {
				continue
			}
			active[appLabel(info.App)]++
			st := c.Flow().Stats()
			tot.packetsSent += st.PacketsSent
			tot.packetsRecv += st.PacketsReceived
			tot.bytesSent += st.BytesSent
			tot.bytesRecv += st.BytesReceived
			tot.lost += st.PacketsLost
			jitter = max(jitter, st.Jitter.Seconds())
		}
	}
	for app, n := range active {
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(n), app)
	}
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(tot.packetsSent), "sent")
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(tot.packetsRecv), "received")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(tot.bytesSent), "sent")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(tot.bytesRecv), "received")
	ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(tot.lost))
	ch <- prometheus.MustNewConstMetric(descJitter, prometheus.GaugeValue, jitter)
	if s != nil && s.Park != nil {
		ch <- prometheus.MustNewConstMetric(descOrbitsUse, prometheus.GaugeValue, float64(len(s.Park.List())))
		ch <- prometheus.MustNewConstMetric(descOrbitsCap, prometheus.GaugeValue, float64(s.Park.Capacity()))
	}
	if s != nil && s.Conferences != nil {
		confs := s.Conferences.Conferences()
		var late uint64
		var longest time.Duration
		for _, c := range confs {
			st := c.Mixer().Stats()
			late += st.Late
			longest = max(longest, st.MaxFrame)
		}
		ch <- prometheus.MustNewConstMetric(descConfs, prometheus.GaugeValue, float64(len(confs)))
		ch <- prometheus.MustNewConstMetric(descMixLate, prometheus.GaugeValue, float64(late))
		ch <- prometheus.MustNewConstMetric(descMixMax, prometheus.GaugeValue, longest.Seconds())
	}
	if s != nil && s.Recording != nil {
		mds, err := s.Recording.Recordings()
		if err == nil {
			var act, bytes int
			for _, md := range mds {
				if md.End.IsZero() {
					act++
				}
				for _, f := range md.Files {
					if fi, err := os.Stat(filepath.Join(s.RecordingDir, f.Name)); err == nil {
						bytes += int(fi.Size())
					}
				}
			}
			ch <- prometheus.MustNewConstMetric(descRecActive, prometheus.GaugeValue, float64(act))
			ch <- prometheus.MustNewConstMetric(descRecStored, prometheus.GaugeValue, float64(len(mds)))
			ch <- prometheus.MustNewConstMetric(descRecBytes, prometheus.GaugeValue, float64(bytes))
		}
	}
}
