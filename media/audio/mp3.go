package audio

// This file opens MP3 files as Player sources. github.com/hajimehoshi/go-mp3
// decodes the audio; this file validates the file before anything plays and
// trims the silence that MP3 encoding adds, so that a looping file has no
// gap.
//
// Validation at open: go-mp3 resynchronises over garbage and reports a
// truncated last frame as a normal end, so a damaged file would only show
// itself as clicks or a short play, or as an error in the middle of a
// call. OpenMP3 therefore walks every frame header first and requires the
// file to be, after any ID3v2 tag, an unbroken run of MPEG-1 or MPEG-2
// Layer III frames of one sample rate that ends exactly at the end of the
// file or at a trailing ID3v1, APEv2 or Lyrics3v2 tag. A LAME tag's music
// length then detects truncation even at a frame boundary, and its music
// CRC detects damage inside frames. A file without a trustworthy LAME tag,
// or whose music CRC does not match (tools such as mp3gain rewrite gains
// in place), is decoded once in full at open, so that a decoder error
// fails the open rather than the call.
//
// Trimming: an MP3 decoder's output starts late and ends long. The encoder
// delays the signal (LAME: 576 samples) and pads the end to a whole frame;
// the decoder's synthesis filterbank adds 529 samples of delay (the figure
// mpg123 and FFmpeg use; we measured the same for go-mp3 by
// cross-correlating LAME-encoded noise with its source); and go-mp3
// decodes the Xing/LAME "Info" frame, which LAME writes first in place of
// audio, as one frame of silence. With a valid LAME tag the played range is
// exact: skip the Info frame, then delay+529 samples, and play
// frames×samplesPerFrame − delay − padding samples, the length of the
// original input (for the LAME 3.100 fixtures in testdata: 2257 samples
// lead, padding−529 trail, and what remains lines up with the encoded WAV
// to the sample). Without a tag the exact delay is unknowable, so the Info frame
// (if any) is skipped and near-silence is trimmed from both ends, found by
// the full decode at open: samples below -60 dBFS or 36 dB under the
// loudest sample near that end (which also removes the encoder's pre-echo
// ahead of the first sound), at most mp3MaxSilenceTrim at each end, so a
// file that really starts or ends with silence keeps nearly all of it. On
// the untagged fixture this lands within one sample of exact.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	mp3 "github.com/hajimehoshi/go-mp3"
)

const (
	// mp3MaxFile is the largest MP3 file OpenMP3 reads into memory: about
	// an hour at 320 kb/s.
	mp3MaxFile = 128 << 20
	// mp3DecoderDelay is the delay in samples of the Layer III synthesis
	// filterbank (528 + 1), the convention of the LAME tag's delay field.
	mp3DecoderDelay = 529
	// mp3SilenceLevel is the largest sample magnitude (-60 dBFS) that
	// counts as silence when trimming a file without a LAME tag.
	mp3SilenceLevel = 32
	// mp3MaxSilenceTrim caps how many near-silent samples are trimmed at
	// each end of a file without a LAME tag: two MPEG-1 frames, more than
	// any encoder's delay plus the decoder's.
	mp3MaxSilenceTrim = 2 * 1152
)

// MP3Info describes an opened MP3 file and how it is trimmed.
type MP3Info struct {
	// SampleRate is the sample rate in Hz: 32000, 44100 or 48000 (MPEG-1)
	// or 16000, 22050 or 24000 (MPEG-2).
	SampleRate int
	// Channels is 1 for a mono file, 2 otherwise.
	Channels int
	// Frames counts the MPEG audio frames, not counting a Xing/Info frame.
	Frames int
	// Samples is the number of sample frames one pass plays after
	// trimming.
	Samples int64
	// LAMETag reports whether trimming used the encoder delay and padding
	// recorded in a LAME tag, which is exact. When false, leading and
	// trailing near-silence was trimmed instead.
	LAMETag bool
	// EncoderDelay and Padding are the LAME tag's values in samples; zero
	// without a tag.
	EncoderDelay, Padding int
	// LeadingTrim and TrailingTrim are the decoded sample frames dropped at
	// the start of each pass (Info frame, encoder delay, decoder delay) and
	// at its end (padding).
	LeadingTrim, TrailingTrim int64
	// Verified reports that the whole file was decoded at open to check it,
	// because it had no usable LAME tag or its music CRC did not match.
	Verified bool
}

