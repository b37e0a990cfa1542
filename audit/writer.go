package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// run is the writer goroutine. It writes full batches as soon as they are
// queued, partial ones every flush interval or when a caller waits, and
// drains the queue when Close stops it. With a spool, it also writes the
// spooled entries to the store, one batch per turn, and probes the store
// during an outage.
func (l *Logger) run() {
	defer close(l.done)
	ticker := time.NewTicker(l.cfg.flushInterval)
	defer ticker.Stop()
	var replay *time.Timer
	var replayC <-chan time.Time
	if l.spool != nil {
		replay = time.NewTimer(0) // entries an earlier process left come first
		defer replay.Stop()
		replayC = replay.C
	}

	for {
		select {
		case <-l.wake:
			l.writeQueued(false)
		case <-ticker.C:
			l.writeQueued(true)
		case <-l.flushNow:
			l.writeQueued(true)
		case <-replayC:
			l.replayStep()
		case <-l.spoolWake:
			l.spoolIdle = false
		case <-l.stop:
			// Log rejects new entries by now, so this empties the queue.
			l.writeQueued(true)
			if l.spool != nil {
				<-l.spillDone
				l.drainSpool()
			}
			l.report(true)
			return
		}
		if replay != nil {
			l.scheduleReplay(replay)
		}
		l.report(false)
	}
}

// writeQueued writes the queue in batches: only full batches when all is
// false, and everything queued when the call began when all is true.
func (l *Logger) writeQueued(all bool) {
	l.mu.Lock()
	target := l.enqueued
	l.mu.Unlock()

	for {
		entries := l.takeBatch(all, target)
		if len(entries) == 0 {
			return
		}
		l.writeBatch(entries)
	}
}

// takeBatch encodes up to a batch of records from the head of the queue
// into l.entries, then takes them out of the queue.
func (l *Logger) takeBatch(all bool, target uint64) []Entry {
	l.mu.Lock()
	if l.count == 0 || (!all && l.count < l.cfg.batchSize) || (all && l.settled >= target) {
		l.mu.Unlock()
		return nil
	}
	n := min(l.count, l.cfg.batchSize)
	start := l.head
	l.encoding = n
	l.mu.Unlock()

	// Log writes only past the records reserved above, so they can be
	// read without the lock.
	entries := l.entries[:n]
	l.metaPerEntry = encodeRecords(entries, func(i int) *record {
		return &l.ring[(start+i)%len(l.ring)]
	}, l.metaPerEntry)

	l.mu.Lock()
	for i := range n {
		l.ring[(start+i)%len(l.ring)] = record{} // drop references to strings
	}
	l.head = (start + n) % len(l.ring)
	l.count -= n
	l.encoding = 0
	l.inFlight = n
	broadcast(&l.space)
	l.mu.Unlock()
	return entries
}

// batchOutcome is the final state of a batch: how many entries were
// written, and which were lost and why.
type batchOutcome struct {
	written int
	// lost holds the indexes of the lost entries in the batch.
	lost   []int
	reason lossReason
	cause  error
}

// writeBatch writes entries to the store, retrying transient errors, and
// settles every one of them. With a spool, what the store does not take
// goes to the spool or its dead-letter file, and during an outage the
// whole batch goes to the spool without a store call.
func (l *Logger) writeBatch(entries []Entry) {
	var out batchOutcome
	if l.spool != nil && l.outage {
		out = loseAll(entries, lossRetriesExhausted, errOutage)
	} else {
		out = l.insertWithRetry(entries)
	}
	var kept rescued
	if l.spool != nil && len(out.lost) > 0 {
		kept = l.rescue(entries, &out)
	}

	// Count the outcome and report losses before the batch settles, so that
	// a Flush that returns has seen both.
	l.mu.Lock()
	l.stats.Written += uint64(out.written)
	l.stats.Spooled += uint64(kept.spooled)
	l.stats.DeadLettered += uint64(kept.deadLettered)
	if len(out.lost) > 0 {
		l.onDropLocked(len(out.lost), out.reason, out.cause)
	}
	l.inFlight = 0
	l.mu.Unlock()
	l.report(false)

	l.mu.Lock()
	l.settled += uint64(len(entries))
	broadcast(&l.progress)
	l.mu.Unlock()

	clear(entries)
}

