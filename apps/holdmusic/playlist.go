package holdmusic

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-sip/switchboard/media/audio"
)

// MaxPlaylist is the most audio a Dir playlist may hold. Its files are
// kept in memory as 8 kHz mono PCM, 16 kB per second: 30 minutes is about
// 29 MB.
const MaxPlaylist = 30 * time.Minute

// playlistRate is the rate of the playlist's PCM: the rate the Player
// sends, so it resamples nothing.
const playlistRate = 8000

// openFile opens an MP3 or WAV file as a Source, by its extension.
func openFile(path string) (audio.Source, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mp3":
		src, err := audio.OpenMP3(path)
		if err != nil {
			return nil, err
		}
		return src, nil
	case ".wav":
		return audio.OpenWAVSource(path)
	}
	return nil, fmt.Errorf("%s: not an .mp3 or .wav file", path)
}

// playlist is a Source of 8 kHz mono tracks played one after another. It
// is not safe for concurrent use (the Player serialises its calls).
type playlist struct {
	tracks  [][]int16 // never written after openPlaylist
	order   []int     // indexes into tracks for the current pass
	cur     int       // position in order
	pos     int       // sample position in the current track
	shuffle bool
	closed  bool
}

// openPlaylist decodes the .mp3 and .wav files of dir, in name order, to
// 8 kHz mono. It fails if dir holds none, if any file fails to open or
// decode, or if they hold more than limit of audio.
func openPlaylist(dir string, shuffle bool, limit time.Duration) (audio.Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.Type().IsRegular() && !strings.HasPrefix(name, ".") && (ext == ".mp3" || ext == ".wav") {
			files = append(files, filepath.Join(dir, name))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("directory %s holds no .mp3 or .wav file", dir)
	}
	slices.Sort(files)
	budget := int(limit * playlistRate / time.Second)
	p := &playlist{shuffle: shuffle}
	for _, f := range files {
		pcm, err := decode8kMono(f, budget)
		if errors.Is(err, errTooLong) {
			return nil, fmt.Errorf("directory %s holds more than %v of audio", dir, limit)
		}
		if err != nil {
			return nil, err
		}
		budget -= len(pcm)
		if len(pcm) > 0 {
			p.tracks = append(p.tracks, pcm)
		}
	}
	if len(p.tracks) == 0 {
		return nil, fmt.Errorf("directory %s holds no audio", dir)
	}
	p.order = make([]int, len(p.tracks))
	for i := range p.order {
		p.order[i] = i
	}
	if shuffle {
		rand.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
	}
	return p, nil
}

// errTooLong reports a playlist over budget.
var errTooLong = errors.New("too long")

// decode8kMono decodes the file at path to 8 kHz mono PCM, failing with
// errTooLong past budget samples.
func decode8kMono(path string, budget int) ([]int16, error) {
	src, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	rs, err := audio.NewResampler(src.SampleRate(), playlistRate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out, err := resampleAll(src, rs, nil, budget)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out = rs.Flush(out)
	if len(out) > budget {
		return nil, errTooLong
	}
	return out, nil
}

// decodeLoop decodes a looping source once, at start-up, to 8 kHz mono:
// the Player then copies 160 samples a tick instead of decoding MP3 and
// resampling, which cost about 3 % of a core per source on this machine
// (8 % of the profile of music to 1,000 listeners, bench/floor). The
// source is read twice through one resampler and the second pass kept,
// so the resampler's state at the loop point is that of the previous
// pass's end: the loop stays gapless. It fails with errTooLong past
// budget samples.
func decodeLoop(src audio.Source, budget int) ([]int16, error) {
	rs, err := audio.NewResampler(src.SampleRate(), playlistRate)
	if err != nil {
		return nil, err
	}
	first, err := resampleAll(src, rs, nil, budget)
	if err != nil {
		return nil, err
	}
	if err := src.Rewind(); err != nil {
		return nil, err
	}
	all, err := resampleAll(src, rs, first, budget+len(first))
	if err != nil {
		return nil, err
	}
	return slices.Clip(all[len(first):]), nil
}

// resampleAll appends all of src, downmixed to mono and resampled by rs,
// to out, failing with errTooLong once out holds more than budget samples.
func resampleAll(src audio.Source, rs *audio.Resampler, out []int16, budget int) ([]int16, error) {
	ch := src.Channels()
	buf := make([]int16, 4096*ch)
	var mono []int16
	for empty := 0; ; {
		n, err := src.ReadPCM(buf)
		in := buf[:n]
		if ch == 2 {
			mono = audio.DownmixStereo(mono[:0], in)
			in = mono
		}
		out = rs.Process(out, in)
		if len(out) > budget {
			return nil, errTooLong
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if empty++; empty == 8 {
				return nil, errors.New("decoder returns no audio")
			}
		}
	}
	return out, nil
}

func (p *playlist) ReadPCM(dst []int16) (int, error) {
	if p.closed {
		return 0, audio.ErrSourceClosed
	}
	n := 0
	for n < len(dst) && p.cur < len(p.order) {
		t := p.tracks[p.order[p.cur]]
		k := copy(dst[n:], t[p.pos:])
		n += k
		p.pos += k
		if p.pos == len(t) {
			p.cur, p.pos = p.cur+1, 0
		}
	}
	if p.cur == len(p.order) {
		return n, io.EOF
	}
	return n, nil
}

func (p *playlist) SampleRate() int { return playlistRate }
func (p *playlist) Channels() int   { return 1 }

// Rewind starts the next pass; with shuffle, in a new order whose first
// track is not the one that just played.
func (p *playlist) Rewind() error {
	if p.closed {
		return audio.ErrSourceClosed
	}
	p.cur, p.pos = 0, 0
	if p.shuffle && len(p.order) > 1 {
		last := p.order[len(p.order)-1]
		rand.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
		if p.order[0] == last {
			k := 1 + rand.IntN(len(p.order)-1)
			p.order[0], p.order[k] = p.order[k], p.order[0]
		}
	}
	return nil
}

func (p *playlist) Close() error {
	p.closed = true
	return nil
}
