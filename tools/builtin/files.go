package builtin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentaudit/agentaudit/tools"
)

func (s *Sandbox) listFilesTool() tools.Tool {
	return tools.Tool{
		Name:        "list_files",
		Description: "List the files and folders under a folder of the sandbox. Folders end in a slash; files show their size in bytes.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{` +
			`"path":{"type":"string","description":"Folder relative to the sandbox root; default \".\""},` +
			`"recursive":{"type":"boolean","description":"Also list the contents of sub-folders"}}}`),
		Risk: tools.RiskLow,
		Run:  s.listFiles,
	}
}

func (s *Sandbox) listFiles(ctx context.Context, raw json.RawMessage) (string, error) {
	var args struct {
		Path      string `json:"path"`
		Recursive bool   `json:"recursive"`
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return "", fmt.Errorf("list_files: arguments: %v", err)
	}
	dir, err := cleanPath("list_files", args.Path)
	if err != nil {
		return "", err
	}
	info, err := s.root.Stat(dir)
	if err != nil {
		return "", fileError("list_files", dir, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("list_files: %q is a file, not a folder; call read_file to read it", dir)
	}

	var lines []string
	more := 0
	err = fs.WalkDir(s.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if p == dir {
			return nil
		}
		if len(lines) >= s.maxEntries {
			more++
		} else {
			lines = append(lines, describeEntry(p, d))
		}
		if d.IsDir() && !args.Recursive {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return "", fileError("list_files", dir, err)
	}

	if len(lines) == 0 {
		return fmt.Sprintf("%s is empty", dir), nil
	}
	if more > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more entries not shown", more))
	}
	return strings.Join(lines, "\n"), nil
}

func describeEntry(p string, d fs.DirEntry) string {
	if d.IsDir() {
		return p + "/"
	}
	info, err := d.Info()
	if err != nil {
		return p
	}
	if d.Type()&fs.ModeSymlink != 0 {
		return p + " (symbolic link)"
	}
	return fmt.Sprintf("%s (%d bytes)", p, info.Size())
}

func (s *Sandbox) readFileTool() tools.Tool {
	return tools.Tool{
		Name:        "read_file",
		Description: fmt.Sprintf("Read a text file of the sandbox, up to %d bytes.", s.maxReadBytes),
		InputSchema: json.RawMessage(`{"type":"object","properties":{` +
			`"path":{"type":"string","description":"File relative to the sandbox root"}},` +
			`"required":["path"]}`),
		Risk: tools.RiskLow,
		Run:  s.readFile,
	}
}

func (s *Sandbox) readFile(ctx context.Context, raw json.RawMessage) (string, error) {
	var args struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return "", fmt.Errorf("read_file: arguments: %v", err)
	}
	p, err := cleanPath("read_file", args.Path)
	if err != nil {
		return "", err
	}
	b, err := s.readText("read_file", p)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// readText reads a regular text file of at most maxReadBytes.
func (s *Sandbox) readText(tool, p string) ([]byte, error) {
	f, err := s.root.Open(p)
	if err != nil {
		return nil, fileError(tool, p, err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return nil, fileError(tool, p, err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s: %q is a folder; call list_files to see its contents", tool, p)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %q is not a regular file", tool, p)
	}
	if info.Size() > s.maxReadBytes {
		return nil, fmt.Errorf("%s: %q is %d bytes, over the %d-byte read limit", tool, p, info.Size(), s.maxReadBytes)
	}

	// Read one byte past the limit, because the file may have grown since
	// Stat.
	b, err := io.ReadAll(io.LimitReader(f, s.maxReadBytes+1))
	if err != nil {
		return nil, fileError(tool, p, err)
	}
	if int64(len(b)) > s.maxReadBytes {
		return nil, fmt.Errorf("%s: %q is over the %d-byte read limit", tool, p, s.maxReadBytes)
	}
	if bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) {
		return nil, fmt.Errorf("%s: %q is a binary file of %d bytes, not text", tool, p, len(b))
	}
	return b, nil
}

func (s *Sandbox) searchFilesTool() tools.Tool {
	return tools.Tool{
		Name:        "search_files",
		Description: "Search the text files under a folder of the sandbox for lines containing a string. Returns path:line: text for each match.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{` +
			`"query":{"type":"string","description":"Text to find, case-sensitive"},` +
			`"path":{"type":"string","description":"Folder relative to the sandbox root; default \".\""}},` +
			`"required":["query"]}`),
		Risk: tools.RiskLow,
		Run:  s.searchFiles,
	}
}

