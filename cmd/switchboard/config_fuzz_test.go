package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfig reads arbitrary files on top of the embedded default, as
// `serve -config` and `check-config` do: every input is a config or an
// error that names where it went wrong; nothing panics.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"platform:\n  udp: [\"127.0.0.1:5090\"]\n",
		"apps:\n  park:\n    orbits:\n      - {start: \"70\", ned: \"79\"}\n",
		"calls:\n  rtp_timeout: 30\n",
		"users:\n  - name: alice\n    ha1: 0123\n",
		"routes:\n  - name: x\n    match: '^9(\\d+'\n    target: 'sip:${1}@pbx'\n",
		"platform: [1, 2]\n", "&a [*a]\n", "? {a: b}\n: c\n", "apps: !!binary aGVsbG8=\n", "\t", "",
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "sb.yaml")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(path); err != nil && err.Error() == "" {
			t.Fatal("an error that says nothing")
		}
	})
}