// MP3Source is a [Source] that decodes an MPEG-1 or MPEG-2 Layer III file
// as it is read, trimmed to be gapless when looped (see [MP3Info]). It
// holds the compressed file in memory. It is not safe for concurrent use;
// after Close, ReadPCM and Rewind return [ErrSourceClosed].
type MP3Source struct {
	audio      []byte // the MPEG frames, Info frame included; never written
	info       MP3Info
	start, end int64 // the played range, in decoded sample frames

	dec    *mp3.Decoder
	pos    int64  // decoded sample frames consumed from dec
	buf    []byte // decoded bytes: 16-bit little-endian stereo
	err    error  // sticky decoding error
	closed bool
}

// OpenMP3 reads the MP3 file at path (at most 128 MiB) and returns a source
// that plays it. It fails, naming the problem, if the file is not MPEG-1 or
// MPEG-2 Layer III audio (MPEG-2.5, that is 8, 11.025 and 12 kHz, is not
// supported), is truncated or is corrupt; see [NewMP3Source].
func OpenMP3(path string) (*MP3Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: mp3: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, mp3MaxFile+1))
	if err != nil {
		return nil, fmt.Errorf("audio: mp3: %s: %w", path, err)
	}
	if len(data) > mp3MaxFile {
		return nil, fmt.Errorf("audio: mp3: %s: larger than %d MiB", path, mp3MaxFile>>20)
	}
	m, err := newMP3Source(data)
	if err != nil {
		return nil, fmt.Errorf("audio: mp3: %s: %w", path, err)
	}
	return m, nil
}

// NewMP3Source returns a source that plays the MP3 file held in data. The
// source keeps data and reads it during playback without modifying it, so
// sources may share one slice; the caller must not modify it afterwards.
//
// The file is validated before NewMP3Source returns: it must be an
// unbroken run of Layer III frames of one sample rate, optionally preceded
// by ID3v2 tags and followed by ID3v1, APEv2 or Lyrics3v2 tags. A LAME tag
// is used for exact gapless trimming and to detect truncation and
// corruption; a file without one is decoded once in full to check it.
func NewMP3Source(data []byte) (*MP3Source, error) {
	m, err := newMP3Source(data)
	if err != nil {
		return nil, fmt.Errorf("audio: mp3: %w", err)
	}
	return m, nil
}

func newMP3Source(data []byte) (*MP3Source, error) {
	sc, err := scanMP3(data)
	if err != nil {
		return nil, err
	}
	m := &MP3Source{
		audio: sc.audio,
		buf:   make([]byte, 4*1152),
		info: MP3Info{
			SampleRate: sc.rate,
			Channels:   2,
			Frames:     sc.frames,
		},
	}
	if sc.mono {
		m.info.Channels = 1
	}
	total := int64(sc.frames) * int64(sc.spf) // decoded sample frames
	skip := int64(0)                          // the Info frame's silence
	if sc.xing != nil {
		skip = int64(sc.spf)
		m.info.Frames--
	}
	verify := true
	if x := sc.xing; x != nil && x.lame {
		m.info.LAMETag = true
		m.info.EncoderDelay, m.info.Padding = x.delay, x.padding
		m.start = skip + int64(x.delay) + mp3DecoderDelay
		m.end = min(m.start+x.samples, total)
		verify = !x.crcOK
	}
	if verify {
		lead, tail, err := verifyMP3(sc.audio, skip, total)
		if err != nil {
			return nil, err
		}
		m.info.Verified = true
		if !m.info.LAMETag {
			m.start, m.end = skip+lead, total-tail
		}
	}
	m.info.Samples = m.end - m.start
	m.info.LeadingTrim, m.info.TrailingTrim = m.start, total-m.end
	if m.info.Samples <= 0 {
		return nil, errors.New("no audio samples")
	}
	if err := m.Rewind(); err != nil {
		return nil, err
	}
	return m, nil
}

