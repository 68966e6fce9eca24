//go:build !linux

package media

import (
	"errors"
	"net"
)

// Poller reads the RTP and RTCP sockets of many sessions on a few event
// loops. It needs Linux's epoll: elsewhere NewPoller fails and sessions
// read their sockets on goroutines of their own.
type Poller struct{}

type pollEntry struct{}

type pollLoop struct{}

var errNoPoller = errors.New("media: the RTP poller needs Linux")

// NewPoller fails: the poller needs Linux.
func NewPoller(loops int) (*Poller, error) { return nil, errNoPoller }

// Close does nothing.
func (p *Poller) Close() {}

func (p *Poller) register(*net.UDPConn, *Session, bool) (*pollEntry, *pollLoop, error) {
	return nil, nil, errNoPoller
}

func (l *pollLoop) unregister(*pollEntry) {}
