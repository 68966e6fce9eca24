package platform

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/internal/ua"
	"github.com/switchboard-sip/switchboard/media"
)

// The core of a platform is reachable only from Switchboard's own packages
// (through internal/ua), never from applications.
func init() { ua.SetOf(func(p any) *ua.Core { return p.(*Platform).core }) }

// ErrClosed is returned by operations on a platform that has been shut
// down or closed.
var ErrClosed = errors.New("platform: closed")

// Allowed is the Allow header value: the methods Switchboard handles.
const Allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE, SUBSCRIBE, MESSAGE"

// Supported is the Supported header value.
const Supported = "replaces, timer, norefersub"

// RequireTrusted wraps h so that requests from untrusted peers get 403
// Forbidden: middleware for handlers that offer actions reserved to trusted
// peers.
func RequireTrusted(h Handler) Handler {
	return HandlerFunc(func(r *Request) {
		if !r.Trusted {
			_ = r.Respond(sip.StatusForbidden, "Forbidden", nil, sip.NewHeader("Warning", `399 switchboard "trusted peers only"`))
			return
		}
		h.ServeSIP(r)
	})
}

// Request is an incoming request and its server transaction, as handed to
// handlers.
type Request struct {
	*sip.Request
	Tx sip.ServerTransaction
	// Trusted reports whether the request came from a trusted peer
	// (Config.TrustedPeers or Config.TrustedCertNames).
	Trusted bool
	// Identity is who sent the request, when the platform could
	// establish it (a trusted peer's assertion, digest credentials of a
	// Config.Users user); the zero Identity otherwise. A handler that
	// needs one the request lacks may Challenge.
	Identity Identity

	platform *Platform
	authErr  error // credentials presented and refused (Challenge answers 403)
}

// WithMessage returns a copy of r that carries req (a copy of r's
// message that a handler changed, such as an INVITE whose To got the
// dialog's tag) and everything else r knows: transaction, trust, identity.
func (r *Request) WithMessage(req *sip.Request) *Request {
	c := *r
	c.Request = req
	return &c
}

// Respond sends a response built from the request.
func (r *Request) Respond(code int, reason string, body []byte, headers ...sip.Header) error {
	res := sip.NewResponseFromRequest(r.Request, code, reason, body)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	return r.Tx.Respond(res)
}

// Handler serves out-of-dialog requests routed to it by Request-URI.
// ServeSIP runs on the request's own goroutine and may block for as long
// as it needs the transaction (an INVITE handler may block for the whole
// call).
type Handler interface {
	ServeSIP(r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(r *Request)

// ServeSIP calls f(r).
func (f HandlerFunc) ServeSIP(r *Request) { f(r) }

type route struct {
	user, host string
	h          Handler
}

// Option configures a Platform.
type Option func(*Platform)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Platform) { p.log = l } }

// WithUDPConn makes the platform serve SIP on an already bound UDP socket
// (tests bind 127.0.0.1:0 and pass it in).
func WithUDPConn(c net.PacketConn) Option {
	return func(p *Platform) { p.udp = append(p.udp, c) }
}

// WithTCPListener makes the platform serve SIP on an already bound TCP
// listener.
func WithTCPListener(l net.Listener) Option {
	return func(p *Platform) { p.tcp = append(p.tcp, l) }
}

// CheckOnly makes New validate the configuration, listen addresses and
// TLS certificates included, without binding any socket; apps can be put
// on the platform to validate theirs, and Start refuses. It is what
// `switchboard check-config` runs, like `kamailio -c`.
func CheckOnly() Option { return func(p *Platform) { p.checkOnly = true } }

// Platform hosts application endpoints on a set of SIP transports. Its
// methods are safe for concurrent use.
type Platform struct {
	cfg     Config
	log     *slog.Logger
	calls   CallDefaults // for endpoints (calls.go)
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	core    *ua.Core // dialogs and the request client, for endpoints
	ports   *media.PortRange
	trusted []netip.Prefix
	certs   *certRegistry
	// certFiles are the TLS listeners' certificates, reloadable
	// (ReloadCertificates).
	certFiles []*certSource
	auth      *authenticator // nil without Config.Users
	limiter   *sourceLimiter // nil when Config.RateLimit is negative
	host      string
	domains   map[string]bool

	// poller reads the calls' RTP sockets (Config.RTPReaders); started by
	// the first call's session, closed by Close.
	pollerOnce sync.Once
	poller     *media.Poller

	udp []net.PacketConn
	tcp []net.Listener
	tls []net.Listener
	ws  []net.Listener

	mu       sync.Mutex
	routes   []route
	prefixes []route // user-part prefixes (conference URIs conf-<id>)
	fallback Handler

	checkOnly bool // CheckOnly: validate, bind nothing, never Start

	mediaAdvertise netip.Addr // Config.MediaAdvertise parsed
	started        atomic.Bool
	draining       atomic.Bool
	closed         atomic.Bool
	closeOnce      sync.Once
	closeErr       error
	wg             sync.WaitGroup

	appsMu sync.Mutex
	apps   []io.Closer // closed last first by Close

	releaseSettings func() // gives back the hold on sipgo's process-wide settings
	merges          *mergeDetector
	obs             Observer         // nil: none
	retx            *retransmissions // nil: obs does not count retransmissions
}