// Info describes the file and its trimming.
func (m *MP3Source) Info() MP3Info { return m.info }

// SampleRate returns the file's sample rate in Hz.
func (m *MP3Source) SampleRate() int { return m.info.SampleRate }

// Channels returns 1 for a mono file and 2 otherwise.
func (m *MP3Source) Channels() int { return m.info.Channels }

// Rewind restarts decoding at the first frame and skips the leading trim,
// so the samples that follow continue the previous pass without a gap.
func (m *MP3Source) Rewind() error {
	if m.closed {
		return ErrSourceClosed
	}
	dec, err := newMP3Decoder(m.audio)
	if err != nil {
		m.err = fmt.Errorf("audio: mp3: %w", err)
		return m.err
	}
	m.dec, m.pos, m.err = dec, 0, nil
	for m.pos < m.start {
		k := int(min(m.start-m.pos, int64(len(m.buf)/4)))
		n, err := decodeMP3(dec, m.buf[:4*k])
		m.pos += int64(n / 4)
		if err != nil {
			m.err = fmt.Errorf("audio: mp3: decoding: %w", err)
			return m.err
		}
	}
	return nil
}

// ReadPCM decodes the next samples into dst; see [Source].
func (m *MP3Source) ReadPCM(dst []int16) (int, error) {
	if m.closed {
		return 0, ErrSourceClosed
	}
	if m.err != nil {
		return 0, m.err
	}
	ch := m.info.Channels
	want := int(min(int64(len(dst)/ch), m.end-m.pos))
	n := 0
	for n < want {
		k := min(want-n, len(m.buf)/4)
		got, err := decodeMP3(m.dec, m.buf[:4*k])
		frames := got / 4
		b := m.buf[:4*frames]
		out := dst[n*ch : (n+frames)*ch]
		if ch == 1 {
			for i := range out {
				out[i] = int16(binary.LittleEndian.Uint16(b[4*i:]))
			}
		} else {
			for i := range out {
				out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
		}
		n += frames
		m.pos += int64(frames)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// The decoder ended before the trimmed end (padding shorter
			// than the decoder delay): end the pass here.
			m.end = m.pos
			break
		}
		if err != nil {
			m.err = fmt.Errorf("audio: mp3: decoding: %w", err)
			return n * ch, m.err
		}
	}
	if m.pos >= m.end {
		return n * ch, io.EOF
	}
	return n * ch, nil
}

// Close releases the decoder. It is idempotent.
func (m *MP3Source) Close() error {
	m.closed = true
	m.dec = nil
	return nil
}

// newMP3Decoder starts go-mp3 on audio. The reader hides io.Seeker so that
// go-mp3 does not walk (and allocate for) every frame again: scanMP3 has.
func newMP3Decoder(audio []byte) (d *mp3.Decoder, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("decoder failed: %v", r)
		}
	}()
	d, err = mp3.NewDecoder(struct{ io.Reader }{bytes.NewReader(audio)})
	if err != nil {
		return nil, fmt.Errorf("decoder failed: %w", err)
	}
	return d, nil
}

// decodeMP3 fills b from d like io.ReadFull, turning a decoder panic on
// bad input into an error: the library must not crash on a file.
func decodeMP3(d *mp3.Decoder, b []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder failed: %v", r)
		}
	}()
	return io.ReadFull(d, b)
}

