package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/platform"
)

const phoneUsage = `usage: switchboard phone dial URI [flags]
       switchboard phone answer [flags]

A command-line phone on Switchboard's own stack. dial calls URI; answer
waits on -listen for one call and accepts it. Either prints the call's
progress to stdout, one line per event: provisional responses (status and
reason; 100 Trying is hop-by-hop and not shown), state changes, DTMF sent,
the transfer's outcome, and at the end the RTP statistics. The call ends
after -duration, when the remote side hangs up, or on SIGINT/SIGTERM.

flags (-flag and --flag are the same; they may follow URI):
  -listen ADDR      SIP UDP address (default 127.0.0.1:0; answer needs a port)
  -from URI         our identity (default sip:phone@HOST of -listen)
  -play SRC         send FILE.wav (played once) or tone:HZ (a sine, until hang-up)
  -record FILE.wav  write what the call hears (8 kHz mono 16-bit WAV)
  -duration D       hang up after D once answered (default 0: wait for the remote)
  -dtmf DIGITS      dial: send DIGITS (RFC 4733) once answered
  -transfer URI     dial: once answered, ask the remote to call URI (REFER),
                    wait for the outcome; a successful transfer ends the call

exit status:
  0  answered, and every -dtmf, -transfer and -record succeeded
  1  the call or transfer failed, or could not be made; the last line says why,
     with the SIP status when there is one: "call failed: 486 Busy Here",
     "transfer failed: 603 Decline"
  2  bad usage
`

// phoneOptions are the flags of `switchboard phone`.
type phoneOptions struct {
	listen, from     string
	play, record     string
	duration         time.Duration
	dtmf, transferTo string
}

// phoneCommand is `switchboard phone dial|answer`.
func phoneCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "dial" && args[0] != "answer") {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, phoneUsage)
			return 0
		}
		fmt.Fprint(stderr, phoneUsage)
		return 2
	}
	mode := args[0]
	fs := flag.NewFlagSet("phone "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, phoneUsage) }
	var o phoneOptions
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "SIP UDP listen address")
	fs.StringVar(&o.from, "from", "", "our identity (default sip:phone@HOST)")
	fs.StringVar(&o.play, "play", "", "FILE.wav or tone:HZ to send")
	fs.StringVar(&o.record, "record", "", "WAV file to write what the call hears to")
	fs.DurationVar(&o.duration, "duration", 0, "hang up this long after the answer (0: wait for the remote)")
	if mode == "dial" {
		fs.StringVar(&o.dtmf, "dtmf", "", "digits to send once answered")
		fs.StringVar(&o.transferTo, "transfer", "", "URI to transfer the call to once answered")
	}
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return 2
	}
	want := map[string]int{"dial": 1, "answer": 0}[mode]
	if len(pos) != want {
		fmt.Fprintf(stderr, "switchboard phone %s: want %d argument(s), got %q\n\n%s", mode, want, pos, phoneUsage)
		return 2
	}
	out := &lineWriter{w: stdout}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ph, err := newPhone(o, stderr)
	if err != nil {
		out.line("call failed: %v", err)
		return 1
	}
	defer ph.close()
	out.line("listening on %s", ph.addr)
	var ok bool
	if mode == "dial" {
		ok = ph.dial(ctx, out, pos[0])
	} else {
		ok = ph.answer(ctx, out)
	}
	if !ok {
		return 1
	}
	return 0
}

// parseInterleaved parses flags that may come before, between and after
// positional arguments (flag.Parse stops at the first positional one) and
// returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// lineWriter writes whole lines for several goroutines (call events arrive
// on the call's event goroutine).
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lineWriter) line(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.w, format+"\n", args...)
}

// phone is one user agent: a platform on -listen and an endpoint.
type phone struct {
	o    phoneOptions
	p    *platform.Platform
	ep   *endpoint.Endpoint
	addr string // the SIP UDP address bound, host:port
}

