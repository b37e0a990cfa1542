package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

const injection = `'; DROP TABLE audit_logs; --`

func TestInsertEntriesRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)

	// json.Marshal escapes the NUL byte as \u0000 and replaces the invalid
	// UTF-8 byte with the escaped U+FFFD, \ufffd, as the Logger's encoding
	// does.
	tool, err := json.Marshal(&audit.ToolExecution{
		ToolName:     injection,
		Status:       audit.StatusError,
		InputSummary: "bad \xff byte, NUL \x00 byte, emoji \U0001F600",
		Error:        "nul\x00inside",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(tool, []byte(`\u0000`)) || !bytes.Contains(tool, []byte(`\ufffd`)) {
		t.Fatalf("metadata %s lacks \\u0000 or \\ufffd; the test input is wrong", tool)
	}
	llmCall, err := json.Marshal(&audit.LLMCall{Provider: "openai", Model: injection, Status: audit.StatusSuccess})
	if err != nil {
		t.Fatal(err)
	}

	in := []audit.Entry{
		makeEntry(audit.TypeToolExecution, injection, string(tool)),
		makeEntry(audit.TypeLLMCall, "chat \x00 with NUL", string(llmCall)),
		makeEntry(audit.TypeLLMCall, "", "{\"raw\":\"U+FFFD \uFFFD unescaped, \\u0000 escaped\"}"),
	}
	if err := s.InsertEntries(ctx, in); err != nil {
		t.Fatalf("InsertEntries() = %v, want nil", err)
	}

	got, err := s.Entries(ctx, audit.Filter{})
	if err != nil {
		t.Fatalf("Entries() = %v, want nil", err)
	}
	if len(got) != len(in) {
		t.Fatalf("Entries() returned %d entries, want %d", len(got), len(in))
	}
	for i := range in {
		checkEntryEqual(t, got[i], in[i])
	}

	var meta audit.ToolExecution
	if err := json.Unmarshal(got[0].Metadata, &meta); err != nil {
		t.Fatalf("decode stored metadata: %v", err)
	}
	if meta.ToolName != injection {
		t.Errorf("stored toolName = %q, want %q", meta.ToolName, injection)
	}
	if meta.Error != "nul\x00inside" {
		t.Errorf("stored error = %q, want the NUL byte kept", meta.Error)
	}
	if n := countRows(t, s, "audit_logs"); n != len(in) {
		t.Errorf("audit_logs has %d rows, want %d", n, len(in))
	}

	// The stored column is TEXT, not BLOB, so SQL's JSON functions read it.
	var typ, toolName string
	err = s.reader.QueryRow("SELECT typeof(metadata), json_extract(metadata, '$.toolName') FROM audit_logs WHERE id = ?", in[0].ID).Scan(&typ, &toolName)
	if err != nil {
		t.Fatal(err)
	}
	if typ != "text" || toolName != injection {
		t.Errorf("typeof(metadata), toolName = %q, %q, want text, %q", typ, toolName, injection)
	}
}

func checkEntryEqual(t *testing.T, got, want audit.Entry) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.ChatID != want.ChatID {
		t.Errorf("entry = {%q %q %q}, want {%q %q %q}", got.ID, got.Type, got.ChatID, want.ID, want.Type, want.ChatID)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("entry %s CreatedAt = %v, want %v", want.ID, got.CreatedAt, want.CreatedAt)
	}
	if !bytes.Equal(got.Metadata, want.Metadata) {
		t.Errorf("entry %s Metadata = %q, want %q", want.ID, got.Metadata, want.Metadata)
	}
}

func TestInsertEntriesCreatedAtFormat(t *testing.T) {
	s, _ := openTemp(t)
	e := makeEntry(audit.TypeLLMCall, "c", `{}`)
	e.CreatedAt = time.Date(2026, 12, 4, 19, 16, 50, 123456789, time.FixedZone("CET", 3600))
	if err := s.InsertEntries(context.Background(), []audit.Entry{e}); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := s.reader.QueryRow("SELECT created_at FROM audit_logs WHERE id = ?", e.ID).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := "2026-12-04T18:16:50.123Z"; got != want {
		t.Errorf("created_at = %q, want %q", got, want)
	}
}