// verifyMP3 decodes all of audio, which must yield total sample frames, and
// returns how many near-silent sample frames lead (after the first skip)
// and trail it; see silentRun.
func verifyMP3(audio []byte, skip, total int64) (lead, tail int64, err error) {
	d, err := newMP3Decoder(audio)
	if err != nil {
		return 0, 0, err
	}
	// The magnitudes of the first and (in a ring) the last sample frames,
	// enough to find the silence at each end and the level beyond it.
	const w = mp3MaxSilenceTrim + 1152
	head := make([]uint16, 0, w)
	ring := make([]uint16, w)
	buf := make([]byte, 4*1152*8)
	var pos int64
	for {
		n, err := decodeMP3(d, buf)
		for i := 0; i+4 <= n; i += 4 {
			if pos >= skip {
				l := abs16(int16(binary.LittleEndian.Uint16(buf[i:])))
				r := abs16(int16(binary.LittleEndian.Uint16(buf[i+2:])))
				mag := max(l, r)
				if len(head) < w {
					head = append(head, mag)
				}
				ring[(pos-skip)%w] = mag
			}
			pos++
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("decoding at sample %d: %w", pos, err)
		}
	}
	if pos != total {
		return 0, 0, fmt.Errorf("decoder produced %d of %d samples", pos, total)
	}
	n := pos - skip
	last := make([]uint16, min(n, w)) // the last sample frames, latest first
	for i := range last {
		last[i] = ring[(n-1-int64(i))%w]
	}
	return silentRun(head), silentRun(last), nil
}

// silentRun returns how many of the sample magnitudes mags, listed from one
// end of a file inward, are silence to trim: those at or below
// mp3SilenceLevel or 36 dB under the loudest of mags, whichever is higher,
// up to mp3MaxSilenceTrim. The relative threshold also catches the MDCT
// pre-echo an encoder smears ahead of the first sound (about 40 dB down).
// A run that covers all of mags is not trimmed: that end is genuinely
// quiet.
func silentRun(mags []uint16) int64 {
	var peak uint16
	for _, m := range mags {
		peak = max(peak, m)
	}
	limit := max(mp3SilenceLevel, peak/64)
	for i, m := range mags {
		if m > limit {
			return int64(min(i, mp3MaxSilenceTrim))
		}
	}
	return 0
}

func abs16(v int16) uint16 {
	if v < 0 {
		return uint16(-int32(v))
	}
	return uint16(v)
}

// mp3Header is the part of a Layer III frame header that scanMP3 uses.
type mp3Header struct {
	lsf     bool // MPEG-2 low sampling frequency extension
	rate    int  // Hz
	size    int  // frame length in bytes, header included
	mono    bool
	crc     bool // a 16-bit CRC follows the header
	spf     int  // samples per channel per frame
	sideLen int  // side information bytes
}

// Layer III bit rates in kb/s by bit rate index (ISO/IEC 11172-3 and
// 13818-3); index 0 is free format, which go-mp3 does not support, and 15
// is forbidden.
var (
	mp3Bitrates1 = [15]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}
	mp3Bitrates2 = [15]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}
	mp3Rates1    = [3]int{44100, 48000, 32000}
)

// parseMP3Header decodes the four header bytes in b.
func parseMP3Header(b []byte) (mp3Header, error) {
	var h mp3Header
	if b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return h, errors.New("no frame sync")
	}
	version := b[1] >> 3 & 3 // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
	layer := b[1] >> 1 & 3   // 1: Layer III
	bitrate := int(b[2] >> 4)
	rate := int(b[2] >> 2 & 3)
	switch {
	case version == 1:
		return h, errors.New("reserved MPEG version")
	case version == 0:
		return h, errors.New("MPEG-2.5 (8, 11.025 or 12 kHz) is not supported")
	case layer != 1:
		return h, fmt.Errorf("MPEG layer %d is not supported (only Layer III)", 4-int(layer))
	case bitrate == 0:
		return h, errors.New("free-format bit rate is not supported")
	case bitrate == 15:
		return h, errors.New("invalid bit rate index")
	case rate == 3:
		return h, errors.New("reserved sample rate index")
	case b[3]&3 == 2:
		return h, errors.New("reserved emphasis")
	}
	h.lsf = version == 2
	h.rate = mp3Rates1[rate]
	h.mono = b[3]>>6 == 3
	h.crc = b[1]&1 == 0
	pad := int(b[2] >> 1 & 1)
	if h.lsf {
		h.rate /= 2
		h.spf = 576
		h.size = 72000*mp3Bitrates2[bitrate]/h.rate + pad
		h.sideLen = 17
		if h.mono {
			h.sideLen = 9
		}
	} else {
		h.spf = 1152
		h.size = 144000*mp3Bitrates1[bitrate]/h.rate + pad
		h.sideLen = 32
		if h.mono {
			h.sideLen = 17
		}
	}
	return h, nil
}

