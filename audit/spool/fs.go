package spool

import (
	"io"
	"io/fs"
	"os"
)

// FS is the file system a Spool keeps its files in. OS, the default, is the
// operating system's. Another FS serves to inject faults, such as a disk
// that fills up, in tests.
type FS interface {
	MkdirAll(path string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	// SyncDir commits the directory's entries, such as a new file's name,
	// to stable storage.
	SyncDir(name string) error
	// Lock takes an exclusive lock on the file name, creating it, without
	// waiting. It returns an error wrapping ErrLocked when another process
	// holds the lock. Closing the result releases the lock.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS. *os.File implements it.
type File interface {
	io.Writer
	io.ReaderAt
	io.Closer
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
}

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil *os.File must not become a non-nil File
	}
	return f, nil
}

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}

func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil // closing the file releases the lock
}
