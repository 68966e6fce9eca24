package platform

import (
	"fmt"
	"net/netip"
	"time"
)

// Config configures a Platform. The zero value listens on UDP
// 127.0.0.1:5060 only. yaml tags make it part of the server's config file.
type Config struct {
	// UDP, TCP and WS are listen addresses ("host:port"; port 0 picks one).
	// When all of UDP, TCP, TLS and WS are empty, UDP 127.0.0.1:5060 is used.
	UDP []string `yaml:"udp"`
	TCP []string `yaml:"tcp"`
	WS  []string `yaml:"ws"`
	// TLS listeners with their certificate and key files.
	TLS []TLSListener `yaml:"tls"`

	// Host is the host advertised in Via and Contact. Default: the IP of
	// the first listener (127.0.0.1 when it is unspecified).
	Host string `yaml:"host"`

	// Domains are the domains the platform is authoritative for, in
	// addition to Host and the listener addresses. Request-URIs in other
	// domains are still routed by user part when unambiguous.
	Domains []string `yaml:"domains"`

	// MediaIP is the address RTP binds to and advertises in SDP. Default:
	// Host when it is an IP address, else 127.0.0.1.
	MediaIP string `yaml:"media_ip"`
	// MediaAdvertise, when set, is the address SDP offers and answers
	// carry instead of MediaIP: the public side of a 1:1 NAT in front of
	// the server (RTP still binds to MediaIP, which may then be 0.0.0.0).
	// Host plays the same part for SIP: it is advertised in Via and
	// Contact whatever the listeners bind.
	MediaAdvertise string `yaml:"media_advertise"`
	// RTPPortMin and RTPPortMax bound the RTP ports (even ports are used).
	// Default 0 and 0: the kernel picks ephemeral ports.
	RTPPortMin int `yaml:"rtp_port_min"`
	RTPPortMax int `yaml:"rtp_port_max"`
	// RTPReaders is how many event loops read the RTP and RTCP sockets
	// of every call (a media.Poller: epoll, one buffer per loop, no
	// goroutine per socket; about 20 KB less per call and no goroutine
	// wake-up per packet). Default 0: each socket is read by a goroutine
	// of its own; -1 means one loop per CPU (GOMAXPROCS). With loops, a
	// session's sinks and observers share a loop with other calls and
	// must not block. Linux only; elsewhere sockets keep their goroutines.
	RTPReaders int `yaml:"rtp_readers"`

	// TrustedPeers are CIDRs (or single addresses) whose requests are
	// trusted: they may join conferences as trusted participants and use
	// other actions reserved to trusted peers. Default: none.
	TrustedPeers []string `yaml:"trusted_peers"`
	// TrustedCertNames are TLS client certificate names (CN or DNS SAN)
	// whose connections are trusted. Default: none.
	TrustedCertNames []string `yaml:"trusted_cert_names"`

	// Users may authenticate by SIP digest: a handler that needs to know
	// who calls (retrieval by orbit, say) challenges a request from an
	// untrusted source, and the identity of one that answers with a
	// user's credentials is sip:<name>@<Realm> (see Identity). Default:
	// none, and nobody is challenged. The server's config gives them as
	// the top-level users: list.
	Users []User `yaml:"-"`
	// Realm is the digest realm, and the host of digest identities.
	// Default: the first of Domains, else Host.
	Realm string `yaml:"realm"`
	// AuthMaxFailures failed authentications from one source address
	// within AuthLockout lock that source out until the period ends: its
	// credentials are refused (403) whatever they are. Defaults 5 and 5m.
	AuthMaxFailures int           `yaml:"auth_max_failures"`
	AuthLockout     time.Duration `yaml:"auth_lockout"`

	// T1 is the SIP round-trip estimate of RFC 3261 section 17.1.1.1.
	// Default 500ms. sipgo keeps its timers process-wide, so every
	// platform open in one process must have the same T1: New refuses
	// another value with ErrSettingsConflict.
	T1 time.Duration `yaml:"t1"`

	// UDPMaxMessage is the largest SIP message sent over UDP, in bytes.
	// RFC 3261 section 18.1.1 asks for TCP above 1300 bytes, but many
	// peers listen on UDP only and conference rosters (RFC 4575) easily
	// exceed it, so the default is 8192 and relies on IP fragmentation.
	// Like T1 it is process-wide (a sipgo variable): platforms open in
	// one process must agree on it.
	UDPMaxMessage int `yaml:"udp_max_message"`

	// UserAgent is sent in User-Agent and Server headers. Default
	// "Switchboard".
	UserAgent string `yaml:"user_agent"`

	// RetryAfter is the Retry-After sent with 503 while draining. Default 30s.
	RetryAfter time.Duration `yaml:"retry_after"`

	// TCPIdleTimeout closes an accepted TCP, TLS or WS connection from
	// which nothing has been read for this long (a CRLF keep-alive of
	// RFC 5626 counts). Default 5m; negative disables; a positive value
	// below 100ms is refused. Keep it above the longest time a peer that
	// sends no keep-alives may stay silent on a connection it still
	// expects responses and requests on (a ringing INVITE, a call).
	TCPIdleTimeout time.Duration `yaml:"tcp_idle_timeout"`

	// MaxConnsPerSource caps the connections accepted from one IP address
	// and open at once, over all TCP, TLS and WS listeners; a connection
	// over the cap is closed as soon as it is accepted. Default 64;
	// negative disables.
	MaxConnsPerSource int `yaml:"max_conns_per_source"`

	// RateLimit caps the out-of-dialog requests one source address may
	// send per second, with bursts of RateBurst; trusted peers are exempt
	// (a proxy carries everyone's traffic). An INVITE over the limit gets
	// 503 with Retry-After; anything else over it (OPTIONS and REGISTER
	// floods of scanners) is dropped without an answer. Default 0: no
	// limit (the server's embedded config sets 50 per second); RateBurst
	// defaults to twice the rate.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
	// MaxCalls caps the dialogs open at once: an INVITE beyond it gets
	// 503 with Retry-After (trusted peers included). Default 10000;
	// negative disables.
	MaxCalls int `yaml:"max_calls"`
	// MaxCallsPerSource caps the dialogs that one untrusted source
	// address has open at once (ringing or established; trusted peers are
	// exempt: a proxy carries everyone's calls). An INVITE beyond it gets
	// 503 with Retry-After, as for MaxCalls: the refusal is about the
	// server's resources, not the callee's state (486 Busy Here would be
	// a statement about the callee), and Kamailio's pike and Asterisk's
	// overload answers are 503 too. It is checked when the INVITE
	// arrives, against the dialogs already open, so a burst of INVITEs in
	// the same instant may pass it by what RateBurst lets through.
	// Default 0: no limit (the server's embedded config sets 256).
	MaxCallsPerSource int `yaml:"max_calls_per_source"`
	// MaxBodySize is the largest body, in bytes, a request may announce
	// in Content-Length: a larger one gets 413 Request Entity Too Large
	// (RFC 3261 section 21.4.11) before any handler sees it. sipgo itself
	// refuses messages over 64 KiB before reading their bodies. Default
	// 16384; negative disables.
	MaxBodySize int `yaml:"max_body_size"`
	// SDPMaxSize, SDPMaxMedia and SDPMaxAttributes bound an SDP body in
	// a request (an offer, or the answer in an ACK): its size in bytes,
	// its number of m= lines and its number of a= lines in any one media
	// description (or in the session part). An offer over a bound gets
	// 488 Not Acceptable Here before it is parsed (an ACK over one is
	// dropped). Defaults 8192, 8 and 64; negative disables each.
	SDPMaxSize       int `yaml:"sdp_max_size"`
	SDPMaxMedia      int `yaml:"sdp_max_media"`
	SDPMaxAttributes int `yaml:"sdp_max_attributes"`
	// NoAmplification makes every response to a UDP request of an
	// unverified source (not a trusted peer, not authenticated) no larger
	// than that request, so that a spoofed source address gets no more
	// bytes than were sent in its name: optional headers (Allow, Accept,
	// Supported, Warning, then Server and User-Agent) are removed, of
	// several digest challenges only the MD5 one is kept, and a response
	// that still does not fit is not sent (counted as RejectAmplification).
	// A 2xx to an INVITE is exempt: it carries the session. The cost: a
	// request smaller than its answer must be (a 350-byte INVITE without
	// SDP, as scanners and some phones send, against a 440-byte 401
	// challenge) goes unanswered, so such a phone cannot authenticate
	// over UDP. Default false.
	NoAmplification bool `yaml:"no_amplification"`
	// UniformRefusals makes every 403 and 404 answered to an
	// out-of-dialog request of an unknown sender (untrusted, not
	// authenticated) the same: the digest challenge when there are Users,
	// else 404 Not Found. A scanner then cannot tell missing users from
	// existing ones that refused it (an empty orbit from an unknown
	// number); only the targets the dial plan publishes answer
	// differently. Default false (the server's embedded config sets it).
	UniformRefusals bool `yaml:"uniform_refusals"`
	// SocketBuffer is the kernel receive and send buffer, in bytes, asked
	// for on each SIP UDP listener this platform binds (SO_RCVBUF and
	// SO_SNDBUF). The kernel's default (212,992 bytes on Debian) holds
	// about 300 requests; a burst of a few thousand calls a second
	// overflows it and the drops come back as retransmissions. Linux
	// grants at most net.core.rmem_max / wmem_max: the value granted is
	// logged at start-up. Default 4194304 (4 MiB); negative keeps the
	// kernel's default. Sockets passed in with WithUDPConn are left as
	// they are.
	SocketBuffer int `yaml:"socket_buffer"`
}