// TestInsertEntriesMixedBatch stores a batch whose neighbouring rows differ
// in chat, type and millisecond, or share them in another time zone.
func TestInsertEntriesMixedBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	base := time.Date(2026, 5, 6, 7, 8, 9, 10_000_000, time.UTC)
	paris := time.FixedZone("CEST", 2*3600)

	specs := []struct {
		chat string
		typ  audit.EntryType
		at   time.Time
	}{
		{"a", audit.TypeLLMCall, base},
		{"a", audit.TypeToolExecution, base.Add(900 * time.Microsecond)},
		{"b", audit.TypeLLMCall, base.In(paris)},
		{"b", audit.TypeLLMCall, base.Add(time.Millisecond)},
		{"", audit.TypeToolExecution, base.Add(time.Millisecond)},
		{"a", audit.TypeToolExecution, base},
	}
	var in []audit.Entry
	for i, sp := range specs {
		e := makeEntry(sp.typ, sp.chat, fmt.Sprintf(`{"i":%d}`, i))
		e.CreatedAt = sp.at
		in = append(in, e)
	}
	if err := s.InsertEntries(ctx, in); err != nil {
		t.Fatal(err)
	}

	for i, e := range in {
		var typ, chat, createdAt string
		err := s.reader.QueryRow("SELECT type, chat_id, created_at FROM audit_logs WHERE id = ?", e.ID).Scan(&typ, &chat, &createdAt)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if typ != string(e.Type) || chat != e.ChatID || createdAt != audit.FormatTime(e.CreatedAt) {
			t.Errorf("row %d = {%s %q %s}, want {%s %q %s}", i, typ, chat, createdAt, e.Type, e.ChatID, audit.FormatTime(e.CreatedAt))
		}
	}
}

func TestInsertEntriesIdempotent(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	batch := make([]audit.Entry, 300)
	for i := range batch {
		batch[i] = makeEntry(audit.TypeLLMCall, "c", fmt.Sprintf(`{"i":%d}`, i))
	}
	// An id repeated inside one batch is stored once too.
	batch = append(batch, batch[0])

	for i := range 2 {
		if err := s.InsertEntries(ctx, batch); err != nil {
			t.Fatalf("InsertEntries() #%d = %v, want nil", i+1, err)
		}
	}
	if got, want := countRows(t, s, "audit_logs"), 300; got != want {
		t.Errorf("audit_logs has %d rows after inserting one batch twice, want %d", got, want)
	}
}

func TestInsertEntriesRejectsBadRows(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)

	// 600 rows span four INSERT statements of 512, 64, 16 and 8 rows. The
	// bad rows sit in the first and the last, beside good ones.
	batch := make([]audit.Entry, 600)
	for i := range batch {
		batch[i] = makeEntry(audit.TypeLLMCall, "c", fmt.Sprintf(`{"i":%d}`, i))
	}
	batch[3].Type = "bogus"
	batch[599].Type = "llm_call; DROP TABLE audit_logs"
	batch[100].Metadata = nil
	batch[200].ID = ""
	wantRejected := map[string]string{
		batch[3].ID:   "CHECK constraint failed",
		batch[599].ID: "CHECK constraint failed",
		batch[100].ID: "metadata is empty",
		"":            "id is empty",
	}

	err := s.InsertEntries(ctx, batch)
	var rejected *audit.RejectedError
	if !errors.As(err, &rejected) {
		t.Fatalf("InsertEntries() = %v, want a *audit.RejectedError", err)
	}
	if !audit.IsPermanent(err) {
		t.Errorf("audit.IsPermanent(%v) = false, want true", err)
	}
	if len(rejected.Rejected) != len(wantRejected) {
		t.Errorf("RejectedError lists %d entries, want %d: %v", len(rejected.Rejected), len(wantRejected), err)
	}
	for _, r := range rejected.Rejected {
		want, ok := wantRejected[r.ID]
		if !ok {
			t.Errorf("RejectedError lists %q, which is valid", r.ID)
			continue
		}
		if !strings.Contains(r.Err.Error(), want) {
			t.Errorf("rejection of %q = %q, want it to contain %q", r.ID, r.Err, want)
		}
	}
	if !strings.Contains(err.Error(), batch[3].ID) {
		t.Errorf("InsertEntries() = %q, want it to name the rejected id %s", err, batch[3].ID)
	}

	if got, want := countRows(t, s, "audit_logs"), len(batch)-len(wantRejected); got != want {
		t.Errorf("audit_logs has %d rows, want %d", got, want)
	}
	got, err := s.Entries(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if _, bad := wantRejected[e.ID]; bad {
			t.Errorf("rejected entry %s was stored", e.ID)
		}
	}
}

