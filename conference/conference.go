package conference

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/callsession"
	"github.com/switchboard-sip/switchboard/internal/serial"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/mix"
)

// Errors of conference control.
var (
	ErrNoParticipant = errors.New("conference: no such participant")
	ErrNotLeader     = errors.New("conference: only leaders may do this")
	ErrEnded         = errors.New("conference: ended")
)

// Conference is one conference: roster, control and mixer. Methods are
// safe for concurrent use; OnRosterChanged handlers run one at a time on a
// goroutine of the conference, never under its lock.
type Conference struct {
	s     *Service
	id    string
	uri   string
	opts  Options
	mixer *mix.Mixer

	mu       sync.Mutex
	parts    map[string]*participant
	byURI    map[string]*participant
	nextID   int
	locked   bool
	ended    bool
	hadUser  bool // an ordinary participant has joined at some time
	grace    *time.Timer
	subs     map[*endpoint.Subscription]*subState
	onRoster serial.Handlers[RosterChange]
	events   serial.Queue // roster events and NOTIFYs, in order
	done     chan struct{}
	joinedCh chan struct{} // closed and replaced whenever a participant joins
}

type participant struct {
	info ParticipantInfo
	call *endpoint.Call
	// in is the participant's received audio, pulled by the mixer's clock
	// through a jitter buffer; the conference is its flow's consumer. The
	// flow is the call's own, or a local b2b caller's after a splice.
	// Guarded by Conference.mu, with gone (out of the mixer).
	in    *media.FrameReader
	mixed bool        // in the mixer (false again once gone)
	gone  bool        // out of the mixer for good
	flow  *media.Flow // spliced in before mixing: mix uses it
}

// unmix takes p out of the mixer and gives its flow's received media back.
func (c *Conference) unmix(p *participant) {
	c.mixer.Remove(p.info.ID)
	c.mu.Lock()
	in := p.in
	p.in, p.mixed, p.gone = nil, false, true
	c.mu.Unlock()
	if in != nil {
		in.Release()
	}
}

// splicer lets a back-to-back call of this platform hand a participant's
// media to the conference directly: when an application bridges a caller
// into the conference (b2b leg 2 joined here), the caller's own flow feeds
// the mixer and hears the mix, and the loopback RTP between the b2b's leg
// 2 and this participant's call stops. The roster, trust and SIP dialogs
// stay as they are.
type splicer struct {
	c *Conference
	p *participant
}

func (s splicer) Splice(f *media.Flow) error {
	c, p := s.c, s.p
	c.mu.Lock()
	if !p.mixed && !p.gone {
		// Not in the mixer yet (the caller's b2b can be quicker than
		// admit): mix will take f.
		p.flow = f
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	in, err := f.Pull("conference "+c.id, c.s.cfg.Jitter)
	if err != nil {
		return err
	}
	if err := c.mixer.Rebind(p.info.ID, in, f); err != nil {
		in.Release()
		return err
	}
	c.mu.Lock()
	old, gone := p.in, p.gone
	if !gone {
		p.in, p.flow = in, f
	}
	c.mu.Unlock()
	if gone {
		in.Release() // left meanwhile
	}
	if old != nil {
		old.Release()
	}
	return nil
}

type subState struct {
	version int
}

func newConference(s *Service, id string, opts Options) *Conference {
	if opts.MaxParticipants == 0 {
		opts.MaxParticipants = s.cfg.MaxParticipants
	}
	c := &Conference{
		s: s, id: id, opts: opts, locked: opts.Locked,
		uri:      conferenceURI(s, id),
		parts:    map[string]*participant{},
		byURI:    map[string]*participant{},
		subs:     map[*endpoint.Subscription]*subState{},
		done:     make(chan struct{}),
		joinedCh: make(chan struct{}),
	}
	c.mixer = mix.New(mix.Config{Logger: s.log.With("conference", id)})
	_ = c.mixer.Start()
	return c
}

// ID returns the conference id.
func (c *Conference) ID() string { return c.id }

// URI returns the conference URI, which phones dial to join. It carries
// the platform's UDP port when that is not 5060.
func (c *Conference) URI() string { return c.uri }

func conferenceURI(s *Service, id string) string {
	return "sip:" + s.cfg.Prefix + id + "@" + s.p.URIHost()
}

// Mixer returns the conference's mixer (for taps such as recorders).
func (c *Conference) Mixer() *mix.Mixer { return c.mixer }

// Done is closed when the conference has ended.
func (c *Conference) Done() <-chan struct{} { return c.done }

// OnRosterChanged adds a handler of roster changes (joins and leaves of
// every participant, trusted ones included and flagged) and returns the
// function that removes it. Every handler added runs, in the order added,
// on the conference's event goroutine, one change at a time, never under a
// lock; it must not block. Remove is idempotent and safe inside a handler.
func (c *Conference) OnRosterChanged(f func(RosterChange)) (remove func()) {
	return c.onRoster.Add(f)
}

// Roster returns every participant, trusted ones flagged (the application
// view).
func (c *Conference) Roster() []ParticipantInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rosterLocked(false)
}

