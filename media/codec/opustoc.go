package codec

// This file holds the parts of Opus (RFC 6716) that need no libopus: the
// table of contents of a packet, which says how long the packet is, and the
// framing of several frames into one packet. They are built in every
// configuration, so that they can be tested and fuzzed without cgo; the
// codec itself is in opus.go, behind the opus build tag.

// opusMaxSamples48 is the longest duration of an Opus packet, 120 ms, at
// 48 kHz (RFC 6716 section 3.2.5).
const opusMaxSamples48 = 5760

// opusFrameSamples48 returns the duration of one frame of the TOC byte's
// configuration (RFC 6716 section 3.1, table 2) in 48 kHz samples.
func opusFrameSamples48(toc byte) int {
	config := toc >> 3
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		return [4]int{480, 960, 1920, 2880}[config%4]
	case config < 16: // Hybrid: 10, 20 ms
		return [2]int{480, 960}[config%2]
	default: // CELT-only: 2.5, 5, 10, 20 ms
		return [4]int{120, 240, 480, 960}[config%4]
	}
}

// opusPacketSamples48 returns the duration of an Opus packet in 48 kHz
// samples, which is also its length in units of the 48 kHz RTP clock (RFC
// 7587 section 4.1), from its TOC byte and, for code 3, its frame count
// byte (RFC 6716 section 3.2). It returns 0 for a packet that cannot be
// valid: empty, a code 1 packet of odd length, a code 2 or 3 packet cut
// short, no frames, or more than 120 ms.
func opusPacketSamples48(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	var frames int
	switch p[0] & 3 {
	case 0:
		frames = 1
	case 1:
		if (len(p)-1)%2 != 0 {
			return 0
		}
		frames = 2
	case 2:
		if len(p) < 2 {
			return 0
		}
		frames = 2
	default:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	n := frames * opusFrameSamples48(p[0])
	if n == 0 || n > opusMaxSamples48 {
		return 0
	}
	return n
}

// opusJoin appends to dst one code 3 packet (RFC 6716 section 3.2.5, VBR,
// no padding) carrying the frames of packets, each a single-frame (code 0)
// packet of the same configuration. It returns dst unchanged and false when
// the packets cannot share a packet: another code, a configuration or
// stereo flag that differs (all frames of a packet share the TOC byte), a
// frame longer than 1275 bytes, or more than 48 frames or 120 ms.
func opusJoin(dst []byte, packets [][]byte) ([]byte, bool) {
	if len(packets) == 0 || len(packets) > 48 {
		return dst, false
	}
	toc := packets[0]
	if len(toc) == 0 {
		return dst, false
	}
	total := 0
	for _, p := range packets {
		if len(p) == 0 || p[0] != toc[0] || p[0]&3 != 0 || len(p)-1 > 1275 {
			return dst, false
		}
		total += opusFrameSamples48(p[0])
	}
	if total > opusMaxSamples48 {
		return dst, false
	}
	dst = append(dst, toc[0]|3, 0x80|byte(len(packets)))
	for _, p := range packets[:len(packets)-1] {
		// Frame lengths (section 3.2.1): one byte below 252, else two.
		n := len(p) - 1
		if n < 252 {
			dst = append(dst, byte(n))
		} else {
			first := 252 + n&3
			dst = append(dst, byte(first), byte((n-first)>>2))
		}
	}
	for _, p := range packets {
		dst = append(dst, p[1:]...)
	}
	return dst, true
}