func (s *Sandbox) searchFiles(ctx context.Context, raw json.RawMessage) (string, error) {
	var args struct {
		Query string `json:"query"`
		Path  string `json:"path"`
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return "", fmt.Errorf("search_files: arguments: %v", err)
	}
	if args.Query == "" {
		return "", errors.New("search_files: query is empty; send the text to find")
	}
	dir, err := cleanPath("search_files", args.Path)
	if err != nil {
		return "", err
	}

	var matches []string
	more := 0
	err = fs.WalkDir(s.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := s.readText("search_files", p)
		if err != nil {
			// Large and binary files are skipped, not reported.
			return nil
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 4096), len(b)+1)
		for n := 1; sc.Scan(); n++ {
			if !strings.Contains(sc.Text(), args.Query) {
				continue
			}
			if len(matches) >= s.maxEntries {
				more++
				continue
			}
			matches = append(matches, fmt.Sprintf("%s:%d: %s", p, n, sc.Text()))
		}
		return nil
	})
	if err != nil {
		return "", fileError("search_files", dir, err)
	}

	if len(matches) == 0 {
		return fmt.Sprintf("no lines under %s contain %q", dir, args.Query), nil
	}
	if more > 0 {
		matches = append(matches, fmt.Sprintf("... and %d more matches not shown", more))
	}
	return strings.Join(matches, "\n"), nil
}

func (s *Sandbox) statTool() tools.Tool {
	return tools.Tool{
		Name:        "stat",
		Description: "Describe a file or folder of the sandbox: its kind, size in bytes and modification time.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{` +
			`"path":{"type":"string","description":"File or folder relative to the sandbox root"}},` +
			`"required":["path"]}`),
		Risk: tools.RiskLow,
		Run:  s.stat,
	}
}

func (s *Sandbox) stat(ctx context.Context, raw json.RawMessage) (string, error) {
	var args struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return "", fmt.Errorf("stat: arguments: %v", err)
	}
	p, err := cleanPath("stat", args.Path)
	if err != nil {
		return "", err
	}
	info, err := s.root.Stat(p)
	if err != nil {
		return "", fileError("stat", p, err)
	}
	kind := "file"
	if info.IsDir() {
		kind = "folder"
	}
	return fmt.Sprintf("%s: %s, %d bytes, modified %s", p, kind, info.Size(), info.ModTime().UTC().Format(time.RFC3339)), nil
}

func (s *Sandbox) writeFileTool() tools.Tool {
	return tools.Tool{
		Name:        "write_file",
		Description: fmt.Sprintf("Create or replace a text file of the sandbox, creating its folders. Needs human approval. At most %d bytes.", s.maxWriteBytes),
		InputSchema: json.RawMessage(`{"type":"object","properties":{` +
			`"path":{"type":"string","description":"File relative to the sandbox root"},` +
			`"content":{"type":"string","description":"The whole new content of the file"}},` +
			`"required":["path","content"]}`),
		Risk: tools.RiskHigh,
		Run:  s.writeFile,
	}
}

func (s *Sandbox) writeFile(ctx context.Context, raw json.RawMessage) (string, error) {
	var args struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return "", fmt.Errorf("write_file: arguments: %v", err)
	}
	p, err := cleanPath("write_file", args.Path)
	if err != nil {
		return "", err
	}
	if p == "." {
		return "", errors.New("write_file: path is empty; send the file to write, relative to the sandbox root")
	}
	if int64(len(args.Content)) > s.maxWriteBytes {
		return "", fmt.Errorf("write_file: content for %q is %d bytes, over the %d-byte write limit", p, len(args.Content), s.maxWriteBytes)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}

	if parent := path.Dir(p); parent != "." {
		if err := s.root.MkdirAll(parent, 0o755); err != nil {
			return "", fileError("write_file", parent, err)
		}
	}
	if info, err := s.root.Stat(p); err == nil && info.IsDir() {
		return "", fmt.Errorf("write_file: %q is a folder; send a file path", p)
	}
	f, err := s.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", fileError("write_file", p, err)
	}
	if _, err := f.WriteString(args.Content); err != nil {
		f.Close()
		return "", fileError("write_file", p, err)
	}
	if err := f.Close(); err != nil {
		return "", fileError("write_file", p, err)
	}
	return fmt.Sprintf("wrote %d bytes to %s", len(args.Content), p), nil
}
