package audit

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// errOutage is the cause given to batches that the writer moves to the
// spool without a store call, because the store failed before.
var errOutage = errors.New("audit: the store is unavailable")

// spoolState is the writer goroutine's view of the spool and the store.
type spoolState struct {
	// outage is set from a transient store error until an insert succeeds.
	// Meanwhile batches go to the spool, and the store is probed at
	// nextProbe, after probes failed probes in a row.
	outage    bool
	probes    int
	nextProbe time.Time
	// replayBatch holds the entries Next returned that are not written
	// yet, kept for the next try.
	replayBatch []Entry
	// spoolIdle is set when Next found nothing, and cleared when entries
	// are appended.
	spoolIdle bool
}

// rescued counts what rescue kept of a batch's lost entries.
type rescued struct {
	spooled      int
	deadLettered int
}

// runSpiller is the spiller goroutine: it appends the records that found
// the queue full to the spool, in batches, until Close stops it and the
// overflow queue is empty.
func (l *Logger) runSpiller() {
	defer close(l.spillDone)
	batch := make([]record, 0, l.cfg.batchSize)
	entries := make([]Entry, l.cfg.batchSize)
	metaPerEntry := 0
	for {
		select {
		case rec := <-l.overflow:
			batch = l.takeOverflow(append(batch[:0], rec))
			metaPerEntry = l.spill(batch, entries[:len(batch)], metaPerEntry)
		case <-l.stop:
			// Log sends only while it holds mu and the Logger is open, and
			// Close marks it closed before it closes stop, so nothing is
			// sent after the overflow queue is found empty here.
			for {
				batch = l.takeOverflow(batch[:0])
				if len(batch) == 0 {
					return
				}
				metaPerEntry = l.spill(batch, entries[:len(batch)], metaPerEntry)
			}
		}
	}
}

// takeOverflow adds to batch the records waiting in the overflow queue, up
// to the batch's capacity, without waiting.
func (l *Logger) takeOverflow(batch []record) []record {
	for len(batch) < cap(batch) {
		select {
		case rec := <-l.overflow:
			batch = append(batch, rec)
		default:
			return batch
		}
	}
	return batch
}

// spill appends the records of batch to the spool, encoded into entries,
// and settles them. It returns the mean metadata size for the next call.
func (l *Logger) spill(batch []record, entries []Entry, metaPerEntry int) int {
	metaPerEntry = encodeRecords(entries, func(i int) *record { return &batch[i] }, metaPerEntry)
	n, err := l.spool.Append(entries)

	l.mu.Lock()
	l.stats.Spooled += uint64(n)
	if n < len(entries) {
		l.onDropLocked(len(entries)-n, lossSpoolFailed, err)
	}
	l.spilled += uint64(len(batch))
	broadcast(&l.progress)
	broadcast(&l.space)
	l.mu.Unlock()

	clear(batch) // drop references to strings
	clear(entries)
	notify(l.spoolWake)
	return metaPerEntry
}

// rescue offers the lost entries of a batch to the spool: those lost to a
// transient error go to the spool, those the store refused for good to
// its dead-letter file. It updates out to what is still lost: the entries
// the spool could not take, and the refused ones, which stay counted as
// Failed even when the dead-letter file keeps them.
func (l *Logger) rescue(entries []Entry, out *batchOutcome) rescued {
	var kept rescued
	switch out.reason {
	case lossRetriesExhausted, lossClosed:
		lost := make([]Entry, len(out.lost))
		for i, j := range out.lost {
			lost[i] = entries[j]
		}
		n, err := l.spool.Append(lost)
		kept.spooled = n
		out.lost = out.lost[n:]
		if len(out.lost) > 0 {
			out.reason, out.cause = lossSpoolFailed, err
		}
		l.spoolIdle = false

	case lossPermanent, lossRejected:
		failed := failedEntries(entries, out.lost, out.cause)
		if err := l.spool.DeadLetter(failed); err != nil {
			out.cause = errors.Join(out.cause, err)
		} else {
			kept.deadLettered = len(failed)
		}
	}
	return kept
}

// failedEntries pairs the entries at the indexes lost with their cause:
// the entry's own error when cause is a *RejectedError that names it, and
// cause otherwise.
func failedEntries(entries []Entry, lost []int, cause error) []FailedEntry {
	var rejected *RejectedError
	perEntry := map[string]error{}
	if errors.As(cause, &rejected) {
		for _, r := range rejected.Rejected {
			perEntry[r.ID] = r.Err
		}
	}
	failed := make([]FailedEntry, len(lost))
	for i, j := range lost {
		err, ok := perEntry[entries[j].ID]
		if !ok || err == nil {
			err = cause
		}
		failed[i] = FailedEntry{Entry: entries[j], Err: err}
	}
	return failed
}

