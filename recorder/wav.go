package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// This file is a small streaming WAV writer of its own rather than
// media/audio's WAVWriter, which a recorder cannot use as it is: that one
// writes only 16-bit PCM in one or two channels to a path, keeps the sizes
// "unknown" until Close and never syncs. A recording must survive a kill
// -9 of the server, so the sizes in the header are rewritten about once a
// second, after the audio they describe has been synced, and a reader
// (sox, ffmpeg) always finds a header that promises no more than the file
// holds; it must also write G.711 with the µ-law (7) and A-law (6) format
// tags, whose fmt chunk has cbSize and which need a fact chunk, any number
// of channels, and go through a Storage rather than a path.

// WAVE format tags (RFC 2361 appendix A).
const (
	wavPCM   = 1
	wavALaw  = 6
	wavMuLaw = 7
)

// maxWAVData is the largest data chunk a WAV header can describe, less
// the headers: a RIFF size is 32 bits.
const maxWAVData = math.MaxUint32 - 128

// errWAVFull is the error of a recording that reached the 4 GiB WAV limit.
var errWAVFull = errors.New("recorder: WAV size limit (4 GiB) reached")

// wavWriter streams interleaved frames to a File. It is used by one
// goroutine (the recorder's clock).
type wavWriter struct {
	f        File
	name     string
	format   uint16
	enc      codec.Codec // G.711 codec of format 6 and 7
	channels int
	rate     int
	block    int // bytes per sample frame (all channels)
	hdr      []byte
	buf      []byte // encoded audio not yet written
	written  int64  // bytes of audio accepted by the file
	synced   int64  // audio bytes the header last described
	err      error  // first failure; sticky
}

// newWAVWriter writes the header of an empty file of the given format.
// buffer is how much audio the writer buffers between flushes (the sync
// interval).
func newWAVWriter(f File, name string, enc Encoding, channels, rate int, buffer time.Duration) (*wavWriter, error) {
	w := &wavWriter{f: f, name: name, channels: channels, rate: rate}
	switch enc {
	case PCMU:
		w.format, w.enc, w.block = wavMuLaw, codec.PCMU(), channels
	case PCMA:
		w.format, w.enc, w.block = wavALaw, codec.PCMA(), channels
	default:
		w.format, w.block = wavPCM, 2*channels
	}
	w.hdr = w.header(0)
	// Room for the interval and half a second more: appends never grow it.
	w.buf = make([]byte, 0, int64(w.block*rate)*int64(buffer+time.Second/2)/int64(time.Second))
	if _, err := f.Write(w.hdr); err != nil {
		return nil, fmt.Errorf("recorder: %s: %w", name, err)
	}
	return w, nil
}

// header returns the header for data bytes of audio: RIFF, fmt (16 bytes
// for PCM; 18 with cbSize = 0 and a fact chunk for G.711, which is not
// PCM), data.
func (w *wavWriter) header(data uint32) []byte {
	le := binary.LittleEndian
	h := w.hdr[:0]
	if h == nil {
		h = make([]byte, 0, 58)
	}
	fmtSize := uint32(16)
	if w.format != wavPCM {
		fmtSize = 18
	}
	bits := uint16(16)
	if w.format != wavPCM {
		bits = 8
	}
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, 0) // patched below
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, fmtSize)
	h = le.AppendUint16(h, w.format)
	h = le.AppendUint16(h, uint16(w.channels))
	h = le.AppendUint32(h, uint32(w.rate))
	h = le.AppendUint32(h, uint32(w.rate*w.block))
	h = le.AppendUint16(h, uint16(w.block))
	h = le.AppendUint16(h, bits)
	if w.format != wavPCM {
		h = le.AppendUint16(h, 0) // cbSize
		h = append(h, "fact"...)
		h = le.AppendUint32(h, 4)
		h = le.AppendUint32(h, data/uint32(w.block)) // samples per channel
	}
	h = append(h, "data"...)
	h = le.AppendUint32(h, data)
	le.PutUint32(h[4:], uint32(len(h))-8+data+data&1)
	return h
}

// writeFrame encodes one frame of interleaved samples into the buffer.
func (w *wavWriter) writeFrame(pcm []int16) {
	if w.err != nil {
		return
	}
	if w.written+int64(len(w.buf))+int64(len(pcm)*w.block/w.channels) > maxWAVData {
		w.err = fmt.Errorf("recorder: %s: %w", w.name, errWAVFull)
		return
	}
	if w.enc != nil {
		w.buf = w.enc.Encode(w.buf, pcm)
		return
	}
	for _, s := range pcm {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(s))
	}
}

// flush writes the buffered audio to the file.
func (w *wavWriter) flush() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	n, err := w.f.Write(w.buf)
	w.written += int64(n)
	w.buf = w.buf[:0]
	if err != nil {
		w.err = fmt.Errorf("recorder: %s: %w", w.name, err)
	}
	return w.err
}

// checkpoint makes what was written durable and readable: flush, sync,
// then rewrite the header's sizes (whole sample frames only) to describe
// it. After a failed write it still tries to describe what the file
// accepted, so it stays valid.
func (w *wavWriter) checkpoint() error {
	ferr := w.flush()
	data := w.written - w.written%int64(w.block)
	if data == w.synced && ferr == nil {
		return nil
	}
	if err := w.f.Sync(); err != nil && ferr == nil {
		w.err = fmt.Errorf("recorder: %s: sync: %w", w.name, err)
		ferr = w.err
	}
	w.hdr = w.header(uint32(data))
	if _, err := w.f.WriteAt(w.hdr, 0); err != nil {
		if ferr == nil {
			w.err = fmt.Errorf("recorder: %s: header: %w", w.name, err)
			ferr = w.err
		}
		return ferr
	}
	w.synced = data
	return ferr
}

// close checkpoints, pads an odd data chunk (RIFF chunks are word
// aligned), syncs and closes the file. It returns the first error.
func (w *wavWriter) close() error {
	err := w.checkpoint()
	if err == nil && w.synced&1 == 1 && w.written == w.synced {
		if _, perr := w.f.Write([]byte{0}); perr != nil {
			err = fmt.Errorf("recorder: %s: %w", w.name, perr)
		}
	}
	if serr := w.f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("recorder: %s: sync: %w", w.name, serr)
	}
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("recorder: %s: %w", w.name, cerr)
	}
	return err
}