// mp3Scan is the structure of a validated MP3 file.
type mp3Scan struct {
	audio    []byte // from the first frame to the end of the last
	frames   int    // all frames, Info frame included
	firstLen int    // length of the first frame
	rate     int
	spf      int
	mono     bool      // every frame is mono
	xing     *xingInfo // the first frame's Xing/Info header, or nil
}

// xingInfo is what a Xing/Info frame and its LAME tag say.
type xingInfo struct {
	frames   int64  // audio frames (Info frame excluded); -1 if absent
	lame     bool   // a LAME tag with a valid CRC and consistent fields
	delay    int    // encoder delay in samples
	padding  int    // padding in samples
	musicLen int64  // bytes from the Info frame to the end of the audio
	musicCRC uint16 // CRC-16 of the audio frames after the Info frame
	samples  int64  // sample frames of the original input
	crcOK    bool   // the music CRC matched
}

// scanMP3 validates the layout of an MP3 file; see the file comment.
func scanMP3(data []byte) (*mp3Scan, error) {
	off := 0
	for len(data)-off >= 10 && string(data[off:off+3]) == "ID3" {
		b := data[off:]
		if b[6]|b[7]|b[8]|b[9] >= 0x80 {
			return nil, errors.New("corrupt ID3v2 tag size")
		}
		n := 10 + (int(b[6])<<21 | int(b[7])<<14 | int(b[8])<<7 | int(b[9]))
		if b[5]&0x10 != 0 {
			n += 10 // footer
		}
		if n > len(b) {
			return nil, errors.New("truncated ID3v2 tag")
		}
		off += n
	}
	end := mp3TrailerStart(data, off)
	if off >= end {
		return nil, errors.New("no MPEG audio frames")
	}
	sc := &mp3Scan{audio: data[off:end], mono: true}
	for pos := off; pos < end; {
		if end-pos < 4 {
			if sc.frames == 0 {
				return nil, errors.New("not an MPEG audio file: too short")
			}
			return nil, fmt.Errorf("truncated frame header at byte %d", pos)
		}
		h, err := parseMP3Header(data[pos : pos+4])
		if err != nil {
			if sc.frames == 0 {
				return nil, fmt.Errorf("not an MPEG audio file: %v at byte %d", err, pos)
			}
			return nil, fmt.Errorf("corrupt frame at byte %d: %v", pos, err)
		}
		if sc.frames == 0 {
			sc.rate, sc.spf, sc.firstLen = h.rate, h.spf, h.size
		} else if h.rate != sc.rate {
			return nil, fmt.Errorf("corrupt frame at byte %d: sample rate changes from %d to %d Hz", pos, sc.rate, h.rate)
		}
		if pos+h.size > end {
			return nil, fmt.Errorf("truncated: the frame at byte %d needs %d bytes, %d remain", pos, h.size, end-pos)
		}
		if sc.frames == 0 {
			sc.xing = parseXing(data[pos:pos+h.size], h)
		}
		sc.mono = sc.mono && h.mono
		sc.frames++
		pos += h.size
	}
	audioFrames := sc.frames
	if sc.xing != nil {
		audioFrames--
		if err := sc.xing.check(sc, audioFrames); err != nil {
			return nil, err
		}
	}
	if audioFrames == 0 {
		return nil, errors.New("no MPEG audio frames")
	}
	return sc, nil
}

