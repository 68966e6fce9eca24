//go:build !opus

package codec

import "testing"

// The default build has no Opus: the codec seam does not know the name,
// so endpoints do not offer it.
func TestNoOpusWithoutTag(t *testing.T) {
	if c, ok := ByName("opus"); ok || c != nil {
		t.Fatalf(`ByName("opus") = %v, %v in a build without the opus tag`, c, ok)
	}
}
