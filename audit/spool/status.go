package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// Status describes a spool folder as ReadStatus found it.
type Status struct {
	Dir string
	// Records is the number of intact records waiting in the segments.
	Records int64
	// Bytes is the size of the segments and the dead-letter file.
	Bytes    int64
	Segments int
	// Oldest is the earliest created_at of a waiting record; zero when
	// none waits.
	Oldest time.Time
	// DeadLetters is the number of lines in the dead-letter file.
	DeadLetters int64
	// Damage lists the damaged regions of the segments.
	Damage []Damage
	// InUse reports that a process has the spool open.
	InUse bool
}

// ReadStatus reads the spool in folder dir without opening it, so it works
// while a process has the spool open, and changes nothing. A folder that
// does not exist is an empty spool. Records appended while ReadStatus runs
// may be missing from its counts.
func ReadStatus(dir string) (Status, error) {
	st := Status{Dir: dir}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, nil
	case err != nil:
		return st, fmt.Errorf("spool: status %q: %w", dir, err)
	case !info.IsDir():
		return st, fmt.Errorf("spool: status %q: not a folder; pass the spool folder", dir)
	}
	st.InUse = isLocked(filepath.Join(dir, lockName))

	segs, err := listSegments(OS, dir)
	if err != nil {
		return st, err
	}
	for _, seg := range segs {
		n, damage, err := countSegment(OS, dir, seg, func(e audit.Entry) {
			if st.Oldest.IsZero() || e.CreatedAt.Before(st.Oldest) {
				st.Oldest = e.CreatedAt
			}
		})
		if errors.Is(err, fs.ErrNotExist) {
			continue // acknowledged and deleted while we listed
		}
		if err != nil {
			return st, err
		}
		st.Records += n
		st.Bytes += seg.size
		st.Segments++
		st.Damage = append(st.Damage, damage...)
	}

	lines, size, err := countLines(OS, filepath.Join(dir, DeadLetterName))
	if err != nil {
		return st, err
	}
	st.DeadLetters = lines
	st.Bytes += size
	return st, nil
}
