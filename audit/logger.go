package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Logger records audit entries without slowing the agent down. Log
// validates an entry, stamps it and puts it in a bounded queue. One
// goroutine owned by the Logger takes entries from the queue in batches and
// is the only caller of the Store. Problems never reach Log's caller as
// panics or delays. Instead, lost entries are counted in Stats and reported
// to the error handler and the slog.Logger given as options.
//
// With a Spool (see WithSpool), entries that the store cannot take, or that
// find the queue full, go to local disk instead of being dropped, and the
// writer goroutine writes them to the store when it is back.
//
// A Logger is safe for concurrent use. Close it to write what is queued
// and to stop its goroutine.
type Logger struct {
	store Store
	cfg   config

	// closing is set by Close before it takes mu, so that Log can return
	// ErrClosed without building the entry.
	closing atomic.Bool
	invalid atomic.Uint64

	// mu guards the queue, the counters and the channels below it.
	mu sync.Mutex
	// ring is the queue: count records from index head, wrapping around.
	// Its first encoding records are being encoded by the writer, which
	// reads them without holding mu; Log only writes past count.
	ring     []record
	head     int
	count    int
	encoding int
	closed   bool
	// inFlight is the number of entries in the batch being written, taken
	// out of the queue once encoded.
	inFlight int
	// enqueued and settled count the records ever put in the queue and the
	// ones that reached a final state: written, dropped or failed.
	enqueued uint64
	settled  uint64
	stats    Stats
	losses   [numLossReasons]pendingLoss
	// space is closed when the writer frees room in the queue, and
	// progress when records settle; each is made only while someone waits.
	space    chan struct{}
	progress chan struct{}

	wake     chan struct{} // the queue holds a full batch
	flushNow chan struct{} // a caller waits for the queue to be written
	stop     chan struct{} // closed by Close: drain and exit
	abort    chan struct{} // closed when Close's context ends: give up
	done     chan struct{} // closed by the writer when it exits

	// writeCtx is the parent of every InsertEntries context. Close cancels
	// it when its own context ends.
	writeCtx     context.Context
	cancelWrites context.CancelFunc

	closeOnce sync.Once

	// spool, when not nil, takes what the store cannot. overflow carries
	// the records that found the queue full from Log to the spiller
	// goroutine, which appends them to the spool. overflowed and spilled,
	// guarded by mu, count the records that entered overflow and those
	// that settled from it; both grow in the same order.
	spool      Spool
	overflow   chan record
	overflowed uint64
	spilled    uint64
	spillDone  chan struct{} // closed by the spiller when it exits
	spoolWake  chan struct{} // the spiller appended to the spool

	// Owned by the writer goroutine.
	entries []Entry
	// metaPerEntry is the mean metadata size of the last batch, in bytes,
	// to size the next batch's buffer.
	metaPerEntry int
	reporter     reporter
	spoolState
}

// New returns a Logger that writes to store, and starts its writer
// goroutine. Close the Logger to stop it; Close also closes store. New
// panics when store is nil.
func New(store Store, opts ...Option) *Logger {
	if store == nil {
		panic("audit: New: store is nil; pass a Store such as sqlite.Store")
	}
	cfg := newConfig(opts)
	writeCtx, cancel := context.WithCancel(context.Background())
	l := &Logger{
		store:        store,
		cfg:          cfg,
		ring:         make([]record, cfg.queueSize),
		wake:         make(chan struct{}, 1),
		flushNow:     make(chan struct{}, 1),
		stop:         make(chan struct{}),
		abort:        make(chan struct{}),
		done:         make(chan struct{}),
		writeCtx:     writeCtx,
		cancelWrites: cancel,
		entries:      make([]Entry, cfg.batchSize),
		reporter:     reporter{interval: cfg.errorReportInterval},
		spool:        cfg.spool,
	}
	if l.spool != nil {
		l.overflow = make(chan record, cfg.queueSize)
		l.spillDone = make(chan struct{})
		l.spoolWake = make(chan struct{}, 1)
		go l.runSpiller()
	}
	go l.run()
	return l
}

