package doccheck

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// std are the packages outside the module that the samples may name,
// by package name.
var std = map[string]string{
	"context": "context", "errors": "errors", "fmt": "fmt", "io": "io", "log": "log",
	"slog": "log/slog", "netip": "net/netip", "regexp": "regexp", "testing": "testing",
	"time": "time", "sip": "github.com/emiago/sipgo/sip",
}

// placeholder matches the elisions of the samples: "{ ... }" and a line
// that is only "...".
var placeholder = regexp.MustCompile(`\{ *\.\.\. *\}|(?m)^\s*\.\.\.\s*$`)

// TestDocSamplesTypeCheck type-checks every code block of every doc.go
// package comment in the module. A sample is a fragment: it is checked as
// the body of a function returning error (or, when it is a func
// declaration, as one), with the module's and a few standard packages
// imported by the names it uses. Its free variables (ctx, p, call, ...)
// stand for what the reader has; an undefined plain identifier is
// therefore not an error, and neither is an unused variable or import.
// Everything else is: a package member that does not exist (apps.Echo), a
// wrong argument count or type, a field that is not there, a method with
// other results, a syntax error.
func TestDocSamplesTypeCheck(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	names, exports := modulePackages(t, root)

	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	var docs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Name() == "doc.go" {
			docs = append(docs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	samples := 0
	for _, path := range docs {
		rel, _ := filepath.Rel(root, path)
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc == nil {
			continue
		}
		var p comment.Parser
		for i, block := range p.Parse(f.Doc.Text()).Content {
			code, ok := block.(*comment.Code)
			if !ok {
				continue
			}
			samples++
			for _, e := range check(fset, imp, names, code.Text) {
				t.Errorf("%s: sample %d: %s\n%s", rel, i, e, code.Text)
			}
		}
	}
	// The checker itself: samples that must fail, and ones that must pass.
	for _, tc := range []struct {
		sample string
		ok     bool
	}{
		{"srv.Handle(t, \"echo\", apps.Echo)", false},           // the old switchboardtest sample
		{"tone := dsp.Sine(8000, 440)", false},                  // arguments missing
		{"c, err := conference.New(p)\n_ = c", false},           // too few arguments
		{"_ = b2b.Options{NoSuchField: true}", false},           // unknown field
		{"if err != nil { ... }", true},                         // elision, free variable
		{"tone := dsp.Sine(8000, 440, time.Second, 0.3)", true}, // unused variable
	} {
		errs := check(fset, imp, names, tc.sample)
		if (len(errs) == 0) != tc.ok {
			t.Errorf("check(%q) = %q, want ok %v", tc.sample, errs, tc.ok)
		}
	}
	if samples < 10 {
		t.Errorf("found %d samples in %d doc.go files; the extraction is broken", samples, len(docs))
	}
	t.Logf("%d samples in %d doc.go files type-check", samples, len(docs))
}

// check type-checks one sample and returns the errors that count.
func check(fset *token.FileSet, imp types.Importer, names map[string]string, sample string) []string {
	body := placeholder.ReplaceAllString(sample, "{}")
	var src strings.Builder
	src.WriteString("package sample\n\nimport (\n")
	for name, path := range names {
		if strings.Contains(body, name+".") {
			fmt.Fprintf(&src, "\t%s %q\n", name, path)
		}
	}
	src.WriteString(")\n\n")
	if strings.HasPrefix(body, "func ") {
		src.WriteString(body)
	} else {
		fmt.Fprintf(&src, "func _() error {\n%s\nreturn nil\n}\n", body)
	}
	f, err := parser.ParseFile(fset, "sample.go", src.String(), 0)
	if err != nil {
		return []string{err.Error()}
	}
	var errs []string
	conf := types.Config{Importer: imp, Error: func(err error) {
		msg := err.(types.Error).Msg
		if ignored(msg) {
			return
		}
		errs = append(errs, msg)
	}}
	_, _ = conf.Check("sample", fset, []*ast.File{f}, nil)
	return errs
}

// undefinedIdent matches "undefined: x" for a plain identifier (a free
// variable of the sample), not "undefined: pkg.X".
var undefinedIdent = regexp.MustCompile(`^undefined: [A-Za-z_][A-Za-z0-9_]*$`)

func ignored(msg string) bool {
	return undefinedIdent.MatchString(msg) ||
		strings.HasPrefix(msg, "declared and not used") ||
		strings.HasSuffix(msg, "imported and not used")
}

// modulePackages returns the module's packages by name (the shorter
// import path where two share a name) together with the standard ones
// the samples use, and the export data files of all of them and their
// dependencies (go list -export, from the build cache).
func modulePackages(t *testing.T, root string) (map[string]string, map[string]string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-f", "{{.Name}} {{.ImportPath}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	names := map[string]string{}
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		name, path, _ := strings.Cut(sc.Text(), " ")
		if name == "main" || strings.Contains(path, "/internal/") || strings.HasSuffix(path, "/internal") {
			continue
		}
		if old, ok := names[name]; !ok || len(path) < len(old) {
			names[name] = path
		}
	}
	for name, path := range std {
		names[name] = path
	}
	paths := make([]string, 0, len(names))
	for _, p := range names {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	cmd = exec.Command("go", append([]string{"list", "-export", "-deps", "-f", "{{if .Export}}{{.ImportPath}} {{.Export}}{{end}}"}, paths...)...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		if path, file, ok := strings.Cut(sc.Text(), " "); ok {
			exports[path] = file
		}
	}
	return names, exports
}
