package media

import (
	"testing"
)

func TestMP3Scratch(t *testing.T) {
	for _, f := range []string{"tone1k_44100_stereo", "loop250_44100_stereo", "loop250_22050_mono", "loop250_44100_notag"} {
		m, err := OpenMP3("testdata/" + f + ".mp3")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %+v", f, m.Info())
	}
}