// New validates cfg, binds every listener and prepares the platform. It
// does not serve until Start.
func New(cfg Config, opts ...Option) (*Platform, error) {
	p := &Platform{domains: map[string]bool{}}
	for _, o := range opts {
		o(p)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults(len(p.udp)+len(p.tcp) > 0)
	p.cfg = cfg
	p.merges = newMergeDetector(64*cfg.T1, 65536)
	if ro, ok := p.obs.(RetransmissionObserver); ok {
		p.retx = newRetransmissions(ro, 64*cfg.T1)
	}
	var err error
	if p.trusted, err = parsePrefixes(cfg.TrustedPeers); err != nil {
		return nil, err
	}
	if cfg.RTPPortMin < 0 || cfg.RTPPortMax > 65535 || cfg.RTPPortMin > cfg.RTPPortMax {
		return nil, fmt.Errorf("platform: invalid RTP port range %d-%d", cfg.RTPPortMin, cfg.RTPPortMax)
	}
	if cfg.RateLimit > 0 {
		p.limiter = newSourceLimiter(cfg.RateLimit, cfg.RateBurst, 100000)
	}
	if cfg.TCPIdleTimeout > 0 && cfg.TCPIdleTimeout < minTCPIdleTimeout {
		return nil, fmt.Errorf("platform: tcp_idle_timeout %s is below the minimum %s (negative disables)", cfg.TCPIdleTimeout, minTCPIdleTimeout)
	}
	if err := p.bind(); err != nil {
		p.closeListeners()
		return nil, err
	}
	p.guardListeners()
	p.host = cfg.Host
	if p.host == "" {
		p.host = p.firstListenerIP()
	}
	p.domains[strings.ToLower(p.host)] = true
	for _, d := range cfg.Domains {
		p.domains[strings.ToLower(d)] = true
	}
	if len(cfg.Users) > 0 {
		realm := cfg.Realm
		switch {
		case realm != "":
		case len(cfg.Domains) > 0:
			realm = cfg.Domains[0]
		default:
			realm = p.host
		}
		if p.auth, err = newAuthenticator(realm, cfg.Users, cfg.AuthMaxFailures, cfg.AuthLockout); err != nil {
			p.closeListeners()
			return nil, err
		}
		p.domains[strings.ToLower(realm)] = true
	}
	mediaIP := cfg.MediaIP
	if mediaIP == "" {
		mediaIP = p.host
	}
	mip, err := netip.ParseAddr(mediaIP)
	if err != nil {
		mip = netip.MustParseAddr("127.0.0.1")
	}
	p.ports = &media.PortRange{IP: mip, Min: cfg.RTPPortMin, Max: cfg.RTPPortMax}
	if cfg.MediaAdvertise != "" {
		if p.mediaAdvertise, err = netip.ParseAddr(cfg.MediaAdvertise); err != nil {
			p.closeListeners()
			return nil, fmt.Errorf("platform: media_advertise %q: want an IP address", cfg.MediaAdvertise)
		}
	}

	if p.releaseSettings, err = acquireSipgoSettings(cfg.T1, cfg.UDPMaxMessage); err != nil {
		p.closeListeners()
		return nil, err
	}
	siplog := p.log.With("subsystem", "sipgo")
	var tlsConf *tls.Config
	p.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentHostname(p.host),
		sipgo.WithUserAgenTLSConfig(tlsConf),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(siplog),
			// sipgo's default handler logs responses that match no
			// transaction (a 100 Trying overtaken by the final response,
			// a retransmission) to its process-wide default logger.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				siplog.Debug("response matches no transaction", "response", r.Short())
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(siplog)),
	)
	if err != nil {
		p.closeListeners()
		p.releaseSettings()
		return nil, fmt.Errorf("platform: %w", err)
	}
	p.srv, _ = sipgo.NewServer(p.ua, sipgo.WithServerLogger(siplog))
	p.cli, _ = sipgo.NewClient(p.ua, sipgo.WithClientLogger(siplog), sipgo.WithClientHostname(p.host))
	var udp *net.UDPAddr
	if len(p.udp) > 0 {
		udp, _ = p.udp[0].LocalAddr().(*net.UDPAddr)
	}
	p.core = ua.New(p.cli, udp, p.closedErr)
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.OPTIONS, sip.REFER,
		sip.NOTIFY, sip.INFO, sip.UPDATE, sip.SUBSCRIBE, sip.MESSAGE, sip.PRACK, sip.REGISTER, sip.PUBLISH} {
		p.srv.OnRequest(m, p.dispatch)
	}
	p.srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", Allowed))
		_ = tx.Respond(res)
	})
	return p, nil
}

