package audit

// Stats counts what a Logger did with the entries given to Log. Every valid
// entry that Log took before Close is counted in exactly one of Queued,
// Written, Dropped and Failed, so their sum is the number of such entries.
type Stats struct {
	// Queued is the number of entries waiting now: in the queue or in the
	// batch being written.
	Queued int
	// Written is the number of entries the store wrote.
	Written uint64
	// Dropped is the number of entries given up before the store returned a
	// final result for them: the queue was full, the retries ran out, or
	// Close's context ended first.
	Dropped uint64
	// Failed is the number of entries the store refused for good: a
	// permanent error for their batch, or a *RejectedError naming them.
	Failed uint64
	// Invalid is the number of Log calls rejected with a *ValidationError,
	// or that failed inside Log. They are not part of the sum above.
	Invalid uint64
	// Retries is the number of times a batch was written again after a
	// transient error.
	Retries uint64
}