// PublicRoster returns the participants ordinary participants and SIP
// subscribers see: hidden (trusted) participants are left out.
func (c *Conference) PublicRoster() []ParticipantInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rosterLocked(true)
}

func (c *Conference) rosterLocked(public bool) []ParticipantInfo {
	out := make([]ParticipantInfo, 0, len(c.parts))
	for i := 1; i <= c.nextID; i++ { // join order
		if p, ok := c.parts["p"+strconv.Itoa(i)]; ok && !(public && p.info.Hidden) {
			out = append(out, p.info)
		}
	}
	return out
}

// Participant returns a participant by id.
func (c *Conference) Participant(id string) (ParticipantInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.parts[id]
	if !ok {
		return ParticipantInfo{}, false
	}
	return p.info, true
}

// ParticipantByCallID finds the participant whose call has this Call-ID:
// an application finds its own trusted participant by its call's CallID.
func (c *Conference) ParticipantByCallID(callID string) (ParticipantInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byCallIDLocked(callID)
}

func (c *Conference) byCallIDLocked(callID string) (ParticipantInfo, bool) {
	for _, p := range c.parts {
		if p.call.CallID() == callID {
			return p.info, true
		}
	}
	return ParticipantInfo{}, false
}

// refusal is a join refusal: a SIP response code and reason.
type refusal struct {
	code   int
	reason string
}

func (r *refusal) Error() string { return fmt.Sprintf("%d %s", r.code, r.reason) }

// admit runs on the joining call's handler goroutine for the whole time
// the participant is in the conference.
func (c *Conference) admit(ctx context.Context, call *endpoint.Call) {
	req := call.Request()
	wantTrusted := false
	for _, h := range req.GetHeaders(JoinHeader) {
		for opt := range strings.SplitSeq(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(opt), "trusted") {
				wantTrusted = true // a token, not a substring: "untrusted" is not a trusted join
			}
		}
	}
	uri := call.RemoteURI()
	user := req.From().Address.User
	generated := strings.HasPrefix(user, endpoint.GeneratedUserPrefix)
	trusted := false
	if wantTrusted || generated {
		trusted = call.FromLocalApplication() || call.FromTrustedPeer()
		if !trusted {
			c.s.log.Info("trusted join refused", "conference", c.id, "from", uri, "source", req.Source())
			_ = call.DeclineWithReason(ctx, sip.StatusForbidden, "Trusted Join Not Allowed")
			return
		}
	}
	p, ref := c.reserve(uri, call, trusted)
	if ref != nil {
		_ = call.DeclineWithReason(ctx, ref.code, ref.reason)
		return
	}
	leaving, stopWatching := watchLeaving(call)
	defer stopWatching()
	if callsession.LocalPeer(call) != nil {
		// The caller is a call of this platform: a b2b call may splice its
		// other leg's media in (see splicer).
		callsession.OfferSplice(call, splicer{c, p})
		defer callsession.OfferSplice(call, nil)
	}
	if err := call.Accept(ctx); err != nil {
		c.release(p, false)
		return
	}
	if err := c.mix(p); err != nil {
		c.release(p, false)
		return
	}
	c.joined(p)
	c.stay(ctx, p, leaving)
}

