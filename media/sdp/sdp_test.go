package sdp

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

const offerPCMA = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=sendonly\r\n" +
	"m=video 4002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"

func local() *Local {
	return &Local{Addr: netip.MustParseAddrPort("127.0.0.1:20000"), Formats: DefaultFormats()}
}

func TestAnswerPicksOffererOrderAndRejectsVideo(t *testing.T) {
	l := local()
	ans, n, err := Answer([]byte(offerPCMA), l)
	if err != nil {
		t.Fatal(err)
	}
	if n.Codec.Name != "PCMA" || n.Codec.PayloadType != 8 {
		t.Errorf("codec = %+v, want PCMA/8", n.Codec)
	}
	if !n.HasDTMF || n.DTMF.PayloadType != 96 {
		t.Errorf("dtmf = %+v, want PT 96", n.DTMF)
	}
	if n.Remote != netip.MustParseAddrPort("10.0.0.2:4000") {
		t.Errorf("remote = %v", n.Remote)
	}
	if n.Direction != RecvOnly || n.RemoteDirection != SendOnly {
		t.Errorf("direction = %v/%v, want recvonly/sendonly", n.Direction, n.RemoteDirection)
	}
	s := string(ans)
	for _, want := range []string{"m=audio 20000 RTP/AVP 8 96", "a=recvonly", "m=video 0 RTP/AVP 97", "c=IN IP4 127.0.0.1"} {
		if !strings.Contains(s, want) {
			t.Errorf("answer lacks %q:\n%s", want, s)
		}
	}
	// The answer must be parseable as an answer to our own offer.
	back, err := ParseAnswer(ans, &Local{Addr: l.Addr, Formats: []Format{{PayloadType: 8, Name: "PCMA", ClockRate: 8000}, {PayloadType: 96, Name: "telephone-event", ClockRate: 8000}}, Direction: SendOnly})
	if err != nil || back.Codec.Name != "PCMA" || back.Direction != SendOnly {
		t.Errorf("ParseAnswer = %+v, %v", back, err)
	}
}

func TestAnswerFailures(t *testing.T) {
	cases := []struct {
		name  string
		offer string
		want  error
	}{
		{"garbage", "hello", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"video only", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 4000 RTP/AVP 97\r\n", ErrNoAudio},
		{"no common", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n", ErrNoCommonCodec},
		{"srtp only", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n", ErrNoAudio},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Answer([]byte(c.offer), local())
			var ne *NegotiationError
			if !errors.As(err, &ne) || !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want NegotiationError wrapping %v", err, c.want)
			}
		})
	}
}

func TestOfferVersionIncrements(t *testing.T) {
	l := local()
	l.Direction = SendOnly
	a, err := Offer(l)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Offer(l)
	if !strings.Contains(string(a), "a=sendonly") || !strings.Contains(string(a), "m=audio 20000 RTP/AVP 0 8 101") {
		t.Fatalf("offer:\n%s", a)
	}
	if l.Version != 2 || strings.Contains(string(b), " 1 1 IN") {
		t.Fatalf("version not incremented: %d\n%s", l.Version, b)
	}
}

func TestHoldAddressIsNotARemote(t *testing.T) {
	offer := strings.Replace(offerPCMA, "c=IN IP4 10.0.0.2", "c=IN IP4 0.0.0.0", 1)
	_, n, err := Answer([]byte(offer), local())
	if err != nil {
		t.Fatal(err)
	}
	if n.Remote.IsValid() {
		t.Fatalf("remote = %v, want invalid for 0.0.0.0", n.Remote)
	}
}

func FuzzAnswer(f *testing.F) {
	f.Add([]byte(offerPCMA))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l := local()
		ans, _, err := Answer(b, l)
		if err == nil {
			if _, err := ParseAnswer(ans, l); err != nil {
				t.Fatalf("our answer does not parse: %v\n%s", err, ans)
			}
		}
	})
}

func BenchmarkAnswer(b *testing.B) {
	l := local()
	offer := []byte(offerPCMA)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Answer(offer, l); err != nil {
			b.Fatal(err)
		}
	}
}

const offerPCMUG722 = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 0 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:9 G722/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n"