// minTCPIdleTimeout is the shortest accepted Config.TCPIdleTimeout: a
// smaller value is a unit mistake (a bare YAML number is nanoseconds).
const minTCPIdleTimeout = 100 * time.Millisecond

// TLSListener is one TLS listen address.
type TLSListener struct {
	Addr     string `yaml:"addr"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requests and verifies client certificates
	// against this CA bundle (mutual TLS for trusted peers).
	ClientCAFile string `yaml:"client_ca_file"`
}

// withDefaults fills the defaults; haveSockets says listeners were passed
// in as options, which then replace the default UDP listener.
func (c *Config) withDefaults(haveSockets bool) Config {
	out := *c
	if !haveSockets && len(out.UDP)+len(out.TCP)+len(out.TLS)+len(out.WS) == 0 {
		out.UDP = []string{"127.0.0.1:5060"}
	}
	if out.T1 == 0 {
		out.T1 = 500 * time.Millisecond
	}
	if out.UserAgent == "" {
		out.UserAgent = "Switchboard"
	}
	if out.RetryAfter == 0 {
		out.RetryAfter = 30 * time.Second
	}
	if out.UDPMaxMessage == 0 {
		out.UDPMaxMessage = 8192
	}
	if out.TCPIdleTimeout == 0 {
		out.TCPIdleTimeout = 5 * time.Minute
	}
	if out.MaxConnsPerSource == 0 {
		out.MaxConnsPerSource = 64
	}
	if out.SocketBuffer == 0 {
		out.SocketBuffer = 4 << 20
	}
	if out.RateBurst == 0 && out.RateLimit > 0 {
		out.RateBurst = 2 * int(max(out.RateLimit, 1))
	}
	if out.MaxCalls == 0 {
		out.MaxCalls = 10000
	}
	if out.MaxBodySize == 0 {
		out.MaxBodySize = 16384
	}
	if out.SDPMaxSize == 0 {
		out.SDPMaxSize = 8192
	}
	if out.SDPMaxMedia == 0 {
		out.SDPMaxMedia = 8
	}
	if out.SDPMaxAttributes == 0 {
		out.SDPMaxAttributes = 64
	}
	if out.AuthMaxFailures == 0 {
		out.AuthMaxFailures = 5
	}
	if out.AuthLockout == 0 {
		out.AuthLockout = 5 * time.Minute
	}
	return out
}

func parsePrefixes(s []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(s))
	for _, v := range s {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("platform: trusted peer %q is neither a CIDR nor an address", v)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
