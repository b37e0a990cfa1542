// Package spool keeps audit entries on local disk while the database
// cannot take them. A Spool implements audit.Spool. Given to
// audit.WithSpool, it takes the entries a Logger would drop because the
// store failed or the queue was full. The Logger writes them to the store
// when it is back, or at the next start.
//
// A spool is a folder (created 0700) of append-only segment files (0600),
// named by a sequence number, and a dead-letter file. Each record is one
// encoded audit.Entry, framed with a marker, its length and a CRC-32C
// checksum, so that a reader detects a torn or corrupted record, skips it
// and resynchronises on the next intact one. A segment is deleted once all
// of its records were written to the store. Entries the store refused for
// good go to dead-letter.jsonl, one JSON object a line with the reason.
//
// A lock file keeps a second process from opening the same folder.
package spool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

var (
	// ErrFull is returned, wrapped, by Append and DeadLetter when the
	// spool has reached its max bytes.
	ErrFull = errors.New("spool: full")
	// ErrLocked is returned, wrapped, by Open when another process has the
	// folder open.
	ErrLocked = errors.New("spool: folder is in use by another process")
	// ErrClosed is returned by every method of a Spool after Close.
	ErrClosed = errors.New("spool: closed")
)

// The file names in a spool folder.
const (
	segmentSuffix  = ".seg"
	lockName       = "lock"
	DeadLetterName = "dead-letter.jsonl"
)

var _ audit.Spool = (*Spool)(nil)

// Spool is an audit.Spool in a folder. It is safe for concurrent use.
type Spool struct {
	dir  string
	cfg  config
	lock io.Closer

	mu     sync.Mutex
	closed bool
	// segs lists the segments on disk, oldest first. When active is not
	// nil, it is the open file of the last one, which takes appends.
	segs    []*segment
	active  File
	nextSeq uint64
	// bytes is the size of the segments and the dead-letter file.
	bytes int64
	// records counts the intact records in the segments that were not
	// acknowledged.
	records int64
	dirty   bool // appended since the last commit
	wbuf    []byte

	// The read cursor: the next record Next returns is at readOff in
	// segs[readSeg], read through reader.
	readSeg   int
	readOff   int64
	readFile  File
	reader    frameReader
	readCount int64 // records Next returned since the last Ack
	damaged   int64

	dead        File
	deadLetters int64

	stop chan struct{}
	done chan struct{}
}

type segment struct {
	seq  uint64
	name string // base name
	size int64  // bytes of whole records
}

// Stats describes a Spool at one instant.
type Stats struct {
	// Records is the number of intact records waiting to be written to the
	// store, including those Next returned that were not acknowledged.
	Records int64
	// Bytes is the disk space the segments and the dead-letter file take.
	Bytes int64
	// Segments is the number of segment files.
	Segments int
	// DeadLetters is the number of entries in the dead-letter file.
	DeadLetters int64
	// Damaged is the number of damaged regions Next skipped.
	Damaged int64
}

// Open opens the spool in folder dir, creating it with mode 0700 when it
// does not exist. An existing folder keeps its mode. Open reads the
// segments left by an earlier process and checks every record. Next
// returns their entries first, and new appends go to a new segment.
// It returns an error wrapping ErrLocked when another process has dir open.
func Open(dir string, opts ...Option) (*Spool, error) {
	cfg := newConfig(opts)
	if dir == "" {
		return nil, errors.New("spool: open: empty folder name; pass the folder to keep the spool in")
	}
	if err := cfg.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: open %q: create the folder: %w; pass a writable folder", dir, err)
	}
	lock, err := cfg.fs.Lock(filepath.Join(dir, lockName))
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("%w: open %q: stop the other process, or give this one another folder", ErrLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("spool: open %q: lock: %w", dir, err)
	}

	s := &Spool{dir: dir, cfg: cfg, lock: lock, nextSeq: 1}
	if err := s.load(); err != nil {
		lock.Close()
		return nil, err
	}
	if cfg.mode == SyncInterval {
		s.stop = make(chan struct{})
		s.done = make(chan struct{})
		go s.syncLoop()
	}
	return s, nil
}

