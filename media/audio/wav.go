package audio

// This file reads and writes RIFF/WAVE files with a small hand-written chunk
// parser rather than github.com/go-audio/wav. That package has no µ-law or
// A-law support, which telephony prompts commonly use; it decodes into int
// buffers that would need a second conversion pass; and its readers trust
// the header's sizes. The parser here handles every format this package
// accepts in one place, never allocates more than the input actually
// delivers, and reports truncation and corruption as errors.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// Clip is decoded PCM: interleaved int16 samples.
type Clip struct {
	// SampleRate is the number of sample frames per second.
	SampleRate int
	// Channels is the number of interleaved channels: 1 (mono) or 2
	// (stereo, left first).
	Channels int
	// Samples holds the interleaved samples; its length is a multiple of
	// Channels.
	Samples []int16
}

// Mono returns the clip's audio as mono PCM at rate Hz: stereo is
// downmixed and other rates are resampled; a mono clip at rate is returned
// as it is, not copied. Calls at 8 kHz (G.711) use Mono(8000).
func (a *Clip) Mono(rate int) ([]int16, error) {
	s := a.Samples
	switch a.Channels {
	case 1:
	case 2:
		s = DownmixStereo(nil, s)
	default:
		return nil, fmt.Errorf("audio: %d channels not supported", a.Channels)
	}
	if a.SampleRate == rate {
		return s, nil
	}
	r, err := NewResampler(a.SampleRate, rate)
	if err != nil {
		return nil, err
	}
	return r.Flush(r.Process(nil, s)), nil
}

// Duration returns the playing time of a. It returns 0 if SampleRate or
// Channels is not positive.
func (a *Clip) Duration() time.Duration {
	if a.SampleRate <= 0 || a.Channels <= 0 {
		return 0
	}
	frames := int64(len(a.Samples) / a.Channels)
	rate := int64(a.SampleRate)
	// Split into whole seconds and remainder so large inputs cannot overflow.
	return time.Duration(frames/rate)*time.Second + time.Duration(frames%rate)*time.Second/time.Duration(rate)
}

// WAVE format tags accepted by ReadWAV.
const (
	wavFormatPCM        = 0x0001
	wavFormatFloat      = 0x0003
	wavFormatALaw       = 0x0006
	wavFormatMuLaw      = 0x0007
	wavFormatExtensible = 0xfffe
)

// wavSubFormatSuffix is bytes 2–15 of the KSDATAFORMAT_SUBTYPE GUIDs
// (xxxx0000-0000-0010-8000-00aa00389b71) that WAVE_FORMAT_EXTENSIBLE uses to
// carry a classic format tag in its first two bytes.
const wavSubFormatSuffix = "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

// wavUnknownSize is the data chunk size that streaming writers (and
// WAVWriter until Close) put in the header when the length is not yet
// known. ReadWAV then reads sample data up to the end of the input.
const wavUnknownSize = 0xffffffff

// wavFormat is the part of a fmt chunk that ReadWAV uses.
type wavFormat struct {
	tag        uint16 // after unwrapping WAVE_FORMAT_EXTENSIBLE
	channels   int
	sampleRate int
	bits       int // container bits per sample
}

// ReadWAV decodes a RIFF/WAVE stream. It accepts integer PCM of 8, 16, 24 or
// 32 bits, 32-bit IEEE float, WAVE_FORMAT_MULAW (7), WAVE_FORMAT_ALAW (6),
// and WAVE_FORMAT_EXTENSIBLE wrapping any of these, at any sample rate with
// one or two channels. Samples wider than 16 bits keep their top 16 bits.
//
// Sample data ends at the end of the data chunk; chunks after it are not
// read. A data chunk size of 0xFFFFFFFF, written by streaming tools that
// cannot seek back, means the data runs to the end of r. A trailing partial
// sample frame is dropped. A header that promises more data than r delivers
// yields an error rather than a short result, and memory use is bounded by
// what r actually delivers, not by what the header claims.
func ReadWAV(r io.Reader) (*Clip, error) {
	a, err := readWAV(r)
	if err != nil {
		return nil, fmt.Errorf("audio: wav: %w", err)
	}
	return a, nil
}

// OpenWAV reads the WAV file at path with [ReadWAV].
func OpenWAV(path string) (*Clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: wav: %w", err)
	}
	defer f.Close()
	a, err := readWAV(bufio.NewReaderSize(f, 32<<10))
	if err != nil {
		return nil, fmt.Errorf("audio: wav: %s: %w", path, err)
	}
	return a, nil
}