func TestInsertEntriesAllRejected(t *testing.T) {
	s, _ := openTemp(t)
	e := makeEntry("unknown", "c", `{}`)
	err := s.InsertEntries(context.Background(), []audit.Entry{e})
	var rejected *audit.RejectedError
	if !errors.As(err, &rejected) || len(rejected.Rejected) != 1 || rejected.Rejected[0].ID != e.ID {
		t.Fatalf("InsertEntries(unknown type) = %v, want a RejectedError naming %s", err, e.ID)
	}
	if err := s.InsertEntries(context.Background(), nil); err != nil {
		t.Errorf("InsertEntries(nil) = %v, want nil", err)
	}
}

func TestInsertEntriesBatchSizes(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	total := 0
	for _, n := range []int{1, 2, 3, 7, 100, 255, 256, 257, 777, 5000} {
		batch := make([]audit.Entry, n)
		for i := range batch {
			batch[i] = makeEntry(audit.TypeToolExecution, fmt.Sprint(n), `{}`)
		}
		if err := s.InsertEntries(ctx, batch); err != nil {
			t.Fatalf("InsertEntries(%d entries) = %v, want nil", n, err)
		}
		total += n
		got, err := s.Entries(ctx, audit.Filter{ChatID: fmt.Sprint(n)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Errorf("Entries(chat %d) returned %d entries, want %d", n, len(got), n)
		}
	}
	if got := countRows(t, s, "audit_logs"); got != total {
		t.Errorf("audit_logs has %d rows, want %d", got, total)
	}

	s.stmtMu.Lock()
	cached := len(s.insertStmts)
	s.stmtMu.Unlock()
	if cached > maxChunkSizes {
		t.Errorf("%d INSERT statements cached, want at most %d", cached, maxChunkSizes)
	}
}

func TestEntriesFilter(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	var all []audit.Entry
	for i := range 10 {
		typ := audit.TypeLLMCall
		if i%2 == 1 {
			typ = audit.TypeToolExecution
		}
		chat := "a"
		if i >= 6 {
			chat = "b"
		}
		e := makeEntry(typ, chat, fmt.Sprintf(`{"i":%d}`, i))
		e.CreatedAt = base.Add(time.Duration(i) * time.Second)
		all = append(all, e)
	}
	if err := s.InsertEntries(ctx, all); err != nil {
		t.Fatal(err)
	}
	pick := func(idx ...int) []string {
		var ids []string
		for _, i := range idx {
			ids = append(ids, all[i].ID)
		}
		return ids
	}

	tests := []struct {
		name string
		f    audit.Filter
		want []string
	}{
		{"none", audit.Filter{}, pick(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
		{"chat", audit.Filter{ChatID: "b"}, pick(6, 7, 8, 9)},
		{"type", audit.Filter{Type: audit.TypeToolExecution}, pick(1, 3, 5, 7, 9)},
		{"chat and type", audit.Filter{ChatID: "a", Type: audit.TypeLLMCall}, pick(0, 2, 4)},
		{"since inclusive", audit.Filter{Since: base.Add(8 * time.Second)}, pick(8, 9)},
		{"until exclusive", audit.Filter{Until: base.Add(2 * time.Second)}, pick(0, 1)},
		{"range", audit.Filter{Since: base.Add(3 * time.Second), Until: base.Add(5 * time.Second)}, pick(3, 4)},
		{"limit", audit.Filter{Limit: 3}, pick(0, 1, 2)},
		{"limit with chat", audit.Filter{ChatID: "b", Limit: 2}, pick(6, 7)},
		{"newest", audit.Filter{Limit: 3, Newest: true}, pick(7, 8, 9)},
		{"newest with chat and type", audit.Filter{ChatID: "a", Type: audit.TypeToolExecution, Limit: 2, Newest: true}, pick(3, 5)},
		{"newest over the count", audit.Filter{ChatID: "b", Limit: 10, Newest: true}, pick(6, 7, 8, 9)},
		{"newest without limit", audit.Filter{ChatID: "b", Newest: true}, pick(6, 7, 8, 9)},
		{"unknown chat", audit.Filter{ChatID: injection}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Entries(ctx, tt.f)
			if err != nil {
				t.Fatalf("Entries(%+v) = %v, want nil", tt.f, err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("Entries(%+v) ids = %v, want %v", tt.f, ids, tt.want)
			}
		})
	}

	if _, err := s.Entries(ctx, audit.Filter{Limit: -1}); err == nil || !strings.Contains(err.Error(), "limit -1") {
		t.Errorf("Entries(limit -1) = %v, want an error naming the limit", err)
	}
}

// TestInsertEntriesWaitsForLock holds an exclusive lock from another
// connection while InsertEntries runs: the insert waits under the busy
// timeout and succeeds once the lock is released.
func TestInsertEntriesWaitsForLock(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)

	other, err := sql.Open("sqlite", dsn(path, defaultOptions(), false, false))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("BEGIN EXCLUSIVE: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO audit_logs VALUES ('locker', 'llm_call', '', '2026-01-01T00:00:00.000Z', '{}')"); err != nil {
		t.Fatal(err)
	}

	entry := makeEntry(audit.TypeLLMCall, "waiting", `{}`)
	release := make(chan struct{})
	released := make(chan error, 1)
	go func() {
		<-release
		_, err := conn.ExecContext(ctx, "COMMIT")
		released <- err
	}()
	done := make(chan error, 1)
	go func() { done <- s.InsertEntries(ctx, []audit.Entry{entry}) }()

	// Nothing can signal that the insert is waiting inside SQLite's busy
	// handler, so the test checks that it has not finished within a window
	// far below the busy timeout, then releases the lock.
	select {
	case err := <-done:
		close(release)
		<-released
		t.Fatalf("InsertEntries() returned %v while another connection held an exclusive lock, want it to wait", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-released; err != nil {
		t.Fatalf("COMMIT of the locking connection: %v", err)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("InsertEntries() after the lock was released = %v, want nil", err)
		}
	case <-time.After(DefaultBusyTimeout):
		t.Fatal("InsertEntries() did not return after the lock was released")
	}
	if got := countRows(t, s, "audit_logs"); got != 2 {
		t.Errorf("audit_logs has %d rows, want 2", got)
	}
}

// TestInsertEntriesLockTimeout holds the lock past a short busy timeout:
// the insert fails with an error that names the lock and can be retried.
func TestInsertEntriesLockTimeout(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t, WithBusyTimeout(50*time.Millisecond))

	other, err := sql.Open("sqlite", dsn(path, defaultOptions(), false, false))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")

	err = s.InsertEntries(ctx, []audit.Entry{makeEntry(audit.TypeLLMCall, "c", `{}`)})
	if err == nil {
		t.Fatal("InsertEntries() under a held lock = nil, want a busy error")
	}
	if !strings.Contains(err.Error(), "locked by another connection") {
		t.Errorf("InsertEntries() = %q, want it to say the database is locked", err)
	}
	if audit.IsPermanent(err) {
		t.Errorf("audit.IsPermanent(%v) = true, want a retryable error", err)
	}
}

// TestInsertEntriesContextEnds holds the lock while InsertEntries waits
// with a context that ends: the insert gives up at the context's deadline,
// well before the busy timeout.
func TestInsertEntriesContextEnds(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)

	other, err := sql.Open("sqlite", dsn(path, defaultOptions(), false, false))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")

	waitCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.InsertEntries(waitCtx, []audit.Entry{makeEntry(audit.TypeLLMCall, "c", `{}`)})
	if err == nil {
		t.Fatal("InsertEntries() under a held lock with an ending context = nil, want an error")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("InsertEntries() = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed >= DefaultBusyTimeout {
		t.Errorf("InsertEntries() returned after %v, want it to stop at the context's deadline", elapsed)
	}
}

// TestConcurrentStores writes from two Stores on one file, as two
// processes would, while a third reads.
func TestConcurrentStores(t *testing.T) {
	ctx := context.Background()
	a, path := openTemp(t)
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const (
		writersPerStore = 4
		batches         = 25
		batchSize       = 40
	)
	var wg sync.WaitGroup
	errs := make(chan error, 2*writersPerStore+1)
	for si, s := range []*Store{a, b} {
		for w := range writersPerStore {
			wg.Go(func() {
				for i := range batches {
					batch := make([]audit.Entry, batchSize)
					for j := range batch {
						batch[j] = makeEntry(audit.TypeLLMCall, fmt.Sprintf("s%d-w%d", si, w), `{}`)
					}
					if err := s.InsertEntries(ctx, batch); err != nil {
						errs <- fmt.Errorf("store %d writer %d batch %d: %w", si, w, i, err)
						return
					}
				}
			})
		}
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.Entries(ctx, audit.Filter{Limit: 100}); err != nil {
				errs <- fmt.Errorf("reader: %w", err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	want := 2 * writersPerStore * batches * batchSize
	if got := countRows(t, a, "audit_logs"); got != want {
		t.Errorf("audit_logs has %d rows, want %d", got, want)
	}
}