// TestAnswerG722: G.722 is known by its static payload type at the RFC 3551
// clock rate 8000; the offerer's order wins unless the local side prefers
// its own.
func TestAnswerG722(t *testing.T) {
	l := local()
	l.Formats = SupportedFormats()
	_, n, err := Answer([]byte(offerPCMUG722), l)
	if err != nil || n.Codec.Name != "PCMU" {
		t.Fatalf("offerer order: %+v, %v; want PCMU", n.Codec, err)
	}
	l = local()
	l.Formats = []Format{{PayloadType: 9, Name: "G722", ClockRate: 8000}, {PayloadType: 0, Name: "PCMU", ClockRate: 8000}, DefaultFormats()[2]}
	l.PreferLocal = true
	ans, n, err := Answer([]byte(offerPCMUG722), l)
	if err != nil || n.Codec.Name != "G722" || n.Codec.PayloadType != 9 || n.Codec.ClockRate != 8000 || !n.HasDTMF {
		t.Fatalf("local order: %+v, %v; want G722/8000 with DTMF", n, err)
	}
	if s := string(ans); !strings.Contains(s, "m=audio 20000 RTP/AVP 9 101") || !strings.Contains(s, "a=rtpmap:9 G722/8000") {
		t.Fatalf("answer:\n%s", s)
	}
	for _, f := range DefaultFormats() {
		if f.Name == "G722" {
			t.Fatal("G722 is a default format")
		}
	}
}

// TestAnswerStatesThePacketTimeSent: the answer states the packet time we
// will send, which is what the offer asked for (a=ptime), bounded by its
// maxptime (RFC 4566 section 6); offers state Local.PTime, 20 by default.
func TestAnswerStatesThePacketTimeSent(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	for _, c := range []struct {
		attrs string
		send  int
	}{
		{"", 20},
		{"a=ptime:30\r\n", 30},
		{"a=ptime:40\r\n", 40},
		{"a=ptime:10\r\n", 10},
		{"a=ptime:40\r\na=maxptime:30\r\n", 30},
		{"a=ptime:22.5\r\n", 22},
		{"a=ptime:150\r\n", 60},
	} {
		ans, n, err := Answer([]byte(head+c.attrs), local())
		if err != nil {
			t.Fatal(err)
		}
		if got := n.SendPTime(); got != c.send {
			t.Errorf("%q: SendPTime %d, want %d", c.attrs, got, c.send)
		}
		if want := "a=ptime:" + strconv.Itoa(c.send) + "\r\n"; !strings.Contains(string(ans), want) {
			t.Errorf("%q: answer lacks %q:\n%s", c.attrs, want, ans)
		}
		back, err := ParseAnswer([]byte(head+c.attrs), local())
		if err != nil || back.SendPTime() != c.send {
			t.Errorf("%q: ParseAnswer %+v, %v", c.attrs, back, err)
		}
	}
	l := local()
	l.PTime = 40
	if offer, err := Offer(l); err != nil || !strings.Contains(string(offer), "a=ptime:40\r\n") {
		t.Errorf("offer %s, %v", offer, err)
	}
}

