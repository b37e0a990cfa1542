package audit

// Spool keeps entries on local disk while the store cannot take them, so
// that a Logger loses none across outages, full queues and restarts. The
// audit/spool package implements it with segment files in a folder.
//
// A Logger calls Append from two goroutines, and every other method from
// its writer goroutine, so an implementation must be safe for concurrent
// use. It must not retain the slices it is given after a call returns.
type Spool interface {
	// Append adds entries at the end of the spool, in order, and returns
	// how many it took: all of them, or the ones before the first it could
	// not take, with an error saying why (the spool is full, the disk
	// failed). An entry is taken once a process crash can no longer lose
	// it; the spool's durability mode says when an operating system crash
	// can no longer lose it.
	Append(entries []Entry) (int, error)
	// Next returns up to n entries that follow the ones it returned since
	// the spool was opened, oldest first, and none when it has returned
	// every entry. When it skipped damaged records, it returns the intact
	// entries together with an error that describes the damage.
	Next(n int) ([]Entry, error)
	// Ack marks every entry Next returned as written, so the spool may free
	// their space. Entries that Next returned but that were not
	// acknowledged before a restart are returned again after it.
	Ack() error
	// DeadLetter keeps entries that the store refused for good, with the
	// cause of each, where an operator can inspect them.
	DeadLetter(failed []FailedEntry) error
	// Close commits what Append took to stable storage and releases the
	// spool. The Logger calls it from its own Close.
	Close() error
}

// FailedEntry is an entry the store refused for good, and the reason.
type FailedEntry struct {
	Entry Entry
	Err   error
}