// stay keeps a joined participant in the conference until its call ends
// (ctx is the call's), starts terminating (leaving) or the conference
// ends, then takes it out.
func (c *Conference) stay(ctx context.Context, p *participant, leaving <-chan struct{}) {
	select {
	case <-ctx.Done(): // the call ended: BYE, eject, timeout
	case <-leaving:
	case <-c.done:
	}
	c.unmix(p)
	c.release(p, true)
}

// watchLeaving returns a channel closed when call starts terminating (BYE
// sent or received): it has left the conference, even while its BYE
// transaction runs on. stop removes the watcher.
func watchLeaving(call *endpoint.Call) (leaving <-chan struct{}, stop func()) {
	ch := make(chan struct{})
	var once sync.Once
	stop = call.OnStateChanged(func(sc endpoint.StateChange) {
		if sc.State >= endpoint.StateTerminating {
			once.Do(func() { close(ch) })
		}
	})
	return ch, stop
}

// AddOptions are the options of Conference.Add.
type AddOptions struct {
	// URI is the identity the roster shows for the call (the URI-once rule
	// applies to it); default the call's remote URI, as a back-to-back
	// call impersonating its caller would present it.
	URI string
	// DisplayName is shown with URI; default the call's remote display
	// name.
	DisplayName string
	// GeneratedIdentity gives the participant a fresh hidden identity
	// (sip:gen-<uuid>@host) instead, so one caller or bot can be in the
	// conference more than once.
	GeneratedIdentity bool
	// Trusted adds the participant as a trusted one: a hidden leader.
	Trusted bool
}

// Add puts call, a call of this platform, into the conference directly:
// no SIP dialog and no RTP between the call and the conference, just its
// flow in the mixer (UCMA's "join a call to a conference" without a
// second leg). An incoming call that is not answered yet is answered. The
// roster, trust and RFC 4575 notifications are as for a participant that
// dialled in with the identity in opts; the application decides trust,
// since only code running on the platform can call Add. The participant
// leaves when the call ends, is ejected (the call is hung up) or the
// conference ends. Add returns once the participant is in the roster; ctx
// bounds only that.
func (c *Conference) Add(ctx context.Context, call *endpoint.Call, opts AddOptions) (ParticipantInfo, error) {
	if st := call.State(); st >= endpoint.StateTerminating {
		return ParticipantInfo{}, endpoint.ErrTerminated
	}
	uri, name := opts.URI, opts.DisplayName
	if opts.GeneratedIdentity {
		uri, name = "sip:"+endpoint.GeneratedUserPrefix+uuid.NewString()+"@"+c.s.p.Host(), ""
	}
	if uri == "" {
		uri, name = call.RemoteURI(), call.RemoteDisplayName()
	}
	trusted := opts.Trusted || opts.GeneratedIdentity
	p, ref := c.reserve(uri, call, trusted)
	if ref != nil {
		return ParticipantInfo{}, fmt.Errorf("conference: add: %w", ref)
	}
	p.info.DisplayName = name
	leaving, stopWatching := watchLeaving(call)
	if call.State() != endpoint.StateEstablished {
		if err := call.Accept(ctx); err != nil {
			stopWatching()
			c.release(p, false)
			return ParticipantInfo{}, fmt.Errorf("conference: add: %w", err)
		}
	}
	if err := c.mix(p); err != nil {
		stopWatching()
		c.release(p, false)
		return ParticipantInfo{}, fmt.Errorf("conference: add: %w", err)
	}
	c.joined(p)
	go func() {
		defer stopWatching()
		c.stay(call.Context(), p, leaving)
	}()
	return p.info, nil
}