// encodeRecords builds in entries the store entries of the records that
// rec returns for each index, and returns their mean metadata size, for
// the next call's metaPerEntry. The ids of a batch share one string and
// the metadata one new buffer, which the store may keep.
func encodeRecords(entries []Entry, rec func(i int) *record, metaPerEntry int) int {
	n := len(entries)
	ids := make([]byte, 0, 36*n)
	perEntry := max(metaPerEntry+metaPerEntry/4, 256)
	meta := make([]byte, 0, n*perEntry)
	for i := range entries {
		rec := rec(i)
		ids = appendID(ids, rec.id)
		begin := len(meta)
		meta = appendMetadata(meta, rec)
		// When append moves meta, earlier entries keep the old array,
		// which still holds their bytes.
		entries[i] = Entry{
			Type:      rec.typ,
			ChatID:    rec.chatID,
			CreatedAt: rec.createdAt,
			Metadata:  meta[begin:len(meta):len(meta)],
		}
	}

	idText := string(ids)
	for i := range entries {
		entries[i].ID = idText[36*i : 36*(i+1)]
	}
	return len(meta) / n
}

// insertWithRetry writes entries, retrying transient errors with backoff
// until the retries run out or Close gives up.
func (l *Logger) insertWithRetry(entries []Entry) batchOutcome {
	if l.aborted() {
		return loseAll(entries, lossClosed, errCloseTimedOut)
	}
	for attempt := 1; ; attempt++ {
		err := l.insert(entries)
		if err == nil {
			return batchOutcome{written: len(entries)}
		}

		var rejected *RejectedError
		switch {
		case errors.As(err, &rejected):
			return rejectedOutcome(entries, rejected, err)
		case IsPermanent(err):
			return loseAll(entries, lossPermanent, err)
		case l.aborted():
			return loseAll(entries, lossClosed, err)
		case l.spool != nil:
			// The spool is the retry: the batch goes there at once, and the
			// outage probes decide when the store is back.
			l.beginOutage(err)
			return loseAll(entries, lossRetriesExhausted, err)
		case attempt > l.cfg.maxRetries:
			return loseAll(entries, lossRetriesExhausted, fmt.Errorf("%d attempts: %w", attempt, err))
		}

		wait := l.backoff(attempt)
		l.mu.Lock()
		l.stats.Retries++
		l.mu.Unlock()
		l.reportRetry(entries, attempt, wait, err)
		if !l.sleep(wait) {
			return loseAll(entries, lossClosed, err)
		}
	}
}

// errCloseTimedOut is the cause of entries dropped because Close's context
// ended before they were written.
var errCloseTimedOut = errors.New("audit: Close's context ended before the entries were written")

// insert makes one InsertEntries call, bounded by the write timeout. A
// panic in the store becomes a permanent error, since the same batch would
// likely panic again.
func (l *Logger) insert(entries []Entry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("audit: store panicked: %v", r))
		}
	}()
	ctx, cancel := context.WithTimeout(l.writeCtx, l.cfg.writeTimeout)
	defer cancel()
	return l.store.InsertEntries(ctx, entries)
}

func rejectedOutcome(entries []Entry, rejected *RejectedError, err error) batchOutcome {
	ids := make(map[string]bool, len(rejected.Rejected))
	for _, r := range rejected.Rejected {
		ids[r.ID] = true
	}
	out := batchOutcome{reason: lossRejected, cause: err}
	for i, e := range entries {
		if ids[e.ID] {
			out.lost = append(out.lost, i)
		}
	}
	out.written = len(entries) - len(out.lost)
	return out
}

func loseAll(entries []Entry, reason lossReason, cause error) batchOutcome {
	out := batchOutcome{lost: make([]int, len(entries)), reason: reason, cause: cause}
	for i := range out.lost {
		out.lost[i] = i
	}
	return out
}

// backoff returns the wait before retry number attempt: the first backoff
// doubled for each earlier retry, capped, then picked at random from its
// upper half.
func (l *Logger) backoff(attempt int) time.Duration {
	wait := l.cfg.retryBackoff
	for range attempt - 1 {
		if wait >= l.cfg.maxRetryBackoff/2 {
			wait = l.cfg.maxRetryBackoff
			break
		}
		wait *= 2
	}
	wait = min(wait, l.cfg.maxRetryBackoff)
	return wait/2 + rand.N(wait/2+1)
}

// sleep waits for d and reports false when Close gives up first.
func (l *Logger) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-l.abort:
		return false
	}
}

func (l *Logger) aborted() bool {
	select {
	case <-l.abort:
		return true
	default:
		return false
	}
}

func (l *Logger) reportRetry(entries []Entry, attempt int, wait time.Duration, err error) {
	suppressed, ok := l.reporter.allowRetryLog(l.cfg.now())
	if !ok {
		return
	}
	l.cfg.logger.LogAttrs(context.Background(), slog.LevelWarn, "audit: retrying batch after store error",
		slog.Int("entries", len(entries)),
		slog.String("first_id", entries[0].ID),
		slog.Int("attempt", attempt),
		slog.Duration("backoff", wait),
		slog.Int("retries_not_logged", suppressed),
		slog.Any("error", err),
	)
}
