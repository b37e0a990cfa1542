package audit

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrClosed is returned by Log, Flush and Close's callers after Close.
	ErrClosed = errors.New("audit: logger is closed")
	// ErrQueueFull is returned by Log when the queue is full and the entry
	// was dropped.
	ErrQueueFull = errors.New("audit: queue is full, entry dropped")
)

// ValidationError is returned by Log for an entry with an invalid field.
type ValidationError struct {
	Type  EntryType
	Field string
	Err   string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("audit: invalid %s entry: field %s %s", e.Type, e.Field, e.Err)
}

// Rejection is one entry that a store refused for good, and why.
type Rejection struct {
	ID  string
	Err error
}

// RejectedError is returned by Store.InsertEntries when the store wrote
// part of a batch and refused the listed entries for good, so that retrying
// them would not help.
type RejectedError struct {
	Rejected []Rejection
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "audit: store rejected %d entries", len(e.Rejected))
	for i, r := range e.Rejected {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Rejected)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: %v", r.ID, r.Err)
	}
	return b.String()
}

// PermanentError marks a store error that retrying cannot fix, such as an
// expired credential or a schema that is missing. The Logger does not retry
// a batch whose error wraps one.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err in a *PermanentError; it returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err wraps a *PermanentError or a *RejectedError.
func IsPermanent(err error) bool {
	var p *PermanentError
	var r *RejectedError
	return errors.As(err, &p) || errors.As(err, &r)
}