// mp3TrailerStart returns where the tags at the end of data begin: ID3v1
// (last), preceded by APEv2 or Lyrics3v2 tags. It never returns less than
// lo.
func mp3TrailerStart(data []byte, lo int) int {
	end := len(data)
	if end-lo >= 128 && string(data[end-128:end-125]) == "TAG" {
		end -= 128
	}
	for range 2 {
		switch {
		case end-lo >= 32 && string(data[end-32:end-24]) == "APETAGEX":
			f := data[end-32:]
			n := int64(binary.LittleEndian.Uint32(f[12:]))
			if binary.LittleEndian.Uint32(f[20:])&(1<<31) != 0 {
				n += 32 // header
			}
			if n >= 32 && n <= int64(end-lo) {
				end -= int(n)
			}
		case end-lo >= 15 && string(data[end-9:end]) == "LYRICS200":
			n := 0
			for _, c := range data[end-15 : end-9] {
				if c < '0' || c > '9' {
					return end
				}
				n = n*10 + int(c-'0')
			}
			if n+15 <= end-lo {
				end -= n + 15
			}
		}
	}
	return end
}

// parseXing reads a Xing or Info header and LAME tag from the first frame
// f, or returns nil if there is none. A LAME tag whose own CRC fails is
// ignored. Layout: https://wiki.hydrogenaud.io/index.php?title=LAME#VBR_header_and_LAME_tag
// and http://gabriel.mp3-tech.org/mp3infotag.html.
func parseXing(f []byte, h mp3Header) *xingInfo {
	p := 4 + h.sideLen
	if h.crc {
		p += 2
	}
	if len(f) < p+8 || (string(f[p:p+4]) != "Xing" && string(f[p:p+4]) != "Info") {
		return nil
	}
	x := &xingInfo{frames: -1}
	flags := binary.BigEndian.Uint32(f[p+4:])
	p += 8
	for bit, size := range [4]int{4, 4, 100, 4} { // frames, bytes, TOC, quality
		if flags&(1<<bit) == 0 {
			continue
		}
		if len(f) < p+size {
			return x
		}
		if bit == 0 {
			x.frames = int64(binary.BigEndian.Uint32(f[p:]))
		}
		p += size
	}
	const lameLen = 36
	if len(f) < p+lameLen {
		return x
	}
	t := f[p : p+lameLen]
	switch string(t[:4]) {
	case "LAME", "Lavf", "Lavc", "L3.9":
	default:
		return x
	}
	if crc16(f[:p+34]) != binary.BigEndian.Uint16(t[34:]) {
		return x
	}
	x.lame = true
	x.delay = int(t[21])<<4 | int(t[22])>>4
	x.padding = int(t[22]&0x0f)<<8 | int(t[23])
	x.musicLen = int64(binary.BigEndian.Uint32(t[28:]))
	x.musicCRC = binary.BigEndian.Uint16(t[32:])
	return x
}

// check validates the LAME tag against the scanned frames and fills in the
// sample count. A tag that does not describe this file is dropped rather
// than trusted; a file shorter than its tag says is truncated.
func (x *xingInfo) check(sc *mp3Scan, audioFrames int) error {
	if x.frames > int64(audioFrames)+1 {
		return fmt.Errorf("truncated: the Xing header counts %d frames, the file has %d", x.frames, audioFrames)
	}
	if !x.lame {
		return nil
	}
	x.lame = false
	if x.musicLen != 0 {
		if int64(len(sc.audio)) < x.musicLen {
			return fmt.Errorf("truncated: the LAME tag counts %d bytes of audio, the file has %d", x.musicLen, len(sc.audio))
		}
		if int64(len(sc.audio)) > x.musicLen {
			return nil // appended to after encoding: the tag is stale
		}
	}
	samples := int64(audioFrames)*int64(sc.spf) - int64(x.delay) - int64(x.padding)
	if samples <= 0 || (x.frames >= 0 && x.frames != int64(audioFrames)) {
		return nil
	}
	x.crcOK = x.musicLen != 0 && crc16(sc.audio[sc.firstLen:]) == x.musicCRC
	x.lame, x.samples = true, samples
	return nil
}

// crc16Table drives crc16. It is computed at package initialisation and
// never written afterwards.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xa001
			} else {
				crc >>= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// crc16 is the CRC-16 of b with polynomial 0x8005, bit-reflected, zero
// initial value (CRC-16/ARC): the CRC of the LAME tag and its music CRC.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc>>8 ^ crc16Table[byte(crc)^c]
	}
	return crc
}