// reserve claims the roster slot for uri (the URI-once rule) or says why
// not.
func (c *Conference) reserve(uri string, call *endpoint.Call, trusted bool) (*participant, *refusal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ended:
		return nil, &refusal{sip.StatusNotFound, "Conference Ended"}
	case !trusted && c.locked:
		return nil, &refusal{sip.StatusForbidden, "Conference Locked"}
	case !trusted && c.ordinaryLocked() >= c.opts.MaxParticipants:
		return nil, &refusal{sip.StatusBusyHere, "Conference Full"}
	}
	key := rosterKey(uri)
	if _, dup := c.byURI[key]; dup {
		return nil, &refusal{sip.StatusBusyHere, "Already In Conference"}
	}
	c.nextID++
	p := &participant{call: call, info: ParticipantInfo{
		ID: "p" + strconv.Itoa(c.nextID), URI: uri, DisplayName: call.RemoteDisplayName(),
		Trusted: trusted, Hidden: trusted, JoinedAt: time.Now(),
	}}
	if trusted {
		p.info.Role = Leader
	}
	c.byURI[key] = p
	return p, nil
}

// rosterKey is the identity the URI-once rule compares: scheme, user and
// host, case-insensitive in the host, without port or parameters (a phone
// that re-registers from another port is still the same participant).
func rosterKey(uri string) string {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return strings.ToLower(uri)
	}
	return u.Scheme + ":" + u.User + "@" + strings.ToLower(u.Host)
}

func (c *Conference) ordinaryLocked() int {
	n := 0
	for _, p := range c.byURI {
		if !p.info.Trusted {
			n++
		}
	}
	return n
}

// mix puts a reserved participant's call into the mixer: its session's
// jitter buffer feeds the mix, and the mix minus its own voice goes back.
// On failure the session is left as it was.
func (c *Conference) mix(p *participant) error {
	c.mu.Lock()
	f := p.flow
	c.mu.Unlock()
	if f == nil {
		f = p.call.Flow()
	}
	in, err := f.Pull("conference "+c.id, c.s.cfg.Jitter)
	if err != nil {
		return err
	}
	if err := c.mixer.Add(p.info.ID, in, f, mix.LegOptions{}); err != nil {
		in.Release()
		return err
	}
	c.mu.Lock()
	p.in, p.mixed = in, true
	c.mu.Unlock()
	return nil
}

// joined adds a reserved participant to the roster and reports it.
func (c *Conference) joined(p *participant) {
	c.mu.Lock()
	c.parts[p.info.ID] = p
	close(c.joinedCh)
	c.joinedCh = make(chan struct{})
	if !p.info.Trusted {
		c.hadUser = true
		if c.grace != nil {
			c.grace.Stop()
			c.grace = nil
		}
	}
	c.mu.Unlock()
	c.s.log.Info("participant joined", "conference", c.id, "participant", p.info.ID, "uri", p.info.URI, "trusted", p.info.Trusted)
	c.changed([]ParticipantInfo{p.info}, nil)
}

// release frees a roster slot; wasIn says the participant had joined.
func (c *Conference) release(p *participant, wasIn bool) {
	c.mu.Lock()
	if k := rosterKey(p.info.URI); c.byURI[k] == p {
		delete(c.byURI, k)
	}
	delete(c.parts, p.info.ID)
	endNow, startGrace := false, false
	if wasIn && !p.info.Trusted && !c.ended && !c.opts.Persistent && c.ordinaryLocked() == 0 {
		if len(c.parts) == 0 {
			endNow = true
		} else if c.grace == nil {
			startGrace = true
		}
	}
	if startGrace {
		c.grace = time.AfterFunc(c.s.cfg.TrustedOnlyGrace, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.End(ctx)
		})
	}
	c.mu.Unlock()
	if wasIn {
		c.s.log.Info("participant left", "conference", c.id, "participant", p.info.ID)
		c.changed(nil, []ParticipantInfo{p.info})
	}
	if endNow {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.End(ctx)
	}
}

