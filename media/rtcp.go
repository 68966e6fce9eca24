package media

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtcp"
)

// reportDelay randomises the report interval to 0.5–1.5 times its value
// (RFC 3550 section 6.2) so that sessions started together do not report
// together.
func (s *Session) reportDelay() time.Duration {
	d := s.cfg.ReportInterval
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// rtcpRemote is the peer's RTCP address: the RTP address + 1 (RFC 3550
// section 11; a=rtcp is not negotiated). c.mu is held.
func (s *Session) rtcpRemoteLocked() netip.AddrPort {
	if !s.remote.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(s.remote.Addr(), s.remote.Port()+1)
}

// ntp converts a time to the 64-bit NTP format.
func ntp(t time.Time) uint64 {
	secs := uint64(t.Unix()) + 2208988800
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// buildReport makes a compound SR or RR with SDES CNAME (RFC 3550
// section 6.1). c.mu is held.
func (s *Session) buildReportLocked(now time.Time) []rtcp.Packet {
	var blocks []rtcp.ReceptionReport
	if s.rx.started {
		var dlsr uint32
		if !s.rx.lastSRTime.IsZero() {
			dlsr = uint32(now.Sub(s.rx.lastSRTime).Seconds() * 65536)
		}
		lost := s.rx.lost()
		if lost > 0x7fffff {
			lost = 0x7fffff
		}
		blocks = append(blocks, rtcp.ReceptionReport{
			SSRC:               s.rx.ssrc,
			FractionLost:       s.rx.fractionLost(),
			TotalLost:          uint32(lost),
			LastSequenceNumber: s.rx.extendedMax(),
			Jitter:             uint32(s.rx.jitter),
			LastSenderReport:   s.rx.lastSR,
			Delay:              dlsr,
		})
	}
	s.wmu.Lock()
	ssrc, ts, lastSend := s.ssrc, s.ts, s.lastSend
	s.wmu.Unlock()
	var first rtcp.Packet
	if !lastSend.IsZero() && now.Sub(lastSend) < 2*s.cfg.ReportInterval {
		first = &rtcp.SenderReport{
			SSRC: ssrc, NTPTime: ntp(now), RTPTime: ts,
			PacketCount: uint32(s.sentPkts.Load()), OctetCount: uint32(s.sentBytes.Load()),
			Reports: blocks,
		}
	} else {
		first = &rtcp.ReceiverReport{SSRC: ssrc, Reports: blocks}
	}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: s.cname}},
	}}}
	return []rtcp.Packet{first, sdes}
}

func (s *Session) sendReport() {
	select {
	case <-s.closed:
		return
	default:
	}
	s.mu.Lock()
	to := s.rtcpRemoteLocked()
	pkts := s.buildReportLocked(time.Now())
	if s.rtcpTimer != nil {
		s.rtcpTimer.Reset(s.reportDelay())
	}
	s.mu.Unlock()
	s.writeRTCP(to, pkts)
}

func (s *Session) sendBye() {
	s.mu.Lock()
	to := s.rtcpRemoteLocked()
	pkts := s.buildReportLocked(time.Now())
	s.mu.Unlock()
	pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{s.SSRC()}})
	s.writeRTCP(to, pkts)
}

func (s *Session) writeRTCP(to netip.AddrPort, pkts []rtcp.Packet) {
	if !to.IsValid() {
		return
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	if _, err := s.rtcp.WriteToUDPAddrPort(b, to); err == nil {
		s.rtcpSent.Add(1)
	}
}

func (s *Session) readRTCP() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.handleRTCP(buf[:n], from)
	}
}

// handleRTCP takes one compound RTCP packet b received from from.
func (s *Session) handleRTCP(b []byte, from netip.AddrPort) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		s.dropped.Add(1)
		return
	}
	s.rtcpRecv.Add(1)
	if s.fromRemoteHost(from) {
		// Only the remote's own host shows it is alive: a report
		// from anywhere else must not re-aim a stream at a
		// stranger's SDP address (issue 14 item 7).
		s.heardFrom.Store(true)
	}
	now := time.Now()
	ssrc := s.SSRC()
	s.mu.Lock()
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			s.rx.lastSR = uint32(p.NTPTime >> 16)
			s.rx.lastSRTime = now
			s.takeReportsLocked(ssrc, p.Reports)
		case *rtcp.ReceiverReport:
			s.takeReportsLocked(ssrc, p.Reports)
		}
	}
	s.mu.Unlock()
}

func (s *Session) takeReportsLocked(ssrc uint32, rr []rtcp.ReceptionReport) {
	for _, r := range rr {
		if r.SSRC == ssrc {
			s.remoteRR = remoteReport{fractionLost: r.FractionLost, jitter: r.Jitter}
		}
	}
}
