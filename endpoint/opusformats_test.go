//go:build opus

package endpoint

import (
	"testing"

	"github.com/switchboard-sip/switchboard/media/sdp"
)

// With the opus tag, codecs: [opus, ...] offers opus/48000/2 where it is
// listed, and with telephone-event also telephone-event/48000 (RFC 4733
// section 2.1: events on the audio's clock); without opus, nothing at
// 48 kHz is offered.
func TestCodecsOpus(t *testing.T) {
	got, err := formatsFor([]string{"PCMU", "opus", "telephone-event"})
	if err != nil {
		t.Fatal(err)
	}
	want := []sdp.Format{
		{PayloadType: 0, Name: "PCMU", ClockRate: 8000},
		sdp.OpusFormat(),
		{PayloadType: 101, Name: "telephone-event", ClockRate: 8000, FMTP: "0-16"},
		{PayloadType: 110, Name: "telephone-event", ClockRate: 48000, FMTP: "0-16"},
	}
	if len(got) != len(want) {
		t.Fatalf("formats %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("format %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	got, err = formatsFor([]string{"G722", "telephone-event"})
	if err != nil || len(got) != 2 {
		t.Fatalf("G722 formats %+v, %v", got, err)
	}
}
