package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// DeadLetter is one line of the dead-letter file: an entry the store
// refused for good, the reason and when it was refused.
type DeadLetter struct {
	Time      string `json:"time"`
	Reason    string `json:"reason"`
	ID        string `json:"id"`
	Type      string `json:"type"`
	ChatID    string `json:"chatId,omitempty"`
	CreatedAt string `json:"createdAt"`
	// Metadata is the entry's metadata column: a JSON object, or a JSON
	// string holding the text when it is not valid JSON.
	Metadata json.RawMessage `json:"metadata"`
}

// DeadLetter appends one line per failed entry to dead-letter.jsonl in the
// spool folder (mode 0600), with the cause and the time, in one write. The
// file is committed to stable storage unless the mode is SyncNone. It
// takes nothing past the max bytes, returning an error wrapping ErrFull.
func (s *Spool) DeadLetter(failed []audit.FailedEntry) error {
	if len(failed) == 0 {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var buf bytes.Buffer
	for _, f := range failed {
		line := DeadLetter{
			Time:      now,
			ID:        f.Entry.ID,
			Type:      string(f.Entry.Type),
			ChatID:    f.Entry.ChatID,
			CreatedAt: audit.FormatTime(f.Entry.CreatedAt),
			Metadata:  f.Entry.Metadata,
		}
		if f.Err != nil {
			line.Reason = f.Err.Error()
		}
		if !json.Valid(line.Metadata) {
			text, _ := json.Marshal(string(line.Metadata)) // a string always encodes
			line.Metadata = text
		}
		b, err := json.Marshal(line)
		if err != nil {
			return fmt.Errorf("spool: dead letter %s: encode: %w", f.Entry.ID, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	path := filepath.Join(s.dir, DeadLetterName)
	if s.bytes+int64(buf.Len()) > s.cfg.maxBytes {
		return fmt.Errorf("%w: %q contains %d bytes and the limit is %d, so %d dead letters were not kept; inspect and remove %s or raise the limit",
			ErrFull, s.dir, s.bytes, s.cfg.maxBytes, len(failed), path)
	}
	if s.dead == nil {
		f, err := s.cfg.fs.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("spool: open %q: %w", path, err)
		}
		s.dead = f
	}
	n, err := s.dead.Write(buf.Bytes())
	s.bytes += int64(n)
	if err != nil {
		return fmt.Errorf("spool: write %q: %w; free disk space", path, err)
	}
	s.deadLetters += int64(len(failed))
	if s.cfg.mode != SyncNone {
		if err := s.dead.Sync(); err != nil {
			return fmt.Errorf("spool: fsync %q: %w", path, err)
		}
	}
	return nil
}

// ReadDeadLetters returns the lines of the dead-letter file in folder dir,
// oldest first, and none when there is no such file.
func ReadDeadLetters(dir string) ([]DeadLetter, error) {
	path := filepath.Join(dir, DeadLetterName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: open %q: %w", path, err)
	}
	defer f.Close() // opened read-only

	var out []DeadLetter
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxRecordSize*8)
	for line := 1; sc.Scan(); line++ {
		var d DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return out, fmt.Errorf("spool: %s line %d: %w", path, line, err)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("spool: read %q: %w", path, err)
	}
	return out, nil
}

// countLines returns the number of lines of the file name and its size,
// both 0 when it does not exist.
func countLines(fsys FS, name string) (lines, size int64, err error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("spool: open %q: %w", name, err)
	}
	defer f.Close() // opened read-only

	buf := make([]byte, readWindow)
	for {
		n, err := f.ReadAt(buf, size)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		size += int64(n)
		if err == io.EOF {
			return lines, size, nil
		}
		if err != nil {
			return lines, size, fmt.Errorf("spool: read %q: %w", name, err)
		}
	}
}