func readWAV(r io.Reader) (*Clip, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, readErr("RIFF header", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	// The RIFF size is ignored: writers often get it wrong, and the chunks
	// themselves say how much follows.
	var format *wavFormat
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if err == io.EOF {
				if format == nil {
					return nil, errors.New("no fmt chunk")
				}
				return nil, errors.New("no data chunk")
			}
			return nil, readErr("chunk header", err)
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			f, err := readFormat(r, size)
			if err != nil {
				return nil, err
			}
			format = f
		case "data":
			if format == nil {
				return nil, errors.New("data chunk before fmt chunk")
			}
			return readData(r, format, size)
		default:
			if err := wavSkip(r, int64(size)+int64(size&1)); err != nil {
				return nil, readErr(fmt.Sprintf("%q chunk", sanitizeID(id)), err)
			}
		}
	}
}

// readErr turns a read failure into a parse error naming what was being
// read. Running out of input is reported as truncation.
func readErr(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("truncated %s", what)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// sanitizeID makes a chunk ID safe to put in an error message.
func sanitizeID(id string) string {
	b := []byte(id)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// wavSkip discards n bytes of r. Discarding streams through a small buffer,
// so a lying chunk size costs reading to the end of r, never memory.
func wavSkip(r io.Reader, n int64) error {
	got, err := io.CopyN(io.Discard, r, n)
	if got < n && err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readFormat parses a fmt chunk of the given size, consuming it and its pad
// byte.
func readFormat(r io.Reader, size uint32) (*wavFormat, error) {
	if size < 16 {
		return nil, fmt.Errorf("fmt chunk too short (%d bytes)", size)
	}
	// A fmt chunk holds at most 40 meaningful bytes; skip anything beyond so
	// a lying size cannot make us buffer it.
	var buf [40]byte
	n := min(size, uint32(len(buf)))
	b := buf[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, readErr("fmt chunk", err)
	}
	if err := wavSkip(r, int64(size-n)+int64(size&1)); err != nil {
		return nil, readErr("fmt chunk", err)
	}
	le := binary.LittleEndian
	f := &wavFormat{
		tag:        le.Uint16(b[0:2]),
		channels:   int(le.Uint16(b[2:4])),
		sampleRate: int(le.Uint32(b[4:8])),
		bits:       int(le.Uint16(b[14:16])),
	}
	if f.tag == wavFormatExtensible {
		// cbSize(2) validBits(2) channelMask(4) subFormat(16).
		if len(b) < 40 || le.Uint16(b[16:18]) < 22 {
			return nil, errors.New("WAVE_FORMAT_EXTENSIBLE fmt chunk too short")
		}
		if string(b[26:40]) != wavSubFormatSuffix {
			return nil, errors.New("unsupported WAVE_FORMAT_EXTENSIBLE sub-format")
		}
		f.tag = le.Uint16(b[24:26])
	}
	switch {
	case f.tag == wavFormatPCM && (f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32):
	case f.tag == wavFormatFloat && f.bits == 32:
	case (f.tag == wavFormatMuLaw || f.tag == wavFormatALaw) && f.bits == 8:
	default:
		return nil, fmt.Errorf("unsupported format (tag %#04x, %d bits per sample)", f.tag, f.bits)
	}
	if f.channels != 1 && f.channels != 2 {
		return nil, fmt.Errorf("unsupported channel count %d", f.channels)
	}
	if f.sampleRate == 0 {
		return nil, errors.New("sample rate is zero")
	}
	if checkWAVParams(f.sampleRate, f.channels) != nil {
		// WriteWAV could not describe this rate as 16-bit PCM.
		return nil, fmt.Errorf("sample rate %d too high", f.sampleRate)
	}
	return f, nil
}

// wavReadBlock is how many bytes readData converts at a time. It is a
// multiple of every possible frame size (1, 2, 3, 4, 6 and 8 bytes).
const wavReadBlock = 24 << 10

// wavMaxPrealloc caps how many samples readData reserves up front on the
// strength of the header alone.
const wavMaxPrealloc = 1 << 20

func readData(r io.Reader, f *wavFormat, size uint32) (*Clip, error) {
	bytesPerSample := f.bits / 8
	frame := bytesPerSample * f.channels
	unknown := size == wavUnknownSize
	a := &Clip{SampleRate: f.sampleRate, Channels: f.channels}
	if !unknown {
		a.Samples = make([]int16, 0, min(int(size)/bytesPerSample, wavMaxPrealloc))
	}
	bufLen := wavReadBlock
	if !unknown && int64(size) < int64(bufLen) {
		bufLen = int(size)
	}
	buf := make([]byte, bufLen)
	remaining := int64(size)
	for unknown || remaining > 0 {
		want := len(buf)
		if !unknown {
			want = int(min(int64(want), remaining))
		}
		n, err := io.ReadFull(r, buf[:want])
		whole := n - n%frame
		a.Samples = decodeSamples(a.Samples, buf[:whole], f)
		remaining -= int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if unknown {
				break
			}
			return nil, fmt.Errorf("truncated data chunk (%d of %d bytes)", int64(size)-remaining, size)
		}
		if err != nil {
			return nil, readErr("data chunk", err)
		}
		if n%frame != 0 {
			// Only the final read can end mid-frame (buf holds whole
			// frames), so this is a partial trailing frame: drop it.
			break
		}
	}
	return a, nil
}

// decodeSamples appends the samples in b, which holds whole frames of
// format f, to dst.
func decodeSamples(dst []int16, b []byte, f *wavFormat) []int16 {
	switch f.tag {
	case wavFormatMuLaw:
		return codec.PCMU().Decode(dst, b)
	case wavFormatALaw:
		return codec.PCMA().Decode(dst, b)
	case wavFormatFloat:
		for i := 0; i+4 <= len(b); i += 4 {
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))) * 32768
			dst = append(dst, roundToInt16(v))
		}
		return dst
	}
	switch f.bits {
	case 8:
		for _, c := range b {
			dst = append(dst, (int16(c)-128)<<8)
		}
	case 16:
		for i := 0; i+2 <= len(b); i += 2 {
			dst = append(dst, int16(binary.LittleEndian.Uint16(b[i:])))
		}
	case 24:
		for i := 0; i+3 <= len(b); i += 3 {
			dst = append(dst, int16(binary.LittleEndian.Uint16(b[i+1:])))
		}
	case 32:
		for i := 0; i+4 <= len(b); i += 4 {
			dst = append(dst, int16(binary.LittleEndian.Uint16(b[i+2:])))
		}
	}
	return dst
}

