package audit

// Stats counts what a Logger did with the entries given to Log. Every valid
// entry that Log took before Close is counted in exactly one of Queued,
// Written, Spooled, Dropped and Failed, so their sum is the number of such
// entries.
type Stats struct {
	// Queued is the number of entries waiting now: in the queue, in the
	// batch being written, or on their way to the spool.
	Queued int
	// Written is the number of entries the store wrote straight from the
	// queue.
	Written uint64
	// Spooled is the number of entries moved to the spool because the
	// store failed or the queue was full.
	Spooled uint64
	// Replayed is the number of entries written from the spool to the
	// store, including entries an earlier process spooled. It is not part
	// of the sum above.
	Replayed uint64
	// DeadLettered is the number of entries the store refused for good
	// that the spool keeps in its dead-letter file, from the queue (also
	// counted in Failed) or from the spool.
	DeadLettered uint64
	// Dropped is the number of entries given up before the store returned a
	// final result for them: the queue was full, the retries ran out, or
	// Close's context ended first. With a spool, it counts only those the
	// spool could not take either.
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