// replayStep writes the next batch of spooled entries to the store, and
// reports whether it wrote one. During an outage it is the probe: a
// transient error schedules the next one with backoff and keeps the batch.
func (l *Logger) replayStep() bool {
	if l.replayBatch == nil {
		batch, err := l.spool.Next(l.cfg.batchSize)
		if err != nil {
			// NOTE: after a read error other than damage, the writer reads
			// the spool again only once more entries are appended, or at the
			// next start.
			l.emitError("audit: reading the spool failed", err)
		}
		if len(batch) == 0 {
			l.spoolIdle = true
			if l.outage {
				// Nothing to probe with: the next batch from the queue tries
				// the store itself.
				l.endOutage()
			}
			return false
		}
		l.replayBatch = batch
	}
	batch := l.replayBatch

	written, deadLettered := len(batch), 0
	err := l.insert(batch)
	var rejected *RejectedError
	switch {
	case err == nil:
	case errors.As(err, &rejected) || IsPermanent(err):
		out := loseAll(batch, lossPermanent, err)
		if rejected != nil {
			out = rejectedOutcome(batch, rejected, err)
		}
		written = out.written
		failed := failedEntries(batch, out.lost, err)
		if dlErr := l.spool.DeadLetter(failed); dlErr != nil {
			l.emitLoss(&LossError{Entries: uint64(len(failed)), Failed: true, Err: errors.Join(err, dlErr), reason: out.reason})
		} else {
			deadLettered = len(failed)
		}
	default:
		l.beginOutage(err)
		return false
	}

	if err := l.spool.Ack(); err != nil {
		l.emitError("audit: acknowledging spooled entries failed; they will be written again after a restart", err)
	}
	l.replayBatch = nil
	l.mu.Lock()
	l.stats.Replayed += uint64(written)
	l.stats.DeadLettered += uint64(deadLettered)
	l.mu.Unlock()
	if l.outage {
		l.endOutage()
	}
	return true
}

// beginOutage records a transient store error: it starts an outage or
// extends it, and schedules the next probe.
func (l *Logger) beginOutage(err error) {
	if !l.outage {
		l.outage = true
		l.probes = 0
		l.cfg.logger.LogAttrs(context.Background(), slog.LevelWarn,
			"audit: store unavailable; moving entries to the spool until it is back",
			slog.Any("error", err))
	}
	l.probes++
	wait := l.backoff(l.probes)
	l.nextProbe = time.Now().Add(wait)
	l.mu.Lock()
	l.stats.Retries++
	l.mu.Unlock()
	if l.probes > 1 {
		l.reportProbe(l.probes, wait, err)
	}
}

func (l *Logger) endOutage() {
	l.outage = false
	l.probes = 0
	l.cfg.logger.LogAttrs(context.Background(), slog.LevelInfo,
		"audit: store is back; writing the spooled entries")
}

// scheduleReplay sets t to fire when the writer should next take a batch
// from the spool: at once while entries wait, at the next probe during an
// outage, and not at all when the spool is empty.
func (l *Logger) scheduleReplay(t *time.Timer) {
	switch {
	case l.outage:
		t.Reset(time.Until(l.nextProbe))
	case !l.spoolIdle:
		t.Reset(0)
	default:
		t.Stop()
	}
}

// drainSpool writes spooled entries to the store until the spool is
// empty, the store fails or Close gives up. It probes the store once even
// during an outage, since the store may be back.
func (l *Logger) drainSpool() {
	l.spoolIdle = false
	l.outage = false
	for !l.aborted() && l.replayStep() {
	}
}

// reportProbe logs a failed probe, rate-limited like retries.
func (l *Logger) reportProbe(probe int, wait time.Duration, err error) {
	suppressed, ok := l.reporter.allowRetryLog(l.cfg.now())
	if !ok {
		return
	}
	l.cfg.logger.LogAttrs(context.Background(), slog.LevelWarn, "audit: store still unavailable; entries wait in the spool",
		slog.Int("probe", probe),
		slog.Duration("next_probe", wait),
		slog.Int("retries_not_logged", suppressed),
		slog.Any("error", err),
	)
}

// emitError reports an error that lost no entry of this Logger to the
// slog.Logger and the error handler.
func (l *Logger) emitError(msg string, err error) {
	l.cfg.logger.LogAttrs(context.Background(), slog.LevelError, msg, slog.Any("error", err))
	if l.cfg.errorHandler != nil {
		l.callErrorHandler(err)
	}
}
