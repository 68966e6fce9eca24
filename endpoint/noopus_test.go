//go:build !opus

package endpoint

import (
	"strings"
	"testing"
)

// Without the opus build tag there is no Opus codec: "opus" in codecs is
// skipped (not offered, not accepted), and a list with nothing else fails
// with a hint to build with the tag.
func TestCodecsOpusWithoutTag(t *testing.T) {
	got, err := formatsFor([]string{"opus", "PCMU", "telephone-event"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "PCMU" || got[1].Name != "telephone-event" || got[1].ClockRate != 8000 {
		t.Fatalf("formats %+v, want PCMU and telephone-event/8000 only", got)
	}
	if _, err := formatsFor([]string{"opus", "telephone-event"}); err == nil || !strings.Contains(err.Error(), "-tags opus") {
		t.Fatalf("opus alone without the tag: %v, want an error naming -tags opus", err)
	}
}