func (p *Platform) bind() error {
	if p.checkOnly {
		return p.checkAddrs()
	}
	for _, a := range p.cfg.UDP {
		c, err := net.ListenPacket("udp", a)
		if err != nil {
			return fmt.Errorf("platform: listen udp %s: %w", a, err)
		}
		p.setUDPBuffers(c)
		p.udp = append(p.udp, c)
	}
	for _, a := range p.cfg.TCP {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("platform: listen tcp %s: %w", a, err)
		}
		p.tcp = append(p.tcp, l)
	}
	for _, a := range p.cfg.WS {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("platform: listen ws %s: %w", a, err)
		}
		p.ws = append(p.ws, l)
	}
	if len(p.cfg.TLS) > 0 {
		p.certs = newCertRegistry()
	}
	for _, t := range p.cfg.TLS {
		conf, err := serverTLSConfig(t)
		if err != nil {
			return err
		}
		p.certFiles = append(p.certFiles, conf.src)
		l, err := net.Listen("tcp", t.Addr)
		if err != nil {
			return fmt.Errorf("platform: listen tls %s: %w", t.Addr, err)
		}
		p.tls = append(p.tls, &tlsListener{Listener: l, conf: conf.Config, reg: p.certs})
	}
	return nil
}

// serverTLSConfig loads the certificate (and client CAs) of a TLS listener.
// The certificate is served through GetCertificate from a reloadable
// source (tls.go), so ReloadCertificates reaches new handshakes.
func serverTLSConfig(t TLSListener) (*listenerTLS, error) {
	src := &certSource{l: t}
	if err := src.load(); err != nil {
		return nil, err
	}
	conf := &tls.Config{GetCertificate: src.get, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("platform: tls %s: %w", t.Addr, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("platform: tls %s: no certificates in %s", t.Addr, t.ClientCAFile)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return &listenerTLS{Config: conf, src: src}, nil
}

// checkAddrs is bind for a CheckOnly platform: it checks every listen
// address and TLS certificate and binds nothing.
func (p *Platform) checkAddrs() error {
	var errs []error
	for _, a := range p.cfg.UDP {
		if _, err := net.ResolveUDPAddr("udp", a); err != nil {
			errs = append(errs, fmt.Errorf("platform: udp %s: %w", a, err))
		}
	}
	for kind, list := range map[string][]string{"tcp": p.cfg.TCP, "ws": p.cfg.WS} {
		for _, a := range list {
			if _, err := net.ResolveTCPAddr("tcp", a); err != nil {
				errs = append(errs, fmt.Errorf("platform: %s %s: %w", kind, a, err))
			}
		}
	}
	for _, t := range p.cfg.TLS {
		if _, err := net.ResolveTCPAddr("tcp", t.Addr); err != nil {
			errs = append(errs, fmt.Errorf("platform: tls %s: %w", t.Addr, err))
		}
		if _, err := serverTLSConfig(t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// guardListeners wraps every stream listener, bound or passed in, so that
// accept errors are retried, idle connections closed and connections per
// source capped (listener.go). A TLS listener is guarded beneath its
// handshake: the cap applies before a handshake is spent on a connection.
func (p *Platform) guardListeners() {
	g := newConnGuard(p.cfg.TCPIdleTimeout, p.cfg.MaxConnsPerSource, p.log)
	for i, l := range p.tcp {
		p.tcp[i] = g.listen(l, "tcp")
	}
	for _, l := range p.tls {
		tl := l.(*tlsListener)
		tl.Listener = g.listen(tl.Listener, "tls")
	}
	for i, l := range p.ws {
		p.ws[i] = g.listen(l, "ws")
	}
}

func (p *Platform) firstListenerIP() string {
	var a net.Addr
	switch {
	case len(p.udp) > 0:
		a = p.udp[0].LocalAddr()
	case len(p.tcp) > 0:
		a = p.tcp[0].Addr()
	case len(p.tls) > 0:
		a = p.tls[0].Addr()
	case len(p.ws) > 0:
		a = p.ws[0].Addr()
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil && !ap.Addr().IsUnspecified() {
			return ap.Addr().Unmap().String()
		}
	}
	return "127.0.0.1"
}

// Start serves every listener. It returns at once; serving goroutines run
// until Close.
func (p *Platform) Start() error {
	if p.closed.Load() {
		return ErrClosed
	}
	if p.checkOnly {
		return errors.New("platform: a CheckOnly platform does not serve")
	}
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("platform: already started")
	}
	serve := func(name string, f func() error) {
		p.wg.Go(func() {
			if err := f(); err != nil && !p.closed.Load() {
				p.log.Error("platform: listener stopped", "transport", name, "error", err)
			}
		})
	}
	// sipgo registers a UDP listener in its connection pool on the serving
	// goroutine, before its first read; requests bound to it
	// (PrepareRequest) need it registered, so Start returns only once each
	// UDP listener has been read from (or its serving goroutine ended).
	type udpStart struct{ ready, exited chan struct{} }
	var udpStarts []udpStart
	for _, c := range p.udp {
		st := udpStart{ready: make(chan struct{}), exited: make(chan struct{})}
		rc := &readyConn{PacketConn: c, ready: st.ready, parser: sip.NewParser(), p: p}
		serve("udp", func() error {
			defer close(st.exited)
			return p.srv.ServeUDP(rc)
		})
		udpStarts = append(udpStarts, st)
	}
	for _, l := range p.tcp {
		serve("tcp", func() error { return p.srv.ServeTCP(l) })
	}
	for _, l := range p.tls {
		serve("tls", func() error { return p.srv.ServeTLS(l) })
	}
	for _, l := range p.ws {
		serve("ws", func() error { return p.srv.ServeWS(l) })
	}
	for _, st := range udpStarts {
		select {
		case <-st.ready:
		case <-st.exited:
		}
	}
	p.log.Info("platform started", "host", p.host, "listeners", p.listenerList())
	return nil
}

// readyConn is a UDP listener that reports its first read: sipgo has
// registered the listener in its connection pool by then (sipgo v1.7.2
// offers a listen-ready signal only for sockets it binds itself, and sends
// it before registering).
type readyConn struct {
	net.PacketConn
	once   sync.Once
	ready  chan struct{}
	parser *sip.Parser // for screen; used by sipgo's one reader
	p      *Platform
}

// ReadFrom closes ready on the first call and reads. What the platform
// answers statelessly (Platform.screen) is not passed on.
func (c *readyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	for {
		n, from, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, from, err
		}
		if c.p.closed.Load() {
			// Closing: a request handed to sipgo now could be answered
			// after the listener left sipgo's connection pool, and sipgo
			// would open (and leak) a fresh socket for the response.
			continue
		}
		if r := c.p.retx; r != nil {
			r.check(b[:n], r.received, DirectionReceived)
		}
		if !c.p.screen(c, c.parser, b[:n], from) {
			return n, from, err
		}
	}
}

func (p *Platform) listenerList() []string {
	var out []string
	for _, c := range p.udp {
		out = append(out, "udp:"+c.LocalAddr().String())
	}
	for _, l := range p.tcp {
		out = append(out, "tcp:"+l.Addr().String())
	}
	for _, l := range p.tls {
		out = append(out, "tls:"+l.Addr().String())
	}
	for _, l := range p.ws {
		out = append(out, "ws:"+l.Addr().String())
	}
	return out
}

// Addr returns the address of the first listener of a transport ("udp",
// "tcp", "tls", "ws"), or nil.
func (p *Platform) Addr(transport string) net.Addr {
	switch strings.ToLower(transport) {
	case "udp":
		if len(p.udp) > 0 {
			return p.udp[0].LocalAddr()
		}
	case "tcp":
		if len(p.tcp) > 0 {
			return p.tcp[0].Addr()
		}
	case "tls":
		if len(p.tls) > 0 {
			return p.tls[0].Addr()
		}
	case "ws":
		if len(p.ws) > 0 {
			return p.ws[0].Addr()
		}
	}
	return nil
}

func (p *Platform) closedErr() error {
	if p.closed.Load() {
		return ErrClosed
	}
	return nil
}

// URIHost returns the host part for URIs that others dial: the
// advertised host, with the UDP listener's port when it is not 5060.
func (p *Platform) URIHost() string {
	if a := p.Addr("udp"); a != nil {
		if _, port, err := net.SplitHostPort(a.String()); err == nil && port != "5060" {
			return p.host + ":" + port
		}
	}
	return p.host
}

// Host returns the host advertised in Via and Contact.
func (p *Platform) Host() string { return p.host }

// Logger returns the platform's logger.
func (p *Platform) Logger() *slog.Logger { return p.log }

// Ports returns the RTP port range.
func (p *Platform) Ports() *media.PortRange { return p.ports }

// Poller is the event loops that read the calls' RTP sockets
// (Config.RTPReaders), or nil when each socket has its own goroutine.
// Sessions given it (media.SessionConfig.Poller) must be closed before
// the platform.
func (p *Platform) Poller() *media.Poller {
	if p.cfg.RTPReaders == 0 || p.checkOnly {
		return nil
	}
	p.pollerOnce.Do(func() {
		if p.closed.Load() {
			return
		}
		pl, err := media.NewPoller(max(p.cfg.RTPReaders, 0))
		if err != nil {
			p.log.Warn("rtp readers not started: each socket gets a goroutine", "error", err)
			return
		}
		p.poller = pl
	})
	return p.poller
}

// MediaAdvertise returns the address SDP advertises for RTP: Config's
// MediaAdvertise, else the address RTP binds (invalid when that is
// unspecified, and the socket's own address is used).
func (p *Platform) MediaAdvertise() netip.Addr {
	if p.mediaAdvertise.IsValid() {
		return p.mediaAdvertise
	}
	if ip := p.ports.IP; ip.IsValid() && !ip.IsUnspecified() {
		return ip
	}
	return netip.Addr{}
}

// Config returns the effective configuration.
func (p *Platform) Config() Config { return p.cfg }

// Draining reports whether Shutdown has begun.
func (p *Platform) Draining() bool { return p.draining.Load() || p.closed.Load() }

// Contact returns a Contact header for user on the given transport ("udp"
// when empty).
func (p *Platform) Contact(user, transport string) sip.ContactHeader {
	transport = strings.ToLower(transport)
	if transport == "" {
		transport = "udp"
	}
	port := 0
	if a := p.Addr(transport); a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			port = int(ap.Port())
		}
	}
	if port == 0 {
		// Fall back to any listener.
		for _, t := range []string{"udp", "tcp", "tls", "ws"} {
			if a := p.Addr(t); a != nil {
				ap, _ := netip.ParseAddrPort(a.String())
				port, transport = int(ap.Port()), t
				break
			}
		}
	}
	u := sip.Uri{Scheme: "sip", User: user, Host: p.host, Port: port}
	if transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", transport)
	}
	return sip.ContactHeader{Address: u}
}