// load finds the segments and the dead-letter file of an earlier process
// and counts their records.
func (s *Spool) load() error {
	list, err := listSegments(s.cfg.fs, s.dir)
	if err != nil {
		return err
	}
	for _, seg := range list {
		n, _, err := countSegment(s.cfg.fs, s.dir, seg, nil)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.records += n
		s.nextSeq = seg.seq + 1
	}

	lines, size, err := countLines(s.cfg.fs, filepath.Join(s.dir, DeadLetterName))
	if err != nil {
		return err
	}
	s.deadLetters = lines
	s.bytes += size
	return nil
}

// Dir returns the spool's folder.
func (s *Spool) Dir() string { return s.dir }

// Append writes the frames of entries at the end of the last segment, in
// one write, starting a new segment when it would grow past the segment
// size. It returns when the operating system has the bytes, and in
// SyncAlways mode when they are committed to stable storage. It takes
// no entry past the max bytes, returning an error wrapping ErrFull. On a
// write error it cuts the partial write off the segment and returns how
// many entries were written whole before it.
func (s *Spool) Append(entries []audit.Entry) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}

	taken := 0 // entries written to the file
	buf := s.wbuf[:0]
	inBuf := 0 // entries in buf, not yet written
	defer func() { s.wbuf = buf[:0] }()

	for i := range entries {
		mark := len(buf)
		var err error
		buf, err = appendFrame(buf, &entries[i])
		if err != nil {
			err = fmt.Errorf("spool: append to %q: %w", s.dir, err)
			return s.finishAppend(taken, buf[:mark], inBuf, err)
		}
		frame := int64(len(buf) - mark)
		if s.bytes+int64(mark)+frame > s.cfg.maxBytes {
			err := fmt.Errorf("%w: %q contains %d bytes and the limit is %d; write the spool to the database or raise the limit",
				ErrFull, s.dir, s.bytes+int64(mark), s.cfg.maxBytes)
			return s.finishAppend(taken, buf[:mark], inBuf, err)
		}

		// Start a new segment when this frame would take the current one
		// past the segment size, writing out the frames before it first.
		if cur := s.activeSize() + int64(mark); cur+frame > s.cfg.segmentSize && cur > 0 {
			if err := s.write(buf[:mark], inBuf); err != nil {
				return taken, err
			}
			taken += inBuf
			buf = append(buf[:0], buf[mark:]...)
			inBuf = 0
			if err := s.seal(); err != nil {
				return taken, err
			}
		}
		inBuf++
	}
	return s.finishAppend(taken, buf, inBuf, nil)
}

// finishAppend writes the frames left in buf and commits them in
// SyncAlways mode. err is the reason the append stopped early, or nil.
func (s *Spool) finishAppend(taken int, buf []byte, inBuf int, err error) (int, error) {
	if inBuf > 0 {
		if werr := s.write(buf, inBuf); werr != nil {
			return taken, werr
		}
		taken += inBuf
	}
	if s.cfg.mode == SyncAlways && s.dirty {
		if serr := s.active.Sync(); serr != nil {
			// The bytes are in the file, so a process crash keeps them, but
			// SyncAlways promised more: report it as a failed append.
			return 0, fmt.Errorf("spool: fsync %q: %w", s.activePath(), serr)
		}
		s.dirty = false
	}
	return taken, err
}

// write writes buf, which holds n frames, to the active segment, creating
// it when there is none.
func (s *Spool) write(buf []byte, n int) error {
	if s.active == nil {
		if err := s.create(); err != nil {
			return err
		}
	}
	seg := s.segs[len(s.segs)-1]
	written, err := s.active.Write(buf)
	if err != nil {
		// Cut off a partial frame so the next append starts clean. If that
		// fails too, the segment is closed, and a reader reports the partial
		// frame as damage after a restart.
		if written > 0 {
			if terr := s.active.Truncate(seg.size); terr != nil {
				s.closeActive()
			}
		}
		return fmt.Errorf("spool: write %q: %w; free disk space or move the spool to another folder", s.activePath(), err)
	}
	seg.size += int64(written)
	s.bytes += int64(written)
	s.records += int64(n)
	s.dirty = true
	return nil
}