// RFC 7587 section 7: Opus is "opus/48000/2" in rtpmap whatever is sent,
// with a dynamic payload type the offerer chose; the answer uses the
// offerer's payload type and states its own (declarative) fmtp; the
// telephone-event at the codec's 48 kHz clock is preferred (RFC 4733
// section 2.1).
func TestOpusOfferAnswer(t *testing.T) {
	offer := "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 96 0 101 97\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1;stereo=1\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=rtpmap:97 telephone-event/48000\r\na=fmtp:97 0-15\r\na=ptime:40\r\n"
	opus := OpusFormat()
	l := &Local{Addr: netip.MustParseAddrPort("127.0.0.1:20000"), Formats: []Format{
		opus, {PayloadType: 0, Name: "PCMU", ClockRate: 8000},
		{PayloadType: 101, Name: "telephone-event", ClockRate: 8000, FMTP: "0-16"},
		{PayloadType: 110, Name: "telephone-event", ClockRate: 48000, FMTP: "0-16"},
	}}
	ans, n, err := Answer([]byte(offer), l)
	if err != nil {
		t.Fatal(err)
	}
	if n.Codec.Name != "opus" || n.Codec.PayloadType != 96 || n.Codec.ClockRate != 48000 || n.Codec.Channels != 2 {
		t.Errorf("codec = %+v, want opus/48000/2 on PT 96", n.Codec)
	}
	if !n.HasDTMF || n.DTMF.PayloadType != 97 || n.DTMF.ClockRate != 48000 {
		t.Errorf("dtmf = %+v, want telephone-event/48000 on PT 97", n.DTMF)
	}
	s := string(ans)
	// Opus goes out in 20 ms packets whatever the offer's ptime (40 here),
	// and the answer says so.
	if n.PTime != 40 || n.SendPTime() != 20 {
		t.Errorf("ptime %d, send ptime %d; want 40 and 20", n.PTime, n.SendPTime())
	}
	for _, want := range []string{"m=audio 20000 RTP/AVP 96 97", "a=rtpmap:96 opus/48000/2", "a=fmtp:96 " + opus.FMTP, "a=rtpmap:97 telephone-event/48000", "a=ptime:20"} {
		if !strings.Contains(s, want) {
			t.Errorf("answer lacks %q:\n%s", want, s)
		}
	}

	// Our own offer states Opus on 111, and an answer on 111 (whatever
	// the case of the name) selects it.
	l2 := &Local{Addr: netip.MustParseAddrPort("127.0.0.1:20002"), Formats: []Format{opus, {PayloadType: 0, Name: "PCMU", ClockRate: 8000}}}
	off, err := Offer(l2)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m=audio 20002 RTP/AVP 111 0", "a=rtpmap:111 opus/48000/2\r\n", "a=fmtp:111 minptime=10;useinbandfec=1", "a=rtpmap:0 PCMU/8000\r\n"} {
		if !strings.Contains(string(off), want) {
			t.Errorf("offer lacks %q:\n%s", want, off)
		}
	}
	answer := "v=0\r\no=- 1 1 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\n" +
		"m=audio 5000 RTP/AVP 111\r\na=rtpmap:111 OPUS/48000/2\r\n"
	back, err := ParseAnswer([]byte(answer), l2)
	if err != nil || back.Codec.Name != "opus" || back.Codec.PayloadType != 111 {
		t.Errorf("ParseAnswer = %+v, %v", back.Codec, err)
	}
	// opus at another clock rate is not RFC 7587 Opus.
	bad := strings.Replace(answer, "48000/2", "16000", 1)
	if _, err := ParseAnswer([]byte(bad), l2); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("answer with opus/16000: %v, want ErrNoCommonCodec", err)
	}
}

// offerCNFirst lists comfort noise first, as some phones do: CN is never
// the audio codec.
const offerCNFirst = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 13 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"

// TestComfortNoiseOnlyWhenConfigured: RFC 3389 comfort noise is offered
// and answered only by a side that lists CN; it is then negotiated with
// the offerer's payload type and never chosen as the audio codec.
func TestComfortNoiseOnlyWhenConfigured(t *testing.T) {
	ans, n, err := Answer([]byte(offerCNFirst), local())
	if err != nil {
		t.Fatal(err)
	}
	if n.HasCN || strings.Contains(string(ans), "CN") || n.Codec.Name != "PCMU" {
		t.Errorf("default formats: codec %s, CN %v, answer:\n%s", n.Codec.Name, n.HasCN, ans)
	}
	if off, _ := Offer(local()); strings.Contains(string(off), " 13") {
		t.Errorf("default offer lists CN:\n%s", off)
	}
	withCN := local()
	withCN.Formats = append(withCN.Formats, Format{PayloadType: 13, Name: "CN", ClockRate: 8000})
	ans, n, err = Answer([]byte(offerCNFirst), withCN)
	if err != nil {
		t.Fatal(err)
	}
	if !n.HasCN || n.CN.PayloadType != 13 || n.Codec.Name != "PCMU" {
		t.Errorf("with CN: codec %s, CN %+v (%v)", n.Codec.Name, n.CN, n.HasCN)
	}
	if !strings.Contains(string(ans), "m=audio 20000 RTP/AVP 0 101 13") || !strings.Contains(string(ans), "a=rtpmap:13 CN/8000") {
		t.Errorf("answer does not accept CN:\n%s", ans)
	}
	off, _ := Offer(withCN)
	if !strings.Contains(string(off), "a=rtpmap:13 CN/8000") {
		t.Errorf("offer lacks CN:\n%s", off)
	}
	// An offer of CN alone has no audio codec.
	if _, _, err := Answer([]byte(strings.Replace(offerCNFirst, "13 0 101", "13", 1)), withCN); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("CN-only offer: %v", err)
	}
}