// changed reports a roster change to the application and to SIP
// subscribers (hidden participants excluded from the latter).
func (c *Conference) changed(joined, left []ParticipantInfo) {
	c.mu.Lock()
	ended := c.ended
	var pubJ, pubL []ParticipantInfo
	for _, p := range joined {
		if !p.Hidden {
			pubJ = append(pubJ, p)
		}
	}
	for _, p := range left {
		if !p.Hidden {
			pubL = append(pubL, p)
		}
	}
	c.mu.Unlock()
	if ended {
		return
	}
	c.onRoster.Post(&c.events, RosterChange{Joined: joined, Left: left})
	if len(pubJ)+len(pubL) > 0 {
		c.post(func() { c.notifyAll(pubJ, pubL) })
	}
}

func (c *Conference) post(f func()) { c.events.Post(f) }

// subscribe adds a SIP subscriber and sends it the full roster.
func (c *Conference) subscribe(sub *endpoint.Subscription, fetchOnly bool) {
	c.mu.Lock()
	st := &subState{}
	if !fetchOnly && !c.ended {
		c.subs[sub] = st
	}
	c.mu.Unlock()
	sub.OnEnd(func() {
		c.mu.Lock()
		delete(c.subs, sub)
		c.mu.Unlock()
	})
	c.post(func() { c.notifyOne(sub, st, true, nil, nil) })
}

func (c *Conference) notifyAll(joined, left []ParticipantInfo) {
	c.mu.Lock()
	subs := make(map[*endpoint.Subscription]*subState, len(c.subs))
	for k, v := range c.subs {
		subs[k] = v
	}
	c.mu.Unlock()
	for sub, st := range subs {
		c.notifyOne(sub, st, false, joined, left)
	}
}

// notifyOne sends a full (initial) or partial conference-info NOTIFY; the
// version increases with every NOTIFY to a subscriber (RFC 4575 section
// 5.1).
func (c *Conference) notifyOne(sub *endpoint.Subscription, st *subState, full bool, joined, left []ParticipantInfo) {
	c.mu.Lock()
	st.version++
	users := joined
	if full {
		users = c.rosterLocked(true)
	}
	body, err := conferenceInfo(c.uri, st.version, full, c.locked, users, left, len(c.rosterLocked(true)))
	c.mu.Unlock()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.Notify(ctx, "application/conference-info+xml", body); err != nil {
		c.s.log.Debug("conference NOTIFY failed", "conference", c.id, "error", err)
	}
}

// Join joins a call from conv (an endpoint of this platform) to this
// conference, as the package-level Join does, and returns once it is in
// the roster: ParticipantByCallID(call.CallID()) then finds it.
func (c *Conference) Join(ctx context.Context, conv *endpoint.Conversation, opts JoinOptions) (*endpoint.Call, error) {
	call, _, err := c.join(ctx, conv, opts)
	return call, err
}

func (c *Conference) join(ctx context.Context, conv *endpoint.Conversation, opts JoinOptions) (*endpoint.Call, ParticipantInfo, error) {
	call, err := Join(ctx, conv, c.uri, opts)
	if err != nil {
		return call, ParticipantInfo{}, err
	}
	// The conference answers before admit adds the call to the roster:
	// wait for that join.
	for {
		c.mu.Lock()
		p, ok := c.byCallIDLocked(call.CallID())
		joined := c.joinedCh
		c.mu.Unlock()
		if ok {
			return call, p, nil
		}
		select {
		case <-ctx.Done():
			return call, ParticipantInfo{}, ctx.Err()
		case <-call.Done():
			return call, ParticipantInfo{}, endpoint.ErrTerminated
		case <-c.done:
			return call, ParticipantInfo{}, ErrEnded
		case <-joined:
		}
	}
}

