package recorder

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// File is one recording file being written: the audio (written in order,
// its header rewritten in place with WriteAt) or the JSON sidecar. The
// recorder calls Sync about once a second, after the audio and before the
// header that describes it, so what a header promises is on disk.
type File interface {
	io.Writer
	io.WriterAt
	Sync() error
	Close() error
}

// Storage is where recordings go. Create makes (or truncates) the file
// called name, a plain file name without directories ("2026…-id.wav").
// Create is called from Start and Stop; the File's methods from the
// recorder's clock goroutine. An *os.File is a File.
type Storage interface {
	Create(name string) (File, error)
}

// Dir is the default Storage: files in a directory of the local file
// system.
type Dir string

// Create creates or truncates the file name in the directory.
func (d Dir) Create(name string) (File, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("recorder: bad file name %q", name)
	}
	f, err := os.OpenFile(filepath.Join(string(d), name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	return f, nil
}

// Path returns where the file name of d is.
func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// check reports, naming the path, why d cannot take recordings: it does
// not exist, is not a directory or is not writable.
func (d Dir) check() error {
	st, err := os.Stat(string(d))
	switch {
	case err != nil:
		return fmt.Errorf("recorder: recording directory %q: %w", string(d), err)
	case !st.IsDir():
		return fmt.Errorf("recorder: recording directory %q is not a directory", string(d))
	}
	f, err := os.CreateTemp(string(d), ".recorder-check-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("recorder: recording directory %q is not writable: %w", string(d), err)
	}
	name := f.Name()
	f.Close()
	_ = os.Remove(name)
	return nil
}