// roundToInt16 rounds v to the nearest int16, saturating at the limits. NaN
// becomes 0.
func roundToInt16(v float64) int16 {
	switch {
	case v != v:
		return 0
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	}
	return int16(math.Round(v))
}

// wavHeaderSize is the size of the canonical header WriteWAV and WAVWriter
// produce: RIFF header, 16-byte fmt chunk and data chunk header.
const wavHeaderSize = 44

// wavMaxData is the largest data chunk a canonical file can describe.
const wavMaxData = math.MaxUint32 - (wavHeaderSize - 8)

func checkWAVParams(sampleRate, channels int) error {
	if channels != 1 && channels != 2 {
		return fmt.Errorf("audio: wav: unsupported channel count %d", channels)
	}
	if sampleRate <= 0 || int64(sampleRate)*int64(channels)*2 > math.MaxUint32 {
		return fmt.Errorf("audio: wav: invalid sample rate %d", sampleRate)
	}
	return nil
}

// wavHeader returns a canonical 16-bit PCM header. dataBytes of
// wavUnknownSize marks both sizes as unknown.
func wavHeader(sampleRate, channels int, dataBytes uint32) [wavHeaderSize]byte {
	var h [wavHeaderSize]byte
	le := binary.LittleEndian
	riffSize := uint32(wavUnknownSize)
	if dataBytes != wavUnknownSize {
		riffSize = dataBytes + wavHeaderSize - 8
	}
	copy(h[0:4], "RIFF")
	le.PutUint32(h[4:8], riffSize)
	copy(h[8:16], "WAVEfmt ")
	le.PutUint32(h[16:20], 16)
	le.PutUint16(h[20:22], wavFormatPCM)
	le.PutUint16(h[22:24], uint16(channels))
	le.PutUint32(h[24:28], uint32(sampleRate))
	le.PutUint32(h[28:32], uint32(sampleRate*channels*2))
	le.PutUint16(h[32:34], uint16(channels*2))
	le.PutUint16(h[34:36], 16)
	copy(h[36:40], "data")
	le.PutUint32(h[40:44], dataBytes)
	return h
}

