package audio_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// A WAV file at CD quality, stereo, made ready for a phone call: decode,
// downmix to mono, resample to 8 kHz. The tone is still there afterwards.
func ExampleReadWAV() {
	// A one-second 440 Hz stereo WAV, written in memory for the example;
	// a real application would use audio.OpenWAV(path).
	mono := dsp.Sine(44100, 440, time.Second, 0.5)
	stereo := make([]int16, 0, 2*len(mono))
	for _, s := range mono {
		stereo = append(stereo, s, s)
	}
	var file bytes.Buffer
	if err := audio.WriteWAV(&file, &audio.Clip{SampleRate: 44100, Channels: 2, Samples: stereo}); err != nil {
		fmt.Println(err)
		return
	}

	clip, err := audio.ReadWAV(&file)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("decoded: %d Hz, %d channels, %d samples, %v\n",
		clip.SampleRate, clip.Channels, len(clip.Samples), clip.Duration())

	r, err := audio.NewResampler(clip.SampleRate, 8000)
	if err != nil {
		fmt.Println(err)
		return
	}
	pcm := r.Process(nil, audio.DownmixStereo(nil, clip.Samples))
	pcm = r.Flush(pcm) // the last few ms, which wait for input that never comes
	fmt.Printf("for the phone: %d samples at 8 kHz, 440 Hz tone: %v\n", len(pcm), dsp.HasTone(pcm, 8000, 440))
	// Output:
	// decoded: 44100 Hz, 2 channels, 88200 samples, 1s
	// for the phone: 8000 samples at 8 kHz, 440 Hz tone: true
}

// Resampling a stream in chunks gives exactly the samples of one call
// with the whole stream: a Resampler keeps its state between calls.
func ExampleResampler() {
	in := dsp.Sine(16000, 1000, 100*time.Millisecond, 0.5) // 1600 samples of wideband audio
	r, _ := audio.NewResampler(16000, 8000)

	var out []int16
	for chunk := range slices.Chunk(in, 320) { // 20 ms at a time, as it arrives
		out = r.Process(out, chunk)
	}
	out = r.Flush(out)
	fmt.Println(len(in), "samples at 16 kHz ->", len(out), "at 8 kHz")
	// Output:
	// 1600 samples at 16 kHz -> 800 at 8 kHz
}

// An MP3 file is decoded gaplessly (encoder delay and padding removed) as
// a Source, the interface a Player plays.
func ExampleOpenMP3() {
	src, err := audio.OpenMP3("testdata/loop250_22050_mono.mp3")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()

	buf := make([]int16, 4096)
	total := 0
	for {
		n, err := src.ReadPCM(buf)
		total += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("%d Hz, %d channel(s), %d samples\n", src.SampleRate(), src.Channels(), total)
	// Output:
	// 22050 Hz, 1 channel(s), 22050 samples
}
