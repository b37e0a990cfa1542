package sqlite

import (
	"errors"
	"fmt"
	"os"
)

// ErrFileReplaced is wrapped by the error of a write to a Store whose
// database file was deleted or replaced after Open. SQLite keeps writing to
// the open file, which no path names any more, so the writes would be lost.
// The error is not an audit.PermanentError, so the Logger retries the batch
// and a spooling Logger keeps its entries in case the file comes back, such
// as a file renamed away and back.
var ErrFileReplaced = errors.New("was deleted or replaced while open")

// checkFile returns an error wrapping ErrFileReplaced when s.path no longer
// names the file that Open opened. It costs one stat of the path, and does
// nothing where the file's identity is unknown.
func (s *Store) checkFile() error {
	if !s.fileIDKnown {
		return nil
	}
	id, err := statFileID(s.path)
	if err == nil && id == s.fileID {
		return nil
	}
	return fmt.Errorf("sqlite: %q %w, so nothing was written; a spooling Logger keeps the entries until the file is back; restart the process to open the new file", s.path, ErrFileReplaced)
}

// fileID identifies a file on its file system.
type fileID struct {
	device uint64
	inode  uint64
}

// statFileID returns the identity of the file at path. It returns an error
// for a missing file, and errFileIDUnknown where the platform has no
// device and inode numbers.
func statFileID(path string) (fileID, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	return fileIDOf(info)
}

var errFileIDUnknown = errors.New("sqlite: file identity is not available on this platform")