func newPhone(o phoneOptions, stderr io.Writer) (*phone, error) {
	// Open the media source first: a missing file fails before any
	// packet is sent.
	if o.play != "" {
		src, err := openPlay(o.play)
		if err != nil {
			return nil, err
		}
		_ = src.Close()
	}
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return nil, fmt.Errorf("-listen %q: %w", o.listen, err)
	}
	uc, err := net.ListenPacket("udp", o.listen)
	if err != nil {
		return nil, err
	}
	cfg := platform.Config{}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		cfg.Host = host
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := platform.New(cfg, platform.WithUDPConn(uc), platform.WithLogger(log))
	if err != nil {
		_ = uc.Close()
		return nil, err
	}
	if o.from == "" {
		o.from = "sip:phone@" + p.Config().Host
	}
	ep, err := endpoint.NewApplication(p, endpoint.Settings{OwnerURI: o.from, Default: true})
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return &phone{o: o, p: p, ep: ep, addr: uc.LocalAddr().String()}, nil
}

func (ph *phone) close() { _ = ph.p.Close() }

// openPlay opens a -play source: tone:HZ or a WAV file.
func openPlay(spec string) (audio.Source, error) {
	if hz, ok := strings.CutPrefix(spec, "tone:"); ok {
		f, err := strconv.ParseFloat(hz, 64)
		if err != nil {
			return nil, fmt.Errorf("-play %q: %w", spec, err)
		}
		return audio.NewToneSource(f, 0, 0.3)
	}
	return audio.OpenWAVSource(spec)
}

// watch prints the call's state changes. The events arrive on the call's
// event goroutine; the returned wait blocks (up to 2 s) until the change
// to state has been printed, so that the lines that follow it come after.
func watch(out *lineWriter, c *endpoint.Call) (wait func(endpoint.State)) {
	var mu sync.Mutex
	reached := map[endpoint.State]chan struct{}{
		endpoint.StateEstablished: make(chan struct{}),
		endpoint.StateTerminated:  make(chan struct{}),
	}
	c.OnStateChanged(func(sc endpoint.StateChange) {
		out.line("state %s -> %s (%s)", sc.Previous, sc.State, sc.Reason)
		mu.Lock()
		defer mu.Unlock()
		if ch, ok := reached[sc.State]; ok {
			close(ch)
			delete(reached, sc.State)
			if sc.State == endpoint.StateTerminated {
				clear(reached) // established never comes now
			}
		}
	})
	return func(s endpoint.State) {
		mu.Lock()
		ch, ok := reached[s]
		mu.Unlock()
		if !ok {
			return
		}
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-ch:
		case <-t.C:
		}
	}
}

// dial calls uri and reports whether it was answered (and transferred,
// with -transfer).
func (ph *phone) dial(ctx context.Context, out *lineWriter, uri string) bool {
	if err := ph.p.Start(); err != nil {
		out.line("call failed: %v", err)
		return false
	}
	c := ph.ep.NewConversation().NewCall()
	wait := watch(out, c)
	out.line("dialing %s from %s", uri, ph.o.from)
	err := c.Establish(ctx, uri, endpoint.EstablishOptions{
		OnProvisional: func(code int, reason string, early bool) {
			if early {
				out.line("%d %s (early media)", code, reason)
			} else {
				out.line("%d %s", code, reason)
			}
		},
	})
	if err != nil {
		ph.hangup(c)
		wait(endpoint.StateTerminated)
		out.line("call failed: %s", failure(err))
		return false
	}
	wait(endpoint.StateEstablished)
	out.line("answered by %s (%s)", c.RemoteURI(), c.Info().Codec)
	return ph.talk(ctx, out, c, wait)
}

