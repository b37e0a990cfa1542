// Package builtin provides file tools that work inside one sandbox folder:
// list_files, read_file, search_files and stat (low risk) and write_file
// (high risk, so it runs only after a human approves it).
//
// Every path a model sends is relative to the sandbox root. Absolute paths
// and ".." components are rejected before any file is touched, and the
// files are opened through an os.Root, so a symbolic link cannot lead
// outside the folder either.
package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/agentaudit/agentaudit/tools"
)

// Default limits of a Sandbox.
const (
	// DefaultMaxReadBytes is the largest file read_file returns and
	// search_files scans.
	DefaultMaxReadBytes = 64 << 10
	// DefaultMaxWriteBytes is the largest content write_file accepts.
	DefaultMaxWriteBytes = 1 << 20
	// DefaultMaxEntries is the largest number of lines list_files and
	// search_files return.
	DefaultMaxEntries = 200
)

// Sandbox confines the file tools to one folder. Its tools are safe for
// concurrent use. Close releases the folder.
type Sandbox struct {
	root          *os.Root
	dir           string
	maxReadBytes  int64
	maxWriteBytes int64
	maxEntries    int
}

// Option configures a Sandbox.
type Option func(*Sandbox)

// NewSandbox opens dir, which must exist, as the sandbox root.
func NewSandbox(dir string, opts ...Option) (*Sandbox, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("builtin: sandbox %q: %w", dir, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("builtin: open sandbox %q: %w; create the folder first", dir, err)
	}
	s := &Sandbox{
		root:          root,
		dir:           abs,
		maxReadBytes:  DefaultMaxReadBytes,
		maxWriteBytes: DefaultMaxWriteBytes,
		maxEntries:    DefaultMaxEntries,
	}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// Dir returns the absolute path of the sandbox root.
func (s *Sandbox) Dir() string { return s.dir }

// Tools returns the sandbox's tools: list_files, read_file, search_files,
// stat and write_file.
func (s *Sandbox) Tools() []tools.Tool {
	return []tools.Tool{
		s.listFilesTool(),
		s.readFileTool(),
		s.searchFilesTool(),
		s.statTool(),
		s.writeFileTool(),
	}
}

// Register registers every tool of the sandbox in r.
func (s *Sandbox) Register(r *tools.Registry) {
	for _, t := range s.Tools() {
		r.Register(t)
	}
}

// Close releases the sandbox root. Tools called after Close return errors.
func (s *Sandbox) Close() error { return s.root.Close() }

// WithMaxReadBytes sets the largest file, in bytes, that read_file returns
// and search_files scans; DefaultMaxReadBytes when not set.
func WithMaxReadBytes(n int64) Option {
	return func(s *Sandbox) { s.maxReadBytes = n }
}

// WithMaxWriteBytes sets the largest content, in bytes, that write_file
// accepts; DefaultMaxWriteBytes when not set.
func WithMaxWriteBytes(n int64) Option {
	return func(s *Sandbox) { s.maxWriteBytes = n }
}

// WithMaxEntries sets the largest number of lines that list_files and
// search_files return; DefaultMaxEntries when not set.
func WithMaxEntries(n int) Option {
	return func(s *Sandbox) { s.maxEntries = n }
}

// cleanPath turns a path the model sent into a slash-separated path
// relative to the root, rejecting absolute paths and ".." components with
// an error that names the path and suggests a valid one.
func cleanPath(tool, p string) (string, error) {
	if p == "" || p == "." {
		return ".", nil
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%s: path %q contains a NUL byte", tool, p)
	}
	if path.IsAbs(p) || filepath.IsAbs(p) {
		return "", fmt.Errorf("%s: path %q is absolute; use a path relative to the sandbox root, such as %q", tool, p, strings.TrimLeft(p, "/"))
	}
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return "", fmt.Errorf("%s: path %q leaves the sandbox through \"..\"; use a path inside the sandbox root", tool, p)
		}
	}
	return path.Clean(filepath.ToSlash(p)), nil
}

// fileError rewrites an error from the root for the model, naming the path.
func fileError(tool, p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %q does not exist; call list_files to see what exists", tool, p)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if strings.Contains(err.Error(), "escapes") {
		return fmt.Errorf("%s: %q leads outside the sandbox through a symbolic link; use a path inside the sandbox root", tool, p)
	}
	return fmt.Errorf("%s: %q: %v", tool, p, err)
}
