package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// lossReason is the cause of entries leaving a Logger unwritten.
type lossReason int

const (
	lossQueueFull        lossReason = iota // dropped: the queue was full
	lossRetriesExhausted                   // dropped: transient errors outlasted the retries
	lossClosed                             // dropped: Close's context ended first
	lossPermanent                          // failed: an error that IsPermanent reports
	lossRejected                           // failed: named in a *RejectedError
	lossSpoolFailed                        // dropped: the spool could not take them
	numLossReasons
)

func (r lossReason) String() string {
	switch r {
	case lossQueueFull:
		return "queue_full"
	case lossRetriesExhausted:
		return "retries_exhausted"
	case lossClosed:
		return "close_timed_out"
	case lossPermanent:
		return "permanent_error"
	case lossRejected:
		return "rejected"
	case lossSpoolFailed:
		return "spool_failed"
	}
	return fmt.Sprintf("lossReason(%d)", int(r))
}

// failed reports whether the store refused the entries for good, which
// Stats counts as Failed rather than Dropped.
func (r lossReason) failed() bool {
	return r == lossPermanent || r == lossRejected
}

// LossError is the error the error handler receives when a Logger gave up
// on entries. Entries of one kind lost within one report interval are
// counted together, and Err is the cause of the last of them.
type LossError struct {
	// Entries is the number of entries lost.
	Entries uint64
	// Failed reports that the store refused the entries for good; Stats
	// counts them as Failed. Otherwise they were dropped, counted as Dropped.
	Failed bool
	// Err is the cause: ErrQueueFull, the store's error, or the context
	// error that ended Close.
	Err error

	reason lossReason
}

func (e *LossError) Error() string {
	switch e.reason {
	case lossQueueFull:
		return fmt.Sprintf("audit: dropped %d entries because the queue was full; raise WithQueueSize, use WithBlock, or find out why the store is slow", e.Entries)
	case lossRetriesExhausted:
		return fmt.Sprintf("audit: dropped %d entries because the store kept failing: %v", e.Entries, e.Err)
	case lossClosed:
		return fmt.Sprintf("audit: dropped %d entries because Close's context ended before they were written; give Close a longer timeout", e.Entries)
	case lossPermanent:
		return fmt.Sprintf("audit: %d entries failed with an error that retrying cannot fix: %v", e.Entries, e.Err)
	case lossSpoolFailed:
		return fmt.Sprintf("audit: dropped %d entries because the store could not take them and neither could the spool: %v", e.Entries, e.Err)
	default:
		return fmt.Sprintf("audit: %d entries failed: %v", e.Entries, e.Err)
	}
}

func (e *LossError) Unwrap() error { return e.Err }

// pendingLoss adds up the losses of one reason until they are reported.
type pendingLoss struct {
	entries uint64
	cause   error
}

// onDropLocked is the one place where entries leave the Logger without
// being written or spooled: it counts n lost entries and queues their
// report. The caller holds l.mu. With a spool, the writer and the spiller
// first offer the entries to the spool (see rescue and spill), so only
// what the spool could not take, or what the store refused for good,
// arrives here.
func (l *Logger) onDropLocked(n int, reason lossReason, cause error) {
	count := uint64(n)
	if reason.failed() {
		l.stats.Failed += count
	} else {
		l.stats.Dropped += count
	}
	p := &l.losses[reason]
	p.entries += count
	p.cause = cause
}

// reporter rate-limits the writer's reports. It is owned by the writer
// goroutine.
type reporter struct {
	interval         time.Duration
	lastLoss         [numLossReasons]time.Time
	lastRetryLog     time.Time
	retriesNotLogged int
}

// due reports whether a report of reason may go out at now.
func (r *reporter) due(reason lossReason, now time.Time) bool {
	last := r.lastLoss[reason]
	return last.IsZero() || now.Sub(last) >= r.interval
}

// allowRetryLog reports whether a retry may be logged at now, and how many
// retries were not logged since the last one that was.
func (r *reporter) allowRetryLog(now time.Time) (notLogged int, ok bool) {
	if !r.lastRetryLog.IsZero() && now.Sub(r.lastRetryLog) < r.interval {
		r.retriesNotLogged++
		return 0, false
	}
	notLogged = r.retriesNotLogged
	r.lastRetryLog = now
	r.retriesNotLogged = 0
	return notLogged, true
}

// report sends the pending losses whose reason has not been reported within
// the report interval, or all of them when final is true.
func (l *Logger) report(final bool) {
	now := l.cfg.now()
	var due [numLossReasons]pendingLoss
	l.mu.Lock()
	for reason := range l.losses {
		p := &l.losses[reason]
		if p.entries == 0 || (!final && !l.reporter.due(lossReason(reason), now)) {
			continue
		}
		due[reason] = *p
		*p = pendingLoss{}
	}
	l.mu.Unlock()

	for reason, p := range due {
		if p.entries == 0 {
			continue
		}
		l.reporter.lastLoss[reason] = now
		l.emitLoss(&LossError{Entries: p.entries, Failed: lossReason(reason).failed(), Err: p.cause, reason: lossReason(reason)})
	}
}

func (l *Logger) emitLoss(err *LossError) {
	l.cfg.logger.LogAttrs(context.Background(), slog.LevelError, "audit: entries lost",
		slog.String("reason", err.reason.String()),
		slog.Uint64("entries", err.Entries),
		slog.Any("error", err.Err),
	)
	if l.cfg.errorHandler != nil {
		l.callErrorHandler(err)
	}
}

// callErrorHandler calls the error handler, which must not take the writer
// down with a panic.
func (l *Logger) callErrorHandler(err error) {
	defer func() {
		if r := recover(); r != nil {
			l.cfg.logger.LogAttrs(context.Background(), slog.LevelError, "audit: error handler panicked",
				slog.Any("panic", r), slog.Any("error", err))
		}
	}()
	l.cfg.errorHandler(err)
}