// putSamples encodes samples as 16-bit little-endian into b, which must be
// at least 2*len(samples) long.
func putSamples(b []byte, samples []int16) {
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
}

// WriteWAV writes a to w as a canonical 16-bit PCM WAV file. a must have one
// or two channels, a positive sample rate, and a whole number of frames.
func WriteWAV(w io.Writer, a *Clip) error {
	if a == nil {
		return errors.New("audio: wav: nil Clip")
	}
	if err := checkWAVParams(a.SampleRate, a.Channels); err != nil {
		return err
	}
	if len(a.Samples)%a.Channels != 0 {
		return fmt.Errorf("audio: wav: %d samples is not a whole number of %d-channel frames", len(a.Samples), a.Channels)
	}
	if int64(len(a.Samples))*2 > wavMaxData {
		return errors.New("audio: wav: audio too long for a WAV file")
	}
	h := wavHeader(a.SampleRate, a.Channels, uint32(len(a.Samples)*2))
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("audio: wav: %w", err)
	}
	var buf [4096]byte
	for s := a.Samples; len(s) > 0; {
		n := min(len(s), len(buf)/2)
		putSamples(buf[:], s[:n])
		if _, err := w.Write(buf[:2*n]); err != nil {
			return fmt.Errorf("audio: wav: %w", err)
		}
		s = s[n:]
	}
	return nil
}

// WAVWriter streams 16-bit PCM to a file and fixes the RIFF/data sizes on
// Close (for recorders). Until Close the header marks both sizes as unknown
// (0xFFFFFFFF), so [ReadWAV] can still read a file whose writer never closed
// it. A WAVWriter is safe for concurrent use.
type WAVWriter struct {
	mu        sync.Mutex
	path      string
	f         *os.File
	bw        *bufio.Writer
	dataBytes int64
	scratch   []byte
	err       error // first write error; sticky
	closed    bool
	closeErr  error
}

// CreateWAV creates (or truncates) the file at path and writes a 16-bit PCM
// WAV header for the given sample rate and channel count (1 or 2).
func CreateWAV(path string, sampleRate, channels int) (*WAVWriter, error) {
	if err := checkWAVParams(sampleRate, channels); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("audio: wav: %w", err)
	}
	w := &WAVWriter{path: path, f: f, bw: bufio.NewWriterSize(f, 32<<10), scratch: make([]byte, 4096)}
	h := wavHeader(sampleRate, channels, wavUnknownSize)
	if _, err := w.bw.Write(h[:]); err != nil {
		f.Close()
		return nil, fmt.Errorf("audio: wav: %w", err)
	}
	return w, nil
}

// Write appends interleaved samples to the file. Samples of one frame may be
// split across calls, but the total written by Close should be a whole
// number of frames. After a failed Write every later Write returns the same
// error.
func (w *WAVWriter) Write(samples []int16) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("audio: wav: write to closed WAVWriter")
	}
	if w.err != nil {
		return w.err
	}
	if w.dataBytes+int64(len(samples))*2 > wavMaxData {
		w.err = fmt.Errorf("audio: wav: %s: WAV size limit (4 GiB) reached", w.path)
		return w.err
	}
	for s := samples; len(s) > 0; {
		n := min(len(s), len(w.scratch)/2)
		putSamples(w.scratch, s[:n])
		if _, err := w.bw.Write(w.scratch[:2*n]); err != nil {
			w.err = fmt.Errorf("audio: wav: %w", err)
			return w.err
		}
		w.dataBytes += int64(2 * n)
		s = s[n:]
	}
	return nil
}

// Close flushes buffered samples, writes the final sizes into the header and
// closes the file. Close is idempotent: later calls do nothing and return
// the result of the first.
func (w *WAVWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	err := w.bw.Flush()
	if err == nil {
		var sz [4]byte
		binary.LittleEndian.PutUint32(sz[:], uint32(w.dataBytes)+wavHeaderSize-8)
		_, err = w.f.WriteAt(sz[:], 4)
		if err == nil {
			binary.LittleEndian.PutUint32(sz[:], uint32(w.dataBytes))
			_, err = w.f.WriteAt(sz[:], 40)
		}
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		w.closeErr = fmt.Errorf("audio: wav: %w", err)
	}
	return w.closeErr
}
