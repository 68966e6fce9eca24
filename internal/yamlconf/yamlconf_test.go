package yamlconf

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type orbit struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

type inner struct {
	Orbits []orbit       `yaml:"orbits"`
	Ring   time.Duration `yaml:"ring_time"`
}

type testConfig struct {
	Drain time.Duration `yaml:"drain_timeout"`
	Calls struct {
		RTP time.Duration `yaml:"rtp_timeout"`
		N   uint16        `yaml:"n"`
	} `yaml:"calls"`
	Apps struct {
		Park struct {
			Enabled bool `yaml:"enabled"`
			inner   `yaml:",inline"`
		} `yaml:"park"`
		Sources map[string]orbit `yaml:"sources"`
	} `yaml:"apps"`
}

func TestEveryMistakeAtOnce(t *testing.T) {
	doc := "# c\n" +
		"drain_timeout: soon\n" +
		"calls:\n" +
		"  rtp_timeout: 30\n" +
		"  n: 70000\n" +
		"apps:\n" +
		"  park:\n" +
		"    enabled: maybe\n" +
		"    orbits:\n" +
		"      - {start: \"7000\", end: \"7099\"}\n" +
		"      - {start: 1, ned: 3}\n" +
		"    ring_tme: 5s\n" +
		"  sources:\n" +
		"    jazz: [1]\n"
	var c testConfig
	err := Decode("c.yaml", []byte(doc), &c)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want Errors", err)
	}
	want := []string{
		`c.yaml:2:16: drain_timeout: "soon" is not a duration: want a number with a unit, such as 30s, 500ms, 2m or 1h`,
		`c.yaml:4:16: calls.rtp_timeout: 30 is not a duration: write it with a unit, such as 30s (or 500ms, 2m, 1h)`,
		`c.yaml:5:6: calls.n: 70000 is out of range`,
		`c.yaml:8:14: apps.park.enabled: "maybe" is not true or false`,
		`c.yaml:11:20: apps.park.orbits[1].ned: unknown key (did you mean end?) (known: start, end)`,
		`c.yaml:12:5: apps.park.ring_tme: unknown key (did you mean ring_time?) (known: enabled, orbits, ring_time)`,
		`c.yaml:14:11: apps.sources.jazz: want a mapping of keys to values, not a list`,
	}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if errs[i].Error() != w {
			t.Errorf("error %d:\n got %s\nwant %s", i, errs[i], w)
		}
	}
}

func TestDecodeOnTopOfDefaults(t *testing.T) {
	var c testConfig
	c.Drain = time.Minute
	c.Calls.N = 7
	if err := Decode("c.yaml", []byte("calls:\n  rtp_timeout: 0s\napps: {park: {orbits: [{start: \"1\", end: \"2\"}]}}\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Drain != time.Minute || c.Calls.N != 7 || len(c.Apps.Park.Orbits) != 1 || c.Apps.Park.Orbits[0].End != "2" {
		t.Fatalf("decoded %+v", c)
	}
	if err := Decode("empty.yaml", []byte("# nothing\n"), &c); err != nil || c.Drain != time.Minute {
		t.Fatalf("empty document: %v, %+v", err, c)
	}
}

func TestSyntaxErrorHasPosition(t *testing.T) {
	var c testConfig
	err := Decode("c.yaml", []byte("calls:\n  rtp_timeout: 1s\n  n: [\n"), &c)
	if err == nil || !strings.HasPrefix(err.Error(), "c.yaml:") || strings.HasPrefix(err.Error(), "c.yaml: ") {
		t.Fatalf("err = %v, want c.yaml:LINE:COL: ...", err)
	}
}