// IsLocalURI reports whether u names this platform: its host is local
// (IsLocalHost) and its port, when it has one, is a listener's.
func (p *Platform) IsLocalURI(u sip.Uri) bool {
	if !p.IsLocalHost(u.Host) {
		return false
	}
	if u.Port == 0 {
		return true
	}
	for _, l := range p.listenerList() {
		_, addr, _ := strings.Cut(l, ":")
		if ap, err := netip.ParseAddrPort(addr); err == nil && int(ap.Port()) == u.Port {
			return true
		}
	}
	return false
}

// IsLocalHost reports whether host (a Request-URI host) names this
// platform: its advertised host, a configured domain or a listener address.
func (p *Platform) IsLocalHost(host string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if p.domains[host] {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	for _, l := range p.listenerList() {
		_, addr, _ := strings.Cut(l, ":")
		ap, err := netip.ParseAddrPort(addr)
		if err == nil && (ap.Addr() == a || ap.Addr().IsUnspecified()) {
			return true
		}
	}
	return false
}

// IsTrusted reports whether req came from a trusted peer: its source
// address is in Config.TrustedPeers, or it arrived over a TLS connection
// whose client certificate names one of Config.TrustedCertNames. Headers are
// never consulted.
func (p *Platform) IsTrusted(req *sip.Request) bool {
	if ap, err := netip.ParseAddrPort(req.Source()); err == nil && p.trustedAddr(ap.Addr()) {
		return true
	}
	if p.certs != nil && strings.EqualFold(req.Transport(), "TLS") {
		for _, n := range p.certs.names(req.Source()) {
			for _, want := range p.cfg.TrustedCertNames {
				if strings.EqualFold(n, want) {
					return true
				}
			}
		}
	}
	return false
}

// trustedAddr reports whether a is in Config.TrustedPeers.
func (p *Platform) trustedAddr(a netip.Addr) bool {
	for _, pre := range p.trusted {
		if pre.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// Route registers h for out-of-dialog requests whose Request-URI names
// owner (a SIP URI). It returns a function that removes the route.
func (p *Platform) Route(owner sip.Uri, h Handler) (remove func(), err error) {
	r := route{user: owner.User, host: strings.ToLower(owner.Host), h: h}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range p.routes {
		if o.user == r.user && o.host == r.host {
			return nil, fmt.Errorf("platform: %s is already routed", owner.String())
		}
	}
	p.routes = append(p.routes, r)
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, o := range p.routes {
			if o.user == r.user && o.host == r.host {
				p.routes = append(p.routes[:i], p.routes[i+1:]...)
				return
			}
		}
	}, nil
}

// RoutePrefix registers h for out-of-dialog requests whose Request-URI
// user part starts with prefix (and matches no exact route), such as
// "conf-" for ad hoc conferences. It returns a function that removes it.
func (p *Platform) RoutePrefix(prefix string, h Handler) (remove func(), err error) {
	if prefix == "" {
		return nil, errors.New("platform: empty route prefix")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range p.prefixes {
		if o.user == prefix {
			return nil, fmt.Errorf("platform: prefix %q is already routed", prefix)
		}
	}
	p.prefixes = append(p.prefixes, route{user: prefix, h: h})
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, o := range p.prefixes {
			if o.user == prefix {
				p.prefixes = append(p.prefixes[:i], p.prefixes[i+1:]...)
				return
			}
		}
	}, nil
}

// SetDefault sets the default routing handler, which receives requests
// that match no route (nil removes it).
func (p *Platform) SetDefault(h Handler) {
	p.mu.Lock()
	p.fallback = h
	p.mu.Unlock()
}

// lookup finds the handler for a Request-URI: an exact user and host
// match; else the only route with that user when the host is local; else
// the default handler.
func (p *Platform) lookup(u sip.Uri) Handler {
	host := strings.ToLower(u.Host)
	p.mu.Lock()
	defer p.mu.Unlock()
	var byUser []route
	for _, r := range p.routes {
		if r.user == u.User {
			if r.host == host {
				return r.h
			}
			byUser = append(byUser, r)
		}
	}
	if len(byUser) > 0 && (p.IsLocalHost(host) || len(byUser) == 1) {
		return byUser[0].h
	}
	for _, r := range p.prefixes {
		if strings.HasPrefix(u.User, r.user) {
			return r.h
		}
	}
	return p.fallback
}

// untrustedHeaders are the headers removed from every request of an
// untrusted source: claims only a trusted peer may make.
var untrustedHeaders = []string{"P-Asserted-Identity"}

// carriesAny reports whether req has a header called any of names, in any
// case.
func carriesAny(req *sip.Request, names []string) bool {
	for _, n := range names {
		if len(req.GetHeaders(n)) > 0 {
			return true
		}
	}
	return false
}

// removeAll removes every header called name, whatever the case of its
// spelling and however often it is repeated. sipgo's RemoveHeader removes
// only the first header whose name matches exactly.
func removeAll(req *sip.Request, name string) {
	for _, h := range req.GetHeaders(name) {
		req.RemoveHeader(h.Name())
	}
}

// optionsResponse answers an out-of-dialog OPTIONS: 200 with what we
// support, or 503 with Retry-After while draining, so that a dispatcher
// probing with OPTIONS (Kamailio's dispatcher module) stops sending new
// calls here (RFC 3261 section 11.2: the response is the one an INVITE
// would get).
func (p *Platform) optionsResponse(req *sip.Request) *sip.Response {
	if p.Draining() {
		res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(p.cfg.RetryAfter/time.Second))))
		return res
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	p.optionsHeaders(res)
	return res
}