// Log records m, an *LLMCall or a *ToolExecution, as one entry of the chat
// that ctx carries (see WithChatID). It validates m and the chat ID, which
// holds at most MaxChatIDBytes bytes, and returns a *ValidationError naming
// the first invalid field. It copies m, so the caller may reuse m and
// anything m points to once Log returns. For a
// *ToolExecution with an empty InputSummary, Log fills InputSummary and
// InputBytes from Input with Summarize.
//
// By default Log does not wait: it queues the entry and returns nil, or
// drops it and returns ErrQueueFull when the queue is full (see WithBlock
// and WithSync for the other behaviours). With a spool, a full queue hands
// the entry to the spiller goroutine instead. The spiller's queue is as
// large as the main one. When it is full too, Log waits for room up to
// DefaultSpoolBlock, or the WithBlock timeout, before it drops the entry.
// Log itself never touches the disk. After Close it returns ErrClosed.
// Log never panics.
func (l *Logger) Log(ctx context.Context, m Metadata) (err error) {
	defer func() {
		if r := recover(); r != nil {
			l.invalid.Add(1)
			err = fmt.Errorf("audit: log %T: internal error: %v; the entry was not recorded", m, r)
		}
	}()
	if l.closing.Load() {
		return ErrClosed
	}
	if ctx == nil {
		ctx = context.Background()
	}

	p, err := prepare(m)
	if err != nil {
		l.invalid.Add(1)
		return err
	}
	p.chatID = ChatID(ctx)
	if err := ValidateChatID(m.EntryType(), p.chatID); err != nil {
		l.invalid.Add(1)
		return err
	}
	p.createdAt = l.cfg.now().UTC()

	t, err := l.enqueue(ctx, &p)
	if err != nil || !l.cfg.sync {
		return err
	}
	return l.waitSettled(ctx, t)
}

// Flush returns when every entry that Log queued before the call has been
// written, moved to the spool or has failed for good, or when ctx ends,
// returning an error that wraps ctx.Err(). An entry counts as moved to the
// spool once Append returned, which in the spool's strictest mode means
// committed to stable storage. Flush does not wait for entries that wait
// in the spool to reach the store. Entries lost on the way are counted in
// Stats and reported to the error handler, not returned. After Close,
// Flush returns ErrClosed.
func (l *Logger) Flush(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	target := ticket{queued: l.enqueued, overflowed: l.overflowed}
	l.mu.Unlock()
	return l.waitSettled(ctx, target)
}