// failure describes why a call or transfer failed, leading with the SIP
// status when there is one.
func failure(err error) string {
	var re *endpoint.ResponseError
	var rd *endpoint.RedirectError
	var te *endpoint.TransferError
	switch {
	case errors.As(err, &re):
		return fmt.Sprintf("%d %s", re.Code, re.Reason)
	case errors.As(err, &rd):
		return fmt.Sprintf("%d redirect to %s", rd.Code, strings.Join(rd.Contacts, ", "))
	case errors.As(err, &te):
		return strconv.Itoa(te.Code) // a NOTIFY's sipfrag status, or the REFER's
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return err.Error()
}

// answer waits for one call, accepts it and talks until it ends. Other
// calls meanwhile get 486 Busy Here. It reports whether a call was
// answered.
func (ph *phone) answer(ctx context.Context, out *lineWriter) bool {
	done := make(chan bool, 1)
	var busy atomic.Bool
	ph.ep.HandleCalls(endpoint.HandlerFunc(func(cctx context.Context, c *endpoint.Call) {
		if !busy.CompareAndSwap(false, true) {
			_ = c.Decline(cctx, 486) // 486 Busy Here
			return
		}
		out.line("incoming call from %s to %s", c.RemoteURI(), c.LocalURI())
		wait := watch(out, c)
		if err := c.Accept(cctx); err != nil {
			ph.hangup(c)
			wait(endpoint.StateTerminated)
			out.line("call failed: %s", failure(err))
			done <- false
			return
		}
		wait(endpoint.StateEstablished)
		out.line("answered (%s)", c.Info().Codec)
		done <- ph.talk(ctx, out, c, wait)
	}))
	if err := ph.p.Start(); err != nil {
		out.line("call failed: %v", err)
		return false
	}
	select {
	case ok := <-done:
		return ok
	case <-ctx.Done():
		if busy.Load() {
			return <-done // the call in progress ends with the signal
		}
		out.line("call failed: no call answered")
		return false
	}
}

// talk runs an answered call: it plays, records, sends the DTMF and the
// transfer, waits for the end and prints the RTP statistics. It reports
// whether everything asked for succeeded.
func (ph *phone) talk(ctx context.Context, out *lineWriter, c *endpoint.Call, wait func(endpoint.State)) bool {
	flow := c.Flow()
	var fail string
	var closeRecording func()
	if ph.o.record != "" {
		w, err := audio.CreateWAV(ph.o.record, flow.SampleRate(), 1)
		if err != nil {
			ph.hangup(c)
			out.line("call failed: -record: %v", err)
			return false
		}
		remove := flow.ObserveHeard(audio.SinkFunc(func(pcm []int16) { _ = w.Write(pcm) }))
		closeRecording = func() {
			remove()
			if err := w.Close(); err != nil {
				fail = "record failed: " + err.Error()
			} else {
				out.line("recorded %s", ph.o.record)
			}
		}
	}
	if ph.o.play != "" {
		src, err := openPlay(ph.o.play)
		if err == nil {
			var pl *audio.Player
			if pl, err = audio.NewPlayer(src, audio.PlayerConfig{}); err == nil {
				defer pl.Close()
				err = pl.Start()
				pl.Attach(flow)
			}
		}
		if err != nil {
			ph.hangup(c)
			out.line("call failed: -play: %v", err)
			return false
		}
	}
	var timeout <-chan time.Time
	if ph.o.duration > 0 {
		t := time.NewTimer(ph.o.duration)
		defer t.Stop()
		timeout = t.C
	}
	if ph.o.dtmf != "" {
		if err := c.SendDTMF(ctx, ph.o.dtmf); err != nil {
			fail = "dtmf failed: " + err.Error()
		} else {
			out.line("dtmf sent: %s", ph.o.dtmf)
		}
	}
	if ph.o.transferTo != "" && fail == "" { // not after a failed DTMF
		out.line("transferring to %s", ph.o.transferTo)
		if err := c.Transfer(ctx, ph.o.transferTo, endpoint.TransferOptions{Type: endpoint.Attended}); err != nil {
			fail = "transfer failed: " + failure(err)
		} else {
			out.line("transfer succeeded")
		}
	}
	select {
	case <-c.Done():
	case <-timeout:
	case <-ctx.Done():
	}
	st := flow.Stats()
	ph.hangup(c)
	wait(endpoint.StateTerminated)
	if closeRecording != nil {
		closeRecording()
	}
	out.line("rtp: sent %d packets, received %d, lost %d, jitter %.1f ms",
		st.PacketsSent, st.PacketsReceived, st.PacketsLost, float64(st.Jitter)/float64(time.Millisecond))
	if fail != "" {
		out.line("%s", fail)
		return false
	}
	return true
}

func (ph *phone) hangup(c *endpoint.Call) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Terminate(ctx)
}
