package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// adminEnv is a server with its admin API on 127.0.0.1:0 and an HTTP
// client that validates every response against the committed OpenAPI
// document.
type adminEnv struct {
	s       *Server
	port    int // SIP UDP port
	tcpPort int // SIP TCP port
	base    string
	token   string
	router  routers.Router
}

func startAdminServer(t testing.TB, token string, edit func(*Config)) *adminEnv {
	t.Helper()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Platform.UDP, cfg.Platform.TCP = nil, nil
	cfg.Platform.RTPPortMin, cfg.Platform.RTPPortMax = 0, 0
	cfg.Apps.Recording.Dir = t.TempDir()
	cfg.Admin.Token = token
	if edit != nil {
		edit(&cfg)
	}
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := admin.NewMetrics()
	s, err := newServer(cfg, sbt.Logger(t), platform.WithUDPConn(uc), platform.WithTCPListener(tl), platform.WithObserver(m))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Platform.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if adminListenerWrap != nil {
		ln = adminListenerWrap(ln)
	}
	a, err := s.startAdmin(m, ln, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := s.Platform.Start(); err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(admin.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &adminEnv{s: s, port: uc.LocalAddr().(*net.UDPAddr).Port, tcpPort: tl.Addr().(*net.TCPAddr).Port, base: "http://" + ln.Addr().String(), token: token, router: router}
}

// adminListenerWrap, when set, wraps the admin API's listener of the
// servers tests start (a test that needs small socket buffers).
var adminListenerWrap func(net.Listener) net.Listener

// smallSendBuffers gives every accepted connection a 4 KiB send buffer,
// as a slow or distant client's path would.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func init() {
	// Streams and audio are validated for status and content type only.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("audio/wav", openapi3filter.FileBodyDecoder)
}

// do sends a request and validates the response against the OpenAPI
// document; it returns the status and body.
func (e *adminEnv) do(t testing.TB, method, path string, body any, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	e.validate(t, req, raw, res, b)
	return res.StatusCode, b
}

func (e *adminEnv) validate(t testing.TB, req *http.Request, reqBody []byte, res *http.Response, body []byte) {
	t.Helper()
	vreq, _ := http.NewRequest(req.Method, req.URL.String(), bytes.NewReader(reqBody))
	vreq.Header = req.Header.Clone()
	route, params, err := e.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s %s: not in openapi.json: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s: %d response does not match openapi.json: %v\n%s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

type callList struct {
	Calls []admin.CallView `json:"calls"`
}

// sippWaitBye is a SIPp UAC that calls, sends a little audio-less RTP
// nothing, and waits up to 30 s for the other side's BYE, which it
// answers: it exits 0 only if it received the BYE.
const sippWaitBye = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="wait for BYE">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv request="BYE" timeout="30000"/>
` + peers.ReplyOK + `</scenario>`

// TestAdminCallsListAndHangUpSIPp: a live SIPp call appears in GET
// /calls (and GET /calls/{id}); DELETE hangs it up and SIPp receives the
// BYE (its scenario fails without it). The calls and SIP counters in
// /metrics move, and promtool accepts the exposition.
func TestAdminCallsListAndHangUpSIPp(t *testing.T) {
	e := startAdminServer(t, "", func(c *Config) { c.Calls.RTPTimeout = -1 })
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	p := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippWaitBye), "-s", "echo", "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", e.port))
	var call admin.CallView
	waitFor(t, 10*time.Second, func() bool {
		_, b := e.do(t, "GET", "/api/v1/calls", nil)
		for _, c := range decode[callList](t, b).Calls {
			if c.App == "echo" && c.State == "established" && strings.Contains(c.From, "sipp@") {
				call = c
				return true
			}
		}
		return false
	})
	if call.Codec != "PCMU" || call.Direction != "incoming" {
		t.Fatalf("call %+v: want codec PCMU, incoming", call)
	}
	code, b := e.do(t, "GET", "/api/v1/calls/"+call.ID, nil)
	if code != 200 || decode[admin.CallView](t, b).ID != call.ID {
		t.Fatalf("GET call: %d %s", code, b)
	}
	if code, b := e.do(t, "DELETE", "/api/v1/calls/"+call.ID, nil); code != 204 {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	res := p.Wait()
	if res.ExitCode != 0 || res.Successful != 1 {
		t.Fatalf("SIPp did not see the BYE: exit %d, %d successful\n%s", res.ExitCode, res.Successful, res.ErrorLog)
	}
	if code, _ := e.do(t, "GET", "/api/v1/calls/"+call.ID, nil); code != 404 {
		t.Fatalf("GET after hang-up: %d, want 404", code)
	}
	metrics := scrape(t, e)
	for _, want := range []string{
		`switchboard_calls_total{app="echo",outcome="answered"} 1`,
		`switchboard_sip_requests_total{method="INVITE"} 1`,
		`switchboard_sip_responses_total{code="200",method="INVITE"} 1`,
		`switchboard_park_orbits_capacity 100`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	promtool(t, metrics)
}

func scrape(t testing.TB, e *adminEnv) string {
	t.Helper()
	code, b := e.do(t, "GET", "/metrics", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return string(b)
}

// promtool runs `promtool check metrics` on an exposition.
func promtool(t testing.TB, metrics string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run scripts/test, which installs Debian's prometheus package")
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// waitFor polls cond (an HTTP API has no event to wait on) until it holds.
func waitFor(t testing.TB, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseReader reads an event stream.
type sseEvent struct {
	ID, Type string
	Data     admin.Event
}

func openEvents(t testing.TB, e *adminEnv, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/v1/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	e.validate(t, req, nil, &http.Response{StatusCode: 200, Header: res.Header}, []byte("x"))
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Type = line[7:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev.Data)
			case line == "":
				if ev.Type != "" {
					ch <- ev
				}
				ev = sseEvent{}
			}
		}
	}()
	return ch, cancel
}

// callStates collects the states of one call's events from a stream
// until it terminates.
func callStates(t testing.TB, ch <-chan sseEvent, callID string) (states, ids []string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.Type != "call" {
				continue
			}
			d, _ := ev.Data.Data.(map[string]any)
			if d["call_id"] != callID {
				continue
			}
			states = append(states, d["state"].(string))
			ids = append(ids, ev.ID)
			if d["state"] == "terminated" {
				return states, ids
			}
		case <-timeout:
			t.Fatalf("call %s: states so far %v", callID, states)
		}
	}
}

// TestAdminEventsInOrderAndResume: the stream delivers a call's life
// (creation, established, terminated) in order with increasing ids; a
// client reconnecting with the Last-Event-ID of its first event is
// replayed exactly the events it missed.
func TestAdminEventsInOrderAndResume(t *testing.T) {
	e := startAdminServer(t, "", nil)
	ch, stop := openEvents(t, e, "")
	defer stop()
	ph := sbt.NewPhone(t, "alice")
	// The phone runs on its own platform; dial the server's echo app.
	pc := ph.Dial(t, fmt.Sprintf("sip:echo@127.0.0.1:%d", e.port))
	callID := pc.CallID()
	waitFor(t, 5*time.Second, func() bool { // the server has the ACK
		_, b := e.do(t, "GET", "/api/v1/calls/"+callID, nil)
		return decode[admin.CallView](t, b).State == "established"
	})
	pc.Hangup(t)
	states, ids := callStates(t, ch, callID)
	if len(states) < 3 || states[0] != "incoming" || states[len(states)-2] == "terminated" || states[len(states)-1] != "terminated" {
		t.Fatalf("states %v, want incoming ... established ... terminated", states)
	}
	if !containsStr(states, "established") {
		t.Fatalf("states %v lack established", states)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] && len(ids[i]) <= len(ids[i-1]) {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
	// Resume after the first event: the rest of the call is replayed.
	ch2, stop2 := openEvents(t, e, ids[0])
	defer stop2()
	states2, ids2 := callStates(t, ch2, callID)
	if strings.Join(states2, ",") != strings.Join(states[1:], ",") || strings.Join(ids2, ",") != strings.Join(ids[1:], ",") {
		t.Fatalf("replay %v %v, want %v %v", states2, ids2, states[1:], ids[1:])
	}
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestAdminToken: a non-loopback listen address without a token is
// refused at start-up; with a token, no token and a wrong one get 401
// problem+json, the right one 200.
func TestAdminToken(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin.Listen = "0.0.0.0:0"
	_, err = admin.New(cfg.Admin, admin.Services{Platform: sbt.NewServer(t).Platform})
	if !errors.Is(err, admin.ErrTokenRequired) {
		t.Fatalf("non-loopback without token: %v, want ErrTokenRequired", err)
	}
	e := startAdminServer(t, "s3cret", nil)
	for _, tok := range []string{"", "wrong"} {
		e.token = tok
		code, b := e.do(t, "GET", "/api/v1/calls", nil)
		if code != 401 || !strings.Contains(string(b), `"status":401`) {
			t.Fatalf("token %q: %d %s, want 401", tok, code, b)
		}
	}
	e.token = "s3cret"
	if code, _ := e.do(t, "GET", "/api/v1/calls", nil); code != 200 {
		t.Fatalf("right token: %d", code)
	}
}

// TestAdminDrain: POST /drain makes /readyz answer 503 and OPTIONS over
// UDP (the stateless screen path) get 503, while an established call
// keeps the drain open.
func TestAdminDrain(t *testing.T) {
	e := startAdminServer(t, "", nil)
	if code, _ := e.do(t, "GET", "/readyz", nil); code != 200 {
		t.Fatalf("readyz before drain: %d", code)
	}
	ph := sbt.NewPhone(t, "bob")
	pc := ph.Dial(t, fmt.Sprintf("sip:echo@127.0.0.1:%d", e.port)) // keeps the drain waiting
	if code, _ := e.do(t, "POST", "/api/v1/drain", nil); code != 202 {
		t.Fatalf("drain: %d", code)
	}
	waitFor(t, 5*time.Second, func() bool { return e.s.Platform.Draining() })
	if code, _ := e.do(t, "GET", "/readyz", nil); code != 503 {
		t.Fatalf("readyz while draining: %d, want 503", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := ph.Endpoint.Request(ctx, "OPTIONS", fmt.Sprintf("sip:127.0.0.1:%d", e.port), endpoint.RequestOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 503 {
		t.Fatalf("OPTIONS over UDP while draining: %v, want 503", err)
	}
	// Kamailio's dispatcher may ping over TCP: the same 503 there.
	_, err = ph.Endpoint.Request(ctx, "OPTIONS", fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", e.tcpPort), endpoint.RequestOptions{})
	if !errors.As(err, &re) || re.Code != 503 {
		t.Fatalf("OPTIONS over TCP while draining: %v, want 503", err)
	}
	pc.Hangup(t)
}

type orbitList struct {
	Orbits []admin.OrbitView `json:"orbits"`
}

// TestAdminParkRetrieveToURI: a phone dialling a directed park address is
// listed in GET /orbits; POST retrieve calls another phone and connects
// them: the retriever hears the parked phone's tone.
func TestAdminParkRetrieveToURI(t *testing.T) {
	e := startAdminServer(t, "", nil)
	parked := sbt.NewPhone(t, "carol")
	op := sbt.NewPhone(t, "dave")
	pc := parked.Dial(t, fmt.Sprintf("sip:park-7005@127.0.0.1:%d", e.port))
	var orbits orbitList
	waitFor(t, 5*time.Second, func() bool {
		_, b := e.do(t, "GET", "/api/v1/orbits", nil)
		orbits = decode[orbitList](t, b)
		return len(orbits.Orbits) == 1
	})
	if o := orbits.Orbits[0]; o.Orbit != "7005" || o.CallID != pc.CallID() {
		t.Fatalf("orbit %+v, want 7005 with call %s", o, pc.CallID())
	}
	pc.StartTone(1000)
	done := make(chan int, 1)
	go func() {
		code, _ := e.do(t, "POST", "/api/v1/orbits/7005/retrieve", map[string]string{"uri": op.URI()})
		done <- code
	}()
	in := op.NextCall(t)
	if code := <-done; code != 204 {
		t.Fatalf("retrieve: %d", code)
	}
	in.WaitTone(t, 1000, 5*time.Second)
	if code, _ := e.do(t, "POST", "/api/v1/orbits/7005/retrieve", map[string]string{"uri": op.URI()}); code != 404 {
		t.Fatalf("retrieve of an empty orbit: %d, want 404", code)
	}
	in.Hangup(t)
}

// TestAdminConferenceRosterMuteRecording: a conference of two phones
// started recording through the API lists its recorder as hidden; muting
// a phone through the API removes its tone from the other's audio, and
// unmuting brings it back; the recording is listed and downloads with a
// Range request.
func TestAdminConferenceRosterMuteRecording(t *testing.T) {
	e := startAdminServer(t, "", nil)
	a, b := sbt.NewPhone(t, "ann"), sbt.NewPhone(t, "ben")
	uri := fmt.Sprintf("sip:conf-ops@127.0.0.1:%d", e.port)
	ca, cb := a.Dial(t, uri), b.Dial(t, uri)
	ca.StartTone(1000)
	cb.WaitTone(t, 1000, 5*time.Second)
	metrics := scrape(t, e)
	if !strings.Contains(metrics, "switchboard_conferences_active 1\n") || !strings.Contains(metrics, "switchboard_mixer_late_ticks ") ||
		strings.Contains(metrics, "switchboard_mixer_frame_max_seconds 0\n") {
		t.Errorf("conference metrics while mixing:\n%s", grepLines(metrics, "switchboard_mixer|switchboard_conferences"))
	}
	promtool(t, metrics)
	if code, body := e.do(t, "POST", "/api/v1/conferences/ops/recording", nil); code != 201 {
		t.Fatalf("start recording: %d %s", code, body)
	}
	var conf admin.ConferenceView
	waitFor(t, 5*time.Second, func() bool {
		_, body := e.do(t, "GET", "/api/v1/conferences/ops", nil)
		conf = decode[admin.ConferenceView](t, body)
		return len(conf.Roster) == 3
	})
	var annID string
	hidden := 0
	for _, p := range conf.Roster {
		if p.Hidden {
			hidden++
			if !p.Trusted {
				t.Fatalf("hidden participant %+v not trusted", p)
			}
		}
		if strings.Contains(p.URI, "ann@") {
			annID = p.ID
		}
	}
	if hidden != 1 || annID == "" || !conf.Recording {
		t.Fatalf("roster %+v: want ann, ben and one hidden recorder, recording", conf)
	}
	if code, _ := e.do(t, "POST", "/api/v1/conferences/ops/participants/"+annID+"/mute", nil); code != 200 {
		t.Fatalf("mute: %d", code)
	}
	cb.WaitNoTone(t, 1000, 5*time.Second)
	if code, _ := e.do(t, "POST", "/api/v1/conferences/ops/participants/"+annID+"/unmute", nil); code != 200 {
		t.Fatalf("unmute: %d", code)
	}
	cb.WaitTone(t, 1000, 5*time.Second)
	if code, _ := e.do(t, "DELETE", "/api/v1/conferences/ops/recording", nil); code != 204 {
		t.Fatalf("stop recording: %d", code)
	}
	var recs struct {
		Recordings []admin.RecordingView `json:"recordings"`
	}
	waitFor(t, 5*time.Second, func() bool {
		_, body := e.do(t, "GET", "/api/v1/recordings", nil)
		recs = decode[struct {
			Recordings []admin.RecordingView `json:"recordings"`
		}](t, body)
		return len(recs.Recordings) == 1 && !recs.Recordings[0].Active
	})
	id := recs.Recordings[0].ID
	code, body := e.do(t, "GET", "/api/v1/recordings/"+id+"/audio", nil, "Range", "bytes=0-43")
	if code != 206 || len(body) != 44 || string(body[:4]) != "RIFF" {
		t.Fatalf("ranged download: %d, %d bytes", code, len(body))
	}
	if code, _ := e.do(t, "DELETE", "/api/v1/recordings/"+id, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := e.do(t, "GET", "/api/v1/recordings/"+id, nil); code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
	ca.Hangup(t)
	cb.Hangup(t)
}

// BenchmarkAdminListCalls measures GET /api/v1/calls with many live calls
// (ADMIN_BENCH_CALLS, default 200, echo calls from a test phone) and
// reports the p99 latency.
func BenchmarkAdminListCalls(b *testing.B) {
	n := 200
	if v, err := fmt.Sscan(os.Getenv("ADMIN_BENCH_CALLS"), &n); v == 0 || err != nil {
		n = 200
	}
	e := startAdminServer(b, "", func(c *Config) { c.Calls.RTPTimeout = -1 })
	ph := sbt.NewPhone(b, "bench")
	for range n {
		ph.Dial(b, fmt.Sprintf("sip:echo@127.0.0.1:%d", e.port))
	}
	waitFor(b, 20*time.Second, func() bool {
		_, body := e.do(b, "GET", "/api/v1/calls", nil)
		return len(decode[callList](b, body).Calls) == n
	})
	var lat []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		res, err := http.Get(e.base + "/api/v1/calls")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(n), "calls")
}

// grepLines returns the lines of s matching the regular expression re.
func grepLines(s, re string) string {
	rx := regexp.MustCompile(re)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if rx.MatchString(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsMoveWith100SIPpCalls: 100 calls of SIPp's stock UAC to the
// echo app move the call and SIP counters by exactly 100 each, and the
// exposition still passes promtool.
func TestMetricsMoveWith100SIPpCalls(t *testing.T) {
	e := startAdminServer(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sn", "uac", "-s", "echo", "-m", "100", "-r", "50", "-l", "20",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", e.port))
	if res.ExitCode != 0 || res.Successful != 100 {
		t.Fatalf("sipp: exit %d, %d successful\n%s", res.ExitCode, res.Successful, res.ErrorLog)
	}
	var metrics string
	waitFor(t, 5*time.Second, func() bool {
		metrics = scrape(t, e)
		return strings.Contains(metrics, `switchboard_calls_total{app="echo",outcome="answered"} 100`+"\n")
	})
	for _, want := range []string{
		`switchboard_sip_requests_total{method="INVITE"} 100` + "\n",
		`switchboard_sip_requests_total{method="BYE"} 100` + "\n",
		`switchboard_sip_responses_total{code="200",method="INVITE"} 100` + "\n",
		`switchboard_sip_responses_total{code="200",method="BYE"} 100` + "\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "switchboard_(calls|sip)"))
		}
	}
	promtool(t, metrics)
}

// TestSlowEventConsumerIsCutOff: an event stream client that stops
// reading (a tiny receive window, never drained) neither slows calls (60
// SIPp calls all complete at their rate) nor keeps its stream: the server
// cuts it off and closes the connection.
func TestSlowEventConsumerIsCutOff(t *testing.T) {
	adminListenerWrap = func(l net.Listener) net.Listener { return smallSendBuffers{l} }
	e := startAdminServer(t, "", func(c *Config) { c.Admin.EventBuffer = 4 })
	adminListenerWrap = nil
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /api/v1/events HTTP/1.1\r\nHost: switchboard\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res := peers.RunSIPp(t, ctx, "-sn", "uac", "-s", "echo", "-m", "60", "-r", "30", "-l", "30",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", e.port))
	if res.ExitCode != 0 || res.Successful != 60 {
		t.Fatalf("sipp beside a stalled event stream: exit %d, %d successful\n%s", res.ExitCode, res.Successful, res.ErrorLog)
	}
	t.Logf("60 calls in %v beside a stalled event stream", time.Since(start).Round(time.Millisecond))
	// Now drain: the server has given up on this client and closes.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	if err != nil {
		t.Fatalf("the stalled stream was not closed by the server (read %d bytes): %v", n, err)
	}
}