// optionsHeaders adds what an out-of-dialog OPTIONS answer advertises.
func (p *Platform) optionsHeaders(res *sip.Response) {
	res.AppendHeader(sip.NewHeader("Allow", Allowed))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Supported", Supported))
	res.AppendHeader(sip.NewHeader("Server", p.cfg.UserAgent))
}

// ActiveDialogs returns the number of registered dialogs.
func (p *Platform) ActiveDialogs() int {
	n, _ := p.core.Dialogs()
	return n
}

// dispatch is the single entry point of every request sipgo receives.
func (p *Platform) dispatch(req *sip.Request, tx sip.ServerTransaction) {
	p.ServeRequest(req, tx)
}

// ServeRequest routes one parsed request with its server transaction, as
// the platform does for every request its transports receive. It is
// exported for custom transports and for tests that drive the request path
// without sockets (fuzzing).
func (p *Platform) ServeRequest(req *sip.Request, tx sip.ServerTransaction) {
	if p.obs != nil {
		p.obs.ObserveRequest(string(req.Method))
		if tx != nil {
			tx = observedTx{ServerTransaction: tx, method: string(req.Method), obs: p.obs}
		}
	}
	r := &Request{Request: req, Tx: tx, platform: p}
	if code, reason := validate(req); code != 0 {
		respondInvalid(r, code, reason)
		if reason == reasonDuplicateLength {
			p.closeStream(req)
		}
		return
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 && !req.IsAck() {
		_ = r.Respond(483, "Too Many Hops", nil)
		return
	}
	if code, reason := p.checkBody(req); code != 0 {
		if !req.IsAck() {
			_ = r.Respond(code, reason, nil)
		}
		return
	}
	if p.merges.merged(req, time.Now()) {
		_ = r.Respond(482, "Loop Detected", nil)
		return
	}
	r.Trusted = p.IsTrusted(req)
	if !r.Trusted && carriesAny(req, untrustedHeaders) {
		// RFC 3325 section 5: an asserted identity from outside the trust
		// domain means nothing; drop it so no handler relies on it. The
		// handlers get a stripped copy: sipgo's INVITE transaction reads
		// the request it holds from its own timer (the 100 Trying), so
		// that one is never written to.
		req = req.Clone()
		for _, name := range untrustedHeaders {
			removeAll(req, name)
		}
		r.Request = req
	}
	if tag, ok := req.To().Params.Get("tag"); ok && tag != "" {
		if h, ok := p.core.Dialog(req.CallID().Value(), tag); ok {
			h.ServeDialog(r.Request, r.Tx, r.Trusted)
			return
		}
		if !req.IsAck() {
			_ = r.Respond(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		}
		return
	}
	// Out of dialog: the abuse limits first (over UDP, screen applied
	// them already), then who sent it. A request in a dialog needs
	// neither: its dialog was admitted, and identified, by its INVITE.
	if !strings.EqualFold(req.Transport(), "UDP") {
		if ap, err := netip.ParseAddrPort(req.Source()); err == nil {
			if res, drop := p.admitOutOfDialog(req, ap.Addr().Unmap(), r.Trusted); drop {
				return
			} else if res != nil {
				_ = tx.Respond(res)
				return
			}
		}
	}
	r.Identity, r.authErr = p.identify(req, r.Trusted)
	if p.cfg.NoAmplification && tx != nil && !r.Trusted && !r.Identity.Known() && strings.EqualFold(req.Transport(), "UDP") {
		// An unverified UDP source may be a spoofed one: answer it with
		// nothing larger than what it sent (no amplification).
		r.Tx = smallTx{ServerTransaction: r.Tx, p: p, limit: len(req.String())}
	}
	if p.cfg.UniformRefusals && tx != nil && !r.Trusted && !r.Identity.Known() && r.authErr == nil {
		r.Tx = uniformTx{ServerTransaction: r.Tx, r: r}
	}
	switch req.Method {
	case sip.ACK:
		return // ACK for a response we no longer track.
	case sip.CANCEL, sip.BYE:
		// CANCELs that match an INVITE transaction are handled by sipgo.
		_ = r.Respond(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	case sip.OPTIONS:
		// Over UDP, screen answers these before sipgo sees them.
		_ = tx.Respond(p.optionsResponse(req))
		return
	case sip.INVITE:
		if p.Draining() {
			_ = r.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil,
				sip.NewHeader("Retry-After", strconv.Itoa(int(p.cfg.RetryAfter/time.Second))))
			return
		}
	}
	h := p.lookup(req.Recipient)
	if h == nil {
		_ = r.Respond(sip.StatusNotFound, "Not Found", nil)
		return
	}
	h.ServeSIP(r)
}

// Shutdown drains the platform: new INVITEs get 503 with Retry-After while
// established dialogs run on. When every dialog has ended, or ctx is done,
// remaining dialogs are terminated (BYE or CANCEL) and the platform closes
// as Close does, closing the registered apps. It returns ctx.Err() when
// the deadline cut calls short, else the apps' Close errors.
func (p *Platform) Shutdown(ctx context.Context) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.draining.Store(true)
	p.log.Info("platform draining", "dialogs", p.ActiveDialogs())
	var err error
	// A call long past its 200 OK without an ACK ends by itself at Timer
	// H; the drain does not wait for it. Whether a call is such a call
	// changes with time, so the count is taken again every recount.
	recount := time.NewTicker(4 * p.cfg.T1)
	defer recount.Stop()
	for {
		n, ch := p.core.Confirmed()
		if n == 0 {
			break
		}
		select {
		case <-ch:
			continue
		case <-recount.C:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		}
		break
	}
	if err != nil {
		// Give terminations a short grace period of their own: ctx is done.
		tctx, cancel := context.WithTimeout(context.Background(), 32*p.cfg.T1)
		var wg sync.WaitGroup
		for _, h := range p.core.Snapshot() {
			wg.Go(func() { _ = h.Terminate(tctx) })
		}
		wg.Wait()
		cancel()
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// Register hands an app to the platform, which closes it on Shutdown or
// Close: apps are closed last registered first, once the platform's
// dialogs have ended and before its transports close. Every bundled app's
// New registers the app it returns, so closing the platform closes them
// all; a bot may register its own. Registering with a closed platform
// closes c at once and returns ErrClosed.
func (p *Platform) Register(c io.Closer) error {
	p.appsMu.Lock()
	if p.closed.Load() {
		p.appsMu.Unlock()
		_ = c.Close()
		return ErrClosed
	}
	p.apps = append(p.apps, c)
	p.appsMu.Unlock()
	return nil
}

// closeApps closes the registered apps, last first, and joins their
// errors.
func (p *Platform) closeApps() error {
	p.appsMu.Lock()
	apps := p.apps
	p.apps = nil
	p.appsMu.Unlock()
	var errs []error
	for i := len(apps) - 1; i >= 0; i-- {
		if err := apps[i].Close(); err != nil {
			p.log.Warn("closing an app", "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops the platform at once: dialogs are aborted without
// signalling, the registered apps are closed (last registered first), then
// the listeners close. It is idempotent, waits for the serving goroutines
// and returns the errors of the apps' Close.
func (p *Platform) Close() error {
	p.closeOnce.Do(func() {
		p.appsMu.Lock()
		p.closed.Store(true)
		p.appsMu.Unlock()
		for _, h := range p.core.Snapshot() {
			h.Abort()
		}
		p.closeErr = p.closeApps()
		p.closeListeners()
		if p.ua != nil {
			_ = p.cli.Close()
			_ = p.srv.Close()
			_ = p.ua.Close()
		}
		p.wg.Wait()
		p.sweepStrayConnections()
		p.pollerOnce.Do(func() {}) // no poller starts from now on
		if p.poller != nil {
			p.poller.Close()
		}
		p.releaseSettings()
		p.log.Info("platform closed")
	})
	return p.closeErr
}

// setUDPBuffers asks the kernel for the configured SIP socket buffers
// (Config.SocketBuffer) and logs what it granted.
func (p *Platform) setUDPBuffers(c net.PacketConn) {
	u, ok := c.(*net.UDPConn)
	if !ok || p.cfg.SocketBuffer < 0 {
		return
	}
	_ = u.SetReadBuffer(p.cfg.SocketBuffer)
	_ = u.SetWriteBuffer(p.cfg.SocketBuffer)
	if rcv, snd, err := socketBuffers(u); err == nil {
		p.log.Info("sip udp socket buffers", "addr", u.LocalAddr().String(), "requested", p.cfg.SocketBuffer,
			"receive", rcv, "send", snd)
	}
}

// strayGrace is how long Close lets sipgo finish requests it read before
// the listeners closed.
const strayGrace = 20 * time.Millisecond

// sweepStrayConnections closes sockets sipgo opened after the listeners
// closed. sipgo handles each request on a goroutine of its own; one read
// just before Close finds its source gone from the connection pool (the
// listener's reader removes it on exit) and binds a new socket, with a
// reader, to send its response. sipgo v1.7.2 offers no way to wait for
// those goroutines, so Close gives them strayGrace and clears the pool
// again, which closes such sockets and ends their readers.
func (p *Platform) sweepStrayConnections() {
	if p.ua == nil {
		return
	}
	time.Sleep(strayGrace)
	_ = p.ua.TransportLayer().Close()
}

func (p *Platform) closeListeners() {
	for _, c := range p.udp {
		_ = c.Close()
	}
	for _, l := range p.tcp {
		_ = l.Close()
	}
	for _, l := range p.tls {
		_ = l.Close()
	}
	for _, l := range p.ws {
		_ = l.Close()
	}
}

// IsListenerURI reports whether u addresses one of this platform's own
// listeners: its host names the platform (IsLocalHost) and its port, 5060
// (5061 for sips or transport=tls) when absent, is the port of a listener
// of the URI's transport (UDP when none is given).
func (p *Platform) IsListenerURI(u sip.Uri) bool {
	if !p.IsLocalHost(u.Host) {
		return false
	}
	transport := "udp"
	if u.UriParams != nil {
		if t, ok := u.UriParams.Get("transport"); ok {
			transport = strings.ToLower(t)
		}
	}
	if u.IsEncrypted() {
		transport = "tls"
	}
	port := u.Port
	if port == 0 {
		port = 5060
		if transport == "tls" {
			port = 5061
		}
	}
	for _, a := range p.listenerList() {
		t, addr, _ := strings.Cut(a, ":")
		if t != transport {
			continue
		}
		if ap, err := netip.ParseAddrPort(addr); err == nil && int(ap.Port()) == port {
			return true
		}
	}
	return false
}