// Lock refuses new ordinary participants (trusted ones may still join).
func (c *Conference) Lock() { c.setLocked(true) }

// Unlock admits ordinary participants again.
func (c *Conference) Unlock() { c.setLocked(false) }

func (c *Conference) setLocked(v bool) {
	c.mu.Lock()
	c.locked = v
	c.mu.Unlock()
}

// Locked reports whether the conference is locked.
func (c *Conference) Locked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.locked
}

func (c *Conference) part(id string) (*participant, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.parts[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoParticipant, id)
	}
	return p, nil
}

// Mute stops (or restores) a participant's audio reaching the others.
func (c *Conference) Mute(id string, muted bool) error {
	p, err := c.part(id)
	if err != nil {
		return err
	}
	c.mixer.SetMuted(id, muted)
	c.mu.Lock()
	p.info.Muted = muted
	info := p.info
	c.mu.Unlock()
	if !info.Hidden {
		c.post(func() { c.notifyAll([]ParticipantInfo{info}, nil) })
	}
	return nil
}

// MuteAll mutes every participant but the requester, who must be a
// leader. Trusted (hidden) participants are not muted.
func (c *Conference) MuteAll(requesterID string) error {
	p, err := c.part(requesterID)
	if err != nil {
		return err
	}
	if p.info.Role != Leader {
		return ErrNotLeader
	}
	for _, info := range c.Roster() {
		if info.ID != requesterID && !info.Trusted {
			_ = c.Mute(info.ID, true)
		}
	}
	return nil
}

// SetRole changes a participant's role.
func (c *Conference) SetRole(id string, r Role) error {
	p, err := c.part(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	p.info.Role = r
	info := p.info
	c.mu.Unlock()
	if !info.Hidden {
		c.post(func() { c.notifyAll([]ParticipantInfo{info}, nil) })
	}
	return nil
}

// Exclude removes a participant from the default mix for d: it hears
// nothing and is not heard, then returns.
func (c *Conference) Exclude(id string, d time.Duration) error {
	if _, err := c.part(id); err != nil {
		return err
	}
	c.mixer.Exclude(id, d)
	return nil
}

// Whisper routes participant from's audio to participant to only (a
// private route: coaching, announcements to one caller). from still hears
// the conference.
func (c *Conference) Whisper(from, to string) error {
	if _, err := c.part(from); err != nil {
		return err
	}
	if _, err := c.part(to); err != nil {
		return err
	}
	return c.mixer.Whisper(from, to)
}

// StopWhisper returns from to the default mix.
func (c *Conference) StopWhisper(from string) { c.mixer.StopWhisper(from) }

// Eject ends a participant's call with BYE; the roster is updated when it
// has left.
func (c *Conference) Eject(ctx context.Context, id string) error {
	p, err := c.part(id)
	if err != nil {
		return err
	}
	return p.call.Terminate(ctx)
}

// End ends the conference: every participant gets BYE, subscribers a
// final NOTIFY, and the mixer stops. It is idempotent.
func (c *Conference) End(ctx context.Context) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	if c.grace != nil {
		c.grace.Stop()
	}
	var calls []*endpoint.Call
	for _, p := range c.parts {
		calls = append(calls, p.call)
	}
	subs := make([]*endpoint.Subscription, 0, len(c.subs))
	for s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	c.s.forget(c)
	var wg sync.WaitGroup
	for _, call := range calls {
		wg.Go(func() { _ = call.Terminate(ctx) })
	}
	for _, s := range subs {
		wg.Go(func() { _ = s.Terminate(ctx, "noresource") })
	}
	wg.Wait()
	close(c.done)
	_ = c.mixer.Close()
	c.s.log.Info("conference ended", "conference", c.id)
}
