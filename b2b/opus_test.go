//go:build opus

package b2b_test

import "testing"

// TestTranscodingOpusToPCMU (issue 19 acceptance, opus tag): baresip with
// only Opus calls a bridge whose endpoint accepts opus first; the bridge
// calls a test-kit phone that has PCMU and PCMA only. The relay transcodes
// between the 48 kHz RTP clock of Opus (16 kHz PCM) and PCMU's 8000 Hz
// both ways: the PCMU phone hears baresip's 500 Hz and baresip, at
// 48 kHz, hears the phone's 900 Hz.
func TestTranscodingOpusToPCMU(t *testing.T) { testBaresipToPCMU(t, "opus", 48000, "webrtc") }