// Close stops intake, writes what is queued and closes the store. Log and
// Flush return ErrClosed once Close has begun. When ctx ends before the
// queue is written, Close cancels the write in progress, drops the entries
// left and still closes the store. The error joins the context's error, a
// count of the entries lost while draining, and the store's Close error.
// Calling Close again returns nil at once.
//
// With a spool, Close moves what the store cannot take to the spool instead
// of dropping it, including what is left when ctx ends. It then writes what
// waits in the spool to the store until the spool is empty, the store fails
// or ctx ends. The rest stays in the spool for the next start. Close closes
// the spool after the writer stops.
func (l *Logger) Close(ctx context.Context) error {
	first := false
	l.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}

	// Stop intake and wake Log calls that wait for room.
	l.closing.Store(true)
	l.mu.Lock()
	l.closed = true
	lostBefore := l.stats.Dropped + l.stats.Failed
	broadcast(&l.space)
	l.mu.Unlock()

	// Let the writer drain the queue, or make it give up when ctx ends.
	var errs []error
	close(l.stop)
	select {
	case <-l.done:
	case <-ctx.Done():
		close(l.abort)
		l.cancelWrites()
		<-l.done
		errs = append(errs, fmt.Errorf("audit: close: queue not drained: %w", ctx.Err()))
	}
	l.cancelWrites()

	l.mu.Lock()
	lost := l.stats.Dropped + l.stats.Failed - lostBefore
	l.mu.Unlock()
	if lost > 0 {
		errs = append(errs, fmt.Errorf("audit: close: %d entries were not written while draining the queue; the error handler received the causes", lost))
	}
	if l.spool != nil {
		if err := l.spool.Close(); err != nil {
			errs = append(errs, fmt.Errorf("audit: close spool: %w", err))
		}
	}
	if err := l.closeStore(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Stats returns the Logger's counters, taken together at one instant.
func (l *Logger) Stats() Stats {
	l.mu.Lock()
	s := l.stats
	s.Queued = l.count + l.inFlight + int(l.overflowed-l.spilled)
	l.mu.Unlock()
	s.Invalid = l.invalid.Load()
	return s
}

// ticket is the position of an entry, or of the last entry a Flush waits
// for, in the two queues: the main queue's enqueued count and the
// overflow's overflowed count just after it went in. Zero waits for
// nothing in that queue.
type ticket struct {
	queued     uint64
	overflowed uint64
}

// enqueue copies p into the queue, with an id that sorts after those of
// the entries queued before it, and returns its ticket. When the queue is
// full and there is a spool, it hands the entry to the spiller instead.
// When there is no room in either, it waits for room up to the block
// timeout, then drops the entry.
func (l *Logger) enqueue(ctx context.Context, p *pendingEntry) (ticket, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()

	l.mu.Lock()
	for {
		if l.closed {
			l.mu.Unlock()
			return ticket{}, ErrClosed
		}
		if l.count < len(l.ring) {
			break
		}
		if l.overflow != nil {
			// The send happens under mu, so the overflow's order and the
			// overflowed count agree, which Flush relies on.
			var rec record
			rec.set(p, processIDs.next(p.createdAt))
			select {
			case l.overflow <- rec:
				l.overflowed++
				t := ticket{overflowed: l.overflowed}
				l.mu.Unlock()
				return t, nil
			default:
			}
		}

		if timer == nil && l.blockTimeout() > 0 {
			timer = time.NewTimer(l.blockTimeout())
		}
		if timer == nil || !l.waitForRoom(ctx, timer) {
			l.onDropLocked(1, lossQueueFull, ErrQueueFull)
			l.mu.Unlock()
			return ticket{}, ErrQueueFull
		}
	}

	i := l.head + l.count
	if i >= len(l.ring) {
		i -= len(l.ring)
	}
	l.ring[i].set(p, processIDs.next(p.createdAt))
	l.count++
	l.enqueued++
	t := ticket{queued: l.enqueued}
	fullBatch := l.count-l.encoding >= l.cfg.batchSize
	l.mu.Unlock()

	if fullBatch {
		notify(l.wake)
	}
	return t, nil
}

// blockTimeout returns how long Log waits for room: the WithBlock timeout,
// or with a spool DefaultSpoolBlock when none is set.
func (l *Logger) blockTimeout() time.Duration {
	if l.cfg.blockTimeout == 0 && l.spool != nil {
		return DefaultSpoolBlock
	}
	return l.cfg.blockTimeout
}

// waitForRoom waits, with mu held on entry and on return, until the writer
// or the spiller frees room, or the Logger closes. It reports false when
// timer fires or ctx ends first.
func (l *Logger) waitForRoom(ctx context.Context, timer *time.Timer) bool {
	if l.space == nil {
		l.space = make(chan struct{})
	}
	space := l.space
	l.mu.Unlock()
	defer l.mu.Lock()
	select {
	case <-space:
		return true
	case <-timer.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// waitSettled returns when the records up to t in both queues have
// settled, when ctx ends, or when the writer has exited.
func (l *Logger) waitSettled(ctx context.Context, t ticket) error {
	for {
		l.mu.Lock()
		if l.settledLocked(t) {
			l.mu.Unlock()
			return nil
		}
		if l.progress == nil {
			l.progress = make(chan struct{})
		}
		progress := l.progress
		waiting := sub0(t.queued, l.settled) + sub0(t.overflowed, l.spilled)
		l.mu.Unlock()

		notify(l.flushNow)
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("audit: %d entries not yet written when the context ended: %w", waiting, ctx.Err())
		case <-l.done:
			l.mu.Lock()
			settled := l.settledLocked(t)
			l.mu.Unlock()
			if settled {
				return nil
			}
			return ErrClosed
		}
	}
}

func (l *Logger) settledLocked(t ticket) bool {
	return l.settled >= t.queued && l.spilled >= t.overflowed
}

// sub0 returns a-b, or 0 when b >= a.
func sub0(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

// closeStore closes the store, turning a panic into an error.
func (l *Logger) closeStore() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("audit: close store: panic: %v", r)
		}
	}()
	if err := l.store.Close(); err != nil {
		return fmt.Errorf("audit: close store: %w", err)
	}
	return nil
}

// notify wakes the receiver of ch, a channel of capacity 1, without waiting.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// broadcast wakes everyone waiting on *ch and clears it; the caller holds
// the lock that guards *ch.
func broadcast(ch *chan struct{}) {
	if *ch != nil {
		close(*ch)
		*ch = nil
	}
}