// create starts a new segment and makes it the active one.
func (s *Spool) create() error {
	seg := &segment{seq: s.nextSeq, name: segmentName(s.nextSeq)}
	path := filepath.Join(s.dir, seg.name)
	f, err := s.cfg.fs.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: create segment %q: %w; check that the folder is writable and has free space", path, err)
	}
	// The new name must survive an operating system crash for the records
	// in the file to be found.
	if s.cfg.mode != SyncNone {
		if err := s.cfg.fs.SyncDir(s.dir); err != nil {
			f.Close()
			_ = s.cfg.fs.Remove(path) // an empty file; a leftover holds no record
			return fmt.Errorf("spool: fsync folder %q: %w", s.dir, err)
		}
	}
	s.nextSeq++
	s.segs = append(s.segs, seg)
	s.active = f
	return nil
}

// seal commits and closes the active segment, which stays in segs until
// its records are acknowledged.
func (s *Spool) seal() error {
	if s.active == nil {
		return nil
	}
	var err error
	if s.cfg.mode != SyncNone && s.dirty {
		if err = s.active.Sync(); err != nil {
			err = fmt.Errorf("spool: fsync %q: %w", s.activePath(), err)
		}
	}
	s.dirty = false
	s.closeActive()
	return err
}

func (s *Spool) closeActive() {
	if s.active != nil {
		_ = s.active.Close() // written bytes stay in the file either way
		s.active = nil
	}
}

func (s *Spool) activeSize() int64 {
	if s.active == nil {
		return 0
	}
	return s.segs[len(s.segs)-1].size
}

func (s *Spool) activePath() string {
	return filepath.Join(s.dir, s.segs[len(s.segs)-1].name)
}

// Next returns up to n entries from the read cursor on, oldest first, and
// moves the cursor past them. It returns none when every record was read.
// When it skipped damaged records, it returns the intact entries and a
// *CorruptError; a later call goes on after the damage.
func (s *Spool) Next(n int) ([]audit.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}

	var out []audit.Entry
	var corrupt *CorruptError
	for len(out) < n && s.readSeg < len(s.segs) {
		seg := s.segs[s.readSeg]
		if s.readOff >= seg.size {
			if s.active != nil && s.readSeg == len(s.segs)-1 {
				break // appends may follow
			}
			s.closeReader()
			s.readSeg++
			s.readOff = 0
			continue
		}
		if s.readFile == nil {
			path := filepath.Join(s.dir, seg.name)
			f, err := s.cfg.fs.OpenFile(path, os.O_RDONLY, 0)
			if err != nil {
				return out, joinCorrupt(fmt.Errorf("spool: open segment %q: %w", path, err), corrupt)
			}
			s.readFile = f
			s.reader = frameReader{r: f}
		}
		s.reader.size = seg.size

		payload, next, bad, err := s.reader.next(s.readOff)
		if err != nil {
			return out, joinCorrupt(fmt.Errorf("spool: read segment %q: %w", filepath.Join(s.dir, seg.name), err), corrupt)
		}
		var e audit.Entry
		if bad == "" {
			if e, err = decodePayload(payload); err != nil {
				bad = err.Error()
			}
		}
		if bad != "" {
			if corrupt == nil {
				corrupt = &CorruptError{Dir: s.dir}
			}
			corrupt.Damage = append(corrupt.Damage, Damage{Segment: seg.name, Offset: s.readOff, Length: next - s.readOff, Reason: bad})
			s.damaged++
		} else {
			out = append(out, e)
			s.readCount++
		}
		s.readOff = next
	}
	if corrupt != nil {
		return out, corrupt
	}
	return out, nil
}

func joinCorrupt(err error, corrupt *CorruptError) error {
	if corrupt == nil {
		return err
	}
	return errors.Join(err, corrupt)
}

func (s *Spool) closeReader() {
	if s.readFile != nil {
		_ = s.readFile.Close() // opened read-only
		s.readFile = nil
		s.reader = frameReader{}
	}
}

