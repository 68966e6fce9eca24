package ivr_test

import (
	"strings"
	"testing"

	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
)

// FuzzParseMenu: no menu text panics the parser; what it rejects is an
// error naming the file. Menus naming prompt files are skipped (they would
// open arbitrary paths).
func FuzzParseMenu(f *testing.F) {
	for _, s := range []string{
		"nodes:\n  main:\n    keys:\n      \"1\": {do: goto, node: main}\n",
		"start: main\nnodes:\n  main:\n    prompt: [menu, \"tone:440:1s\"]\n    digits: {max: 4, pattern: \"[0-9]{4}\"}\n    default: {do: bridge, uri: \"sip:${digits}@h\"}\n",
		"nodes:\n  main:\n    promt: [menu]\n    next: {do: hangup}\n",
		"nodes:\n  a: &x {next: {do: goto, node: b}}\n  b: *x\n",
		"nodes: [1, 2]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "prompts") || len(s) > 4096 {
			t.Skip()
		}
		m, err := ivrapp.ParseMenu("fuzz.yaml", []byte(s))
		if err != nil && !strings.Contains(err.Error(), "fuzz.yaml") {
			t.Fatalf("error without the file name: %v", err)
		}
		if err == nil && m == nil {
			t.Fatal("nil menu without an error")
		}
	})
}
