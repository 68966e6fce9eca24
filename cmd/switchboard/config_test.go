package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