// Ack acknowledges every entry Next returned and deletes the segments
// whose records were all returned. Records of a segment that was read
// only in part stay on disk until the rest of it is acknowledged too.
// After a restart, Next returns them again.
func (s *Spool) Ack() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.records -= s.readCount
	s.readCount = 0

	done := s.readSeg
	if done < len(s.segs) && s.readOff >= s.segs[done].size {
		done++ // the cursor's segment was read to its end
	}
	var errs []error
	for i := 0; i < done; i++ {
		seg := s.segs[i]
		if i == len(s.segs)-1 && s.active != nil {
			s.closeActive()
			s.dirty = false
		}
		if i == s.readSeg {
			s.closeReader()
		}
		path := filepath.Join(s.dir, seg.name)
		if err := s.cfg.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// The file stays behind, untracked; a later Open finds it and
			// its records are written again, which idempotent inserts make
			// harmless.
			errs = append(errs, fmt.Errorf("spool: delete %q: %w", path, err))
		}
		s.bytes -= seg.size
	}
	s.segs = slices.Delete(s.segs, 0, done)
	if done > s.readSeg {
		s.readSeg, s.readOff = 0, 0 // the cursor's segment is gone
	} else {
		s.readSeg -= done
	}
	if len(s.segs) == 0 {
		s.records = 0
	}
	return errors.Join(errs...)
}

// Stats returns the spool's counts.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Records:     s.records,
		Bytes:       s.bytes,
		Segments:    len(s.segs),
		DeadLetters: s.deadLetters,
		Damaged:     s.damaged,
	}
}

// Sync commits what Append took to stable storage.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.syncLocked()
}

func (s *Spool) syncLocked() error {
	if s.active == nil || !s.dirty {
		return nil
	}
	s.dirty = false
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("spool: fsync %q: %w", s.activePath(), err)
	}
	return nil
}

// Close commits what Append took, in every sync mode, closes the files and
// releases the folder. Calling Close again returns nil.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	if s.stop != nil {
		close(s.stop)
		<-s.done
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.active != nil && s.dirty {
		if err := s.active.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("spool: fsync %q: %w", s.activePath(), err))
		}
	}
	s.closeActive()
	s.closeReader()
	if s.dead != nil {
		errs = append(errs, s.dead.Close())
		s.dead = nil
	}
	errs = append(errs, s.lock.Close())
	return errors.Join(errs...)
}

// syncUnlocked commits the active segment without holding mu during the
// fsync, so that appends go on meanwhile. It ignores the error of a
// segment that was sealed or deleted during the fsync: seal commits it
// itself, and a deleted segment holds nothing left to commit.
func (s *Spool) syncUnlocked() error {
	s.mu.Lock()
	f := s.active
	if f == nil || !s.dirty || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.dirty = false
	path := s.activePath()
	s.mu.Unlock()

	err := f.Sync()

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.active == f {
		s.dirty = true // try again at the next tick
		return fmt.Errorf("spool: fsync %q: %w", path, err)
	}
	return nil
}

// syncLoop commits appended records every sync interval until Close.
func (s *Spool) syncLoop() {
	defer close(s.done)
	ticker := time.NewTicker(s.cfg.syncInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			if err := s.syncUnlocked(); err != nil {
				s.cfg.logger.Error("spool: commit failed; an operating system crash may lose the records appended since the last commit",
					"dir", s.dir, "error", err)
			}
		case <-s.stop:
			return
		}
	}
}

func segmentName(seq uint64) string {
	return fmt.Sprintf("%020d%s", seq, segmentSuffix)
}

// listSegments returns the segments in dir, oldest first, with their sizes.
func listSegments(fsys FS, dir string) ([]*segment, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: list %q: %w", dir, err)
	}
	var segs []*segment
	for _, ent := range ents {
		name := ent.Name()
		if ent.IsDir() || !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil {
			continue // not a name this package gives
		}
		info, err := ent.Info()
		if err != nil {
			return nil, fmt.Errorf("spool: stat %q: %w", filepath.Join(dir, name), err)
		}
		segs = append(segs, &segment{seq: seq, name: name, size: info.Size()})
	}
	slices.SortFunc(segs, func(a, b *segment) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return segs, nil
}

// countSegment counts the intact records of seg and its damaged regions,
// calling visit, when not nil, with each intact entry.
func countSegment(fsys FS, dir string, seg *segment, visit func(audit.Entry)) (records int64, damage []Damage, err error) {
	path := filepath.Join(dir, seg.name)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("spool: open segment %q: %w", path, err)
	}
	defer f.Close() // opened read-only

	damage, err = scanFrames(f, seg.name, seg.size, func(payload []byte) error {
		e, err := decodePayload(payload)
		if err != nil {
			return err
		}
		records++
		if visit != nil {
			visit(e)
		}
		return nil
	})
	if err != nil {
		return records, damage, fmt.Errorf("spool: read segment %q: %w", path, err)
	}
	return records, damage, nil
}
