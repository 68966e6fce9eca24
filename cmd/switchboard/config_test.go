package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/route"
)

func TestEmbeddedDefaultConfig(t *testing.T) {
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Platform.UDP) != 1 || c.Platform.UDP[0] != "127.0.0.1:5060" || c.Platform.TCP[0] != "127.0.0.1:5060" {
		t.Fatalf("listeners = %v %v", c.Platform.UDP, c.Platform.TCP)
	}
	if c.Apps.Echo.User != "echo" || c.Apps.Hello.User != "hello" || c.DrainTimeout != 30*time.Second {
		t.Fatalf("dial plan = %+v, drain %v", c.Apps, c.DrainTimeout)
	}
}

func TestConfigFileOverridesDefault(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("platform:\n  udp: [\"127.0.0.1:5080\"]\napps:\n  echo:\n    user: echotest\n"), 0o600)
	c, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Platform.UDP) != 1 || c.Platform.UDP[0] != "127.0.0.1:5080" {
		t.Fatalf("udp = %v, want the file's list only", c.Platform.UDP)
	}
	if c.Apps.Echo.User != "echotest" || c.Apps.Hello.User != "hello" || c.Platform.RTPPortMin != 20000 {
		t.Fatalf("merge lost defaults: %+v", c)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key": "platfrom:\n  udp: []\n",
		"bad yaml":    "platform: [\n",
		"bad type":    "drain_timeout: soon\n",
	} {
		p := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := loadConfig(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

// TestRouteRecordAndCodecsConfig: record takes true, false or stereo (a
// YAML bool or a word), codecs a list; a wrong record value and an
// unknown codec are errors check-config reports.
func TestRouteRecordAndCodecsConfig(t *testing.T) {
	p := writeConfig(t, `apps:
  route:
    codecs: [G722, PCMU]
routes:
  - prefix: "1"
    target: 'sip:${user}@127.0.0.1:5099'
    record: true
  - prefix: "2"
    target: 'sip:${user}@127.0.0.1:5099'
    record: stereo
    codecs: [G722, PCMU]
  - prefix: "3"
    target: 'sip:${user}@127.0.0.1:5099'
    record: false
`)
	cfg, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := []route.Record{cfg.Routes[0].Record, cfg.Routes[1].Record, cfg.Routes[2].Record}; got[0] != route.RecordMono || got[1] != route.RecordStereo || got[2] != route.RecordOff {
		t.Errorf("record: %q", got)
	}
	if c := cfg.Routes[1].Codecs; len(c) != 2 || c[0] != "G722" || len(cfg.Apps.Route.Codecs) != 2 {
		t.Errorf("codecs: %v, apps.route.codecs %v", c, cfg.Apps.Route.Codecs)
	}
	cfg.Apps.Recording.Dir, cfg.Apps.IVR.MessageDir = t.TempDir(), t.TempDir()
	if err := checkConfig(cfg); err != nil {
		t.Fatalf("check-config: %v", err)
	}
	if _, err := loadConfig(writeConfig(t, "routes:\n  - prefix: \"1\"\n    target: 'sip:a@b'\n    record: both\n")); err == nil ||
		!strings.Contains(err.Error(), "want true, false or stereo") {
		t.Errorf("record: both: %v", err)
	}
	cfg.Routes[1].Codecs = []string{"OPUS"}
	if err := checkConfig(cfg); err == nil || !strings.Contains(err.Error(), "codecs") {
		t.Errorf("codecs [OPUS]: %v", err)
	}
}
