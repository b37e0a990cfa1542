//go:build !unix

package spool

import "os"

// lockFile does nothing where flock is not available.
//
// NOTE: two processes could then open one spool folder at once; their
// replays would write entries twice, which idempotent inserts make
// harmless, but one could delete a segment the other still reads.
func lockFile(*os.File) error { return nil }

func isLocked(string) bool { return false }
