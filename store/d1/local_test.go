package d1

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/migrations"
	"github.com/agentaudit/agentaudit/tools"
)

// localEngine is the D1 engine that scripts/d1-local.sh runs on loopback:
// wrangler's local mode serving the REST API over D1 bindings.
type localEngine struct {
	baseURL       string
	token         string
	account       string
	database      string
	freshDatabase string
	freshName     string
	persistDir    string
	dir           string
}

// requireLocalEngine returns the local D1 engine from the variables
// scripts/d1-local.sh prints. Without them the test is skipped, or fails
// when CI=true, where a skipped D1 test would hide a broken setup.
func requireLocalEngine(t *testing.T) localEngine {
	t.Helper()
	e := localEngine{
		baseURL:       os.Getenv(BaseURLEnv),
		token:         os.Getenv("AGENTAUDIT_D1_TEST_TOKEN"),
		account:       os.Getenv("AGENTAUDIT_D1_ACCOUNT_ID"),
		database:      os.Getenv("AGENTAUDIT_D1_DATABASE_ID"),
		freshDatabase: os.Getenv("AGENTAUDIT_D1_FRESH_DATABASE_ID"),
		freshName:     os.Getenv("AGENTAUDIT_D1_FRESH_DATABASE_NAME"),
		persistDir:    os.Getenv("AGENTAUDIT_D1_PERSIST_DIR"),
		dir:           os.Getenv("AGENTAUDIT_D1_DIR"),
	}
	if e.baseURL == "" {
		const how = `run scripts/d1-local.sh start and eval "$(scripts/d1-local.sh env)"`
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set, so the D1 tests cannot run; %s", BaseURLEnv, how)
		}
		t.Skipf("%s is not set; %s", BaseURLEnv, how)
	}
	if e.token == "" || e.account == "" || e.database == "" {
		t.Fatalf("%s is set but AGENTAUDIT_D1_TEST_TOKEN, AGENTAUDIT_D1_ACCOUNT_ID or AGENTAUDIT_D1_DATABASE_ID is not; eval \"$(scripts/d1-local.sh env)\"", BaseURLEnv)
	}
	return e
}

func (e localEngine) dsn(database string) string {
	return "d1://" + e.account + "/" + database
}

// open opens the test database without a rate limit, so that the tests do
// not wait; TestLocalRateLimit checks the default one.
func (e localEngine) open(t *testing.T, database string, opts ...Option) *Store {
	t.Helper()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: clientTagTransport{base: transport}}
	all := append([]Option{WithBaseURL(e.baseURL), WithToken(e.token), WithRateLimit(0, 1), WithHTTPClient(client)}, opts...)
	s, err := Open(context.Background(), e.dsn(database), all...)
	if err != nil {
		t.Fatalf("Open(%s) = %v, want nil", e.dsn(database), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clientTag names this test process to the local Worker, which counts each
// client's requests apart: other test packages may use the same engine at
// the same time, and their requests must not change this package's counts.
var clientTag = fmt.Sprintf("store-d1-test-%d", os.Getpid())

// clientTagTransport sends clientTag in the X-D1local-Client header.
type clientTagTransport struct {
	base http.RoundTripper
}

func (c clientTagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-D1local-Client", clientTag)
	return c.base.RoundTrip(req)
}

// engineStats is the Worker's count of what it received.
type engineStats struct {
	Requests           int `json:"requests"`
	Statements         int `json:"statements"`
	TransactionControl int `json:"transactionControl"`
	MaxParams          int `json:"maxParams"`
	MaxSQLBytes        int `json:"maxSqlBytes"`
	Log                []struct {
		SQL    string `json:"sql"`
		Params int    `json:"params"`
	} `json:"log"`
}

func (e localEngine) testEndpoint(t *testing.T, method, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(e.baseURL, "/client/v4")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return resp
}

func (e localEngine) stats(t *testing.T) engineStats {
	t.Helper()
	resp := e.testEndpoint(t, http.MethodGet, "/__test/statements?client="+url.QueryEscape(clientTag))
	defer resp.Body.Close()
	var s engineStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("decode /__test/statements: %v", err)
	}
	return s
}

// resetFresh drops every table of the fresh database.
func (e localEngine) resetFresh(t *testing.T) {
	t.Helper()
	e.testEndpoint(t, http.MethodPost, "/__test/reset?database="+e.freshDatabase).Body.Close()
}

// checkNoTransactionControl fails t when the engine received BEGIN, COMMIT
// or another transaction statement since before was taken.
func (e localEngine) checkNoTransactionControl(t *testing.T, before engineStats) {
	t.Helper()
	if got := e.stats(t).TransactionControl - before.TransactionControl; got != 0 {
		t.Errorf("engine received %d transaction control statements, want 0", got)
	}
}

func uniqueChat(t *testing.T) string {
	return fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
}

func chatEntries(chat string, n int) []audit.Entry {
	entries := testEntries(n, 300)
	// One UUIDv7 per call keeps ids unique across runs on the persistent
	// engine; the suffix keeps them in order.
	prefix := uuid.Must(uuid.NewV7()).String()
	for i := range entries {
		entries[i].ID = fmt.Sprintf("%s-%06d", prefix, i)
		entries[i].ChatID = chat
	}
	return entries
}

func entryIDs(entries []audit.Entry) []string {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

func TestLocalInsertSplitsLargeBatch(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	ctx := context.Background()
	chat := uniqueChat(t)
	entries := chatEntries(chat, 1000)
	before := eng.stats(t)

	if err := s.InsertEntries(ctx, entries); err != nil {
		t.Fatalf("InsertEntries(1,000 entries) = %v, want nil", err)
	}

	after := eng.stats(t)
	if got := after.Requests - before.Requests; got != 1 {
		t.Errorf("requests = %d, want 1 for 1,000 entries", got)
	}
	if got := after.Statements - before.Statements; got != 50 {
		t.Errorf("statements = %d, want 50 of %d rows", got, RowsPerInsert)
	}
	if after.MaxParams > MaxBoundParameters {
		t.Errorf("largest statement bound %d parameters, over D1's %d", after.MaxParams, MaxBoundParameters)
	}
	eng.checkNoTransactionControl(t, before)

	got, err := s.Entries(ctx, audit.Filter{ChatID: chat})
	if err != nil {
		t.Fatalf("Entries() = %v, want nil", err)
	}
	if !slices.Equal(entryIDs(got), entryIDs(entries)) {
		t.Fatalf("Entries() returned %d entries, want all 1,000 in id order", len(got))
	}
	if string(got[0].Metadata) != string(entries[0].Metadata) {
		t.Errorf("Entries()[0].Metadata = %s, want %s", got[0].Metadata, entries[0].Metadata)
	}
	if !got[0].CreatedAt.Equal(entries[0].CreatedAt) {
		t.Errorf("Entries()[0].CreatedAt = %v, want %v", got[0].CreatedAt, entries[0].CreatedAt)
	}
	if got[0].Type != entries[0].Type || got[0].ChatID != chat {
		t.Errorf("Entries()[0] type and chat = %q, %q; want %q, %q", got[0].Type, got[0].ChatID, entries[0].Type, chat)
	}

	// Writing the same batch again, as the Logger does after an unknown
	// outcome, adds nothing.
	if err := s.InsertEntries(ctx, entries); err != nil {
		t.Fatalf("InsertEntries(same batch) = %v, want nil", err)
	}
	limited, err := s.Entries(ctx, audit.Filter{ChatID: chat, Limit: 1500})
	if err != nil || len(limited) != 1000 {
		t.Errorf("Entries() after rewrite = %d entries, %v; want 1,000, nil", len(limited), err)
	}
}

func TestLocalEntriesFilter(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	ctx := context.Background()
	chat := uniqueChat(t)
	entries := chatEntries(chat, 1205)
	for i := range entries {
		entries[i].CreatedAt = entries[i].CreatedAt.Add(time.Duration(i) * time.Second)
		if i%2 == 1 {
			entries[i].Type = audit.TypeLLMCall
		}
	}
	if err := s.InsertEntries(ctx, entries); err != nil {
		t.Fatalf("InsertEntries() = %v, want nil", err)
	}

	tests := []struct {
		name string
		f    audit.Filter
		want []audit.Entry
	}{
		{"all pages", audit.Filter{ChatID: chat}, entries},
		{"limit across pages", audit.Filter{ChatID: chat, Limit: 1001}, entries[:1001]},
		{"newest", audit.Filter{ChatID: chat, Limit: 3, Newest: true}, entries[1202:]},
		{"newest across pages", audit.Filter{ChatID: chat, Limit: 1001, Newest: true}, entries[204:]},
		{"newest over the count", audit.Filter{ChatID: chat, Limit: 5000, Newest: true}, entries},
		{"type", audit.Filter{ChatID: chat, Type: audit.TypeLLMCall, Limit: 3}, []audit.Entry{entries[1], entries[3], entries[5]}},
		{"since inclusive until exclusive", audit.Filter{ChatID: chat, Since: entries[10].CreatedAt, Until: entries[13].CreatedAt}, entries[10:13]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Entries(ctx, tt.f)
			if err != nil {
				t.Fatalf("Entries(%+v) = %v, want nil", tt.f, err)
			}
			if !slices.Equal(entryIDs(got), entryIDs(tt.want)) {
				t.Errorf("Entries(%+v) = %d entries, want %d", tt.f, len(got), len(tt.want))
			}
		})
	}
}

func TestLocalLoggerStoresLargeToolInput(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	logger := audit.New(s, LoggerOptions()...)
	chat := uniqueChat(t)
	ctx := audit.WithChatID(context.Background(), chat)
	before := eng.stats(t)

	input := json.RawMessage(`{"path":"big.txt","content":"` + strings.Repeat("é", 1_500_000) + `"}`)
	if err := logger.Log(ctx, &audit.ToolExecution{ToolName: "write_file", Status: audit.StatusSuccess, Input: input}); err != nil {
		t.Fatalf("Log(3 MB input) = %v, want nil", err)
	}
	if err := logger.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	if st := logger.Stats(); st.Written != 1 {
		t.Errorf("Stats() = %+v, want 1 written", st)
	}
	if err := logger.Close(ctx); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	reader := eng.open(t, eng.database)
	got, err := reader.Entries(context.Background(), audit.Filter{ChatID: chat})
	if err != nil || len(got) != 1 {
		t.Fatalf("Entries() = %d entries, %v; want 1, nil", len(got), err)
	}
	var meta audit.ToolExecution
	if err := json.Unmarshal(got[0].Metadata, &meta); err != nil {
		t.Fatalf("metadata %q is not JSON: %v", got[0].Metadata, err)
	}
	if meta.InputBytes != len(input) {
		t.Errorf("inputBytes = %d, want %d", meta.InputBytes, len(input))
	}
	if n := utf8.RuneCountInString(meta.InputSummary); n != 200 || !strings.HasPrefix(meta.InputSummary, `{"path":"big.txt","content":"éé`) {
		t.Errorf("inputSummary = %q (%d characters), want the first 200 characters of the input", meta.InputSummary, n)
	}
	eng.checkNoTransactionControl(t, before)
}

func TestLocalRejectedEntryKeepsNeighbours(t *testing.T) {
	eng := requireLocalEngine(t)
	tests := []struct {
		name    string
		opts    []Option
		corrupt func(e *audit.Entry)
		wantErr string
	}{
		{
			name:    "CHECK violation on type",
			corrupt: func(e *audit.Entry) { e.Type = "bogus" },
			wantErr: "CHECK constraint failed",
		},
		{
			name: "metadata over the row limit, checked before sending",
			corrupt: func(e *audit.Entry) {
				e.Metadata = json.RawMessage(`{"error":"` + strings.Repeat("x", 2_500_000) + `"}`)
			},
			wantErr: "over D1's limit of 2000000 bytes per row",
		},
		{
			name: "metadata over the row limit, rejected by the engine",
			opts: []Option{withMaxRowBytes(1 << 30)},
			corrupt: func(e *audit.Entry) {
				e.Metadata = json.RawMessage(`{"error":"` + strings.Repeat("x", 3_000_000) + `"}`)
			},
			wantErr: "too big",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := eng.open(t, eng.database, tt.opts...)
			ctx := context.Background()
			chat := uniqueChat(t)
			entries := chatEntries(chat, 45)
			tt.corrupt(&entries[27])
			before := eng.stats(t)

			err := s.InsertEntries(ctx, entries)

			var rejected *audit.RejectedError
			if !errors.As(err, &rejected) {
				t.Fatalf("InsertEntries() = %v, want a *audit.RejectedError", err)
			}
			if len(rejected.Rejected) != 1 || rejected.Rejected[0].ID != entries[27].ID {
				t.Fatalf("rejected = %v, want only %s", rejected.Rejected, entries[27].ID)
			}
			if msg := rejected.Rejected[0].Err.Error(); !strings.Contains(msg, tt.wantErr) {
				t.Errorf("rejection = %q, want it to contain %q", msg, tt.wantErr)
			}
			got, err := s.Entries(ctx, audit.Filter{ChatID: chat})
			if err != nil {
				t.Fatalf("Entries() = %v, want nil", err)
			}
			want := slices.Delete(slices.Clone(entries), 27, 28)
			if !slices.Equal(entryIDs(got), entryIDs(want)) {
				t.Errorf("Entries() = %d entries, want the 44 neighbours", len(got))
			}
			eng.checkNoTransactionControl(t, before)
		})
	}
}

func TestLocalLoggerCountsRejectedEntry(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	chat := uniqueChat(t)
	badChat := chat + "-rejected"

	// The Logger validates and caps what it queues, so every entry it sends
	// fits D1's limits. A trigger stands in for a value D1 refuses: it
	// aborts the insert of the one entry logged with badChat.
	trigger := "reject_" + strings.NewReplacer("-", "_", "/", "_").Replace(chat)
	create := fmt.Sprintf(`CREATE TRIGGER %s BEFORE INSERT ON audit_logs WHEN NEW.chat_id = '%s' BEGIN SELECT RAISE(ABORT, 'rejected by the test trigger'); END`, trigger, badChat)
	if _, err := s.Client().Query(context.Background(), create); err != nil {
		t.Fatalf("create trigger: %v", err)
	}
	t.Cleanup(func() {
		if _, err := s.Client().Query(context.Background(), "DROP TRIGGER IF EXISTS "+trigger); err != nil {
			t.Errorf("drop trigger: %v", err)
		}
	})

	logger := audit.New(s, audit.WithBatchSize(100), audit.WithFlushInterval(time.Hour))
	ctx := audit.WithChatID(context.Background(), chat)
	for i := range 10 {
		call := &audit.LLMCall{Provider: "openai", Model: "gpt-test", Status: audit.StatusSuccess, DurationMs: int64(i)}
		callCtx := ctx
		if i == 6 {
			callCtx = audit.WithChatID(ctx, badChat)
		}
		if err := logger.Log(callCtx, call); err != nil {
			t.Fatalf("Log(call %d) = %v, want nil", i, err)
		}
	}
	if err := logger.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	st := logger.Stats()
	if st.Written != 9 || st.Failed != 1 {
		t.Errorf("Stats() = %+v, want 9 written and 1 failed", st)
	}
	if err := logger.Close(ctx); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	reader := eng.open(t, eng.database)
	got, err := reader.Entries(context.Background(), audit.Filter{ChatID: chat})
	if err != nil || len(got) != 9 {
		t.Errorf("Entries() = %d entries, %v; want 9, nil", len(got), err)
	}
}

func TestLocalEngineRejectsBegin(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	before := eng.stats(t)

	_, err := s.Client().Query(context.Background(), "BEGIN TRANSACTION")
	if !audit.IsPermanent(err) {
		t.Errorf("Query(BEGIN TRANSACTION) = %v, want a permanent error", err)
	}
	if err == nil || !strings.Contains(err.Error(), "BEGIN TRANSACTION") {
		t.Errorf("Query(BEGIN TRANSACTION) = %v, want D1's message about BEGIN TRANSACTION", err)
	}
	if got := eng.stats(t).TransactionControl - before.TransactionControl; got != 1 {
		t.Errorf("engine counted %d transaction control statements, want 1, so that the other tests' checks can fail", got)
	}
}

func TestLocalMigrateIsIdempotent(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	applied, err := s.Migrate(context.Background())
	if err != nil || len(applied) != 0 {
		t.Errorf("Migrate() on a migrated database = %v, %v; want none, nil", applied, err)
	}
}

func TestLocalMigrationRecordsAgreeWithWrangler(t *testing.T) {
	eng := requireLocalEngine(t)
	if eng.freshDatabase == "" || eng.persistDir == "" || eng.dir == "" {
		t.Fatal("AGENTAUDIT_D1_FRESH_DATABASE_ID, AGENTAUDIT_D1_PERSIST_DIR or AGENTAUDIT_D1_DIR is not set; eval \"$(scripts/d1-local.sh env)\"")
	}
	var names []string
	for _, m := range migrations.SQLite() {
		names = append(names, m.Name)
	}
	ctx := context.Background()

	t.Run("runner first", func(t *testing.T) {
		eng.resetFresh(t)
		s := eng.open(t, eng.freshDatabase, WithAutoMigrate(false))
		before := eng.stats(t)
		applied, err := s.Migrate(ctx)
		if err != nil || !slices.Equal(applied, names) {
			t.Fatalf("Migrate() = %v, %v; want %v, nil", applied, err, names)
		}
		eng.checkNoTransactionControl(t, before)

		out := eng.wranglerApply(t)
		if !strings.Contains(out, "No migrations to apply") {
			t.Errorf("wrangler d1 migrations apply after the runner printed:\n%s\nwant \"No migrations to apply\"", out)
		}
	})

	t.Run("wrangler first", func(t *testing.T) {
		eng.resetFresh(t)
		out := eng.wranglerApply(t)
		for _, name := range names {
			if !strings.Contains(out, name) {
				t.Errorf("wrangler d1 migrations apply on an empty database printed:\n%s\nwant it to apply %s", out, name)
			}
		}

		s := eng.open(t, eng.freshDatabase, WithAutoMigrate(false))
		applied, err := s.Migrate(ctx)
		if err != nil || len(applied) != 0 {
			t.Errorf("Migrate() after wrangler = %v, %v; want none, nil", applied, err)
		}
		done, err := s.AppliedMigrations(ctx)
		if err != nil || len(done) != len(names) {
			t.Errorf("AppliedMigrations() = %v, %v; want %v", done, err, names)
		}
	})
}

// wranglerApply runs `wrangler d1 migrations apply` on the fresh database's
// files, beside the running engine, and returns its output.
func (e localEngine) wranglerApply(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("node_modules", "wrangler", "bin", "wrangler.js"),
		"d1", "migrations", "apply", e.freshName, "--local", "--persist-to", e.persistDir)
	cmd.Dir = e.dir
	// The same settings as scripts/d1-local.sh: no telemetry, no request.cf
	// lookup, no prompt, and the update check sent to a closed loopback
	// port.
	cmd.Env = append(os.Environ(),
		"WRANGLER_SEND_METRICS=false",
		"CLOUDFLARE_CF_FETCH_ENABLED=false",
		"CI=true",
		"npm_registry=http://127.0.0.1:9/",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wrangler d1 migrations apply %s: %v\n%s", e.freshName, err, out)
	}
	return string(out)
}

func TestLocalApprovals(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	ctx := context.Background()
	chat := uniqueChat(t)
	created := time.Date(2026, 12, 4, 19, 16, 50, 123e6, time.UTC)
	a := tools.Approval{
		ID:         chat + "-a1",
		ChatID:     chat,
		ToolName:   "delete_file",
		ToolCallID: "call_1",
		Input:      json.RawMessage(`{"path":"x"}`),
		CreatedAt:  created,
	}

	if err := s.CreateApproval(ctx, a); err != nil {
		t.Fatalf("CreateApproval() = %v, want nil", err)
	}
	if err := s.CreateApproval(ctx, a); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("CreateApproval(same id) = %v, want an error saying it exists", err)
	}
	got, err := s.GetApproval(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetApproval() = %v, want nil", err)
	}
	if got.Status != tools.ApprovalPending {
		t.Errorf("GetApproval().Status = %q, want pending", got.Status)
	}
	if string(got.Input) != string(a.Input) {
		t.Errorf("GetApproval().Input = %s, want %s", got.Input, a.Input)
	}
	if !got.CreatedAt.Equal(created) {
		t.Errorf("GetApproval().CreatedAt = %v, want %v", got.CreatedAt, created)
	}
	if !got.DecidedAt.IsZero() {
		t.Errorf("GetApproval().DecidedAt = %v, want zero while pending", got.DecidedAt)
	}
	if _, err := s.GetApproval(ctx, chat+"-missing"); !errors.Is(err, tools.ErrApprovalNotFound) {
		t.Errorf("GetApproval(missing) = %v, want ErrApprovalNotFound", err)
	}
	list, err := s.ListApprovals(ctx, tools.ApprovalFilter{ChatID: chat, Status: tools.ApprovalPending})
	if err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Errorf("ListApprovals(pending) = %v, %v; want [%s]", list, err, a.ID)
	}

	// Two concurrent decisions: exactly one wins.
	decided := time.Date(2026, 12, 4, 19, 20, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	results := make([]tools.Approval, 2)
	for i, status := range []tools.ApprovalStatus{tools.ApprovalApproved, tools.ApprovalDenied} {
		wg.Go(func() {
			results[i], errs[i] = s.DecideApproval(ctx, a.ID, status, "reason "+string(status), decided)
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			if !results[i].DecidedAt.Equal(decided) || results[i].Status == tools.ApprovalPending {
				t.Errorf("DecideApproval() winner = %+v, want it decided at %v", results[i], decided)
			}
		case !errors.Is(err, tools.ErrAlreadyDecided):
			t.Errorf("DecideApproval() = %v, want nil or ErrAlreadyDecided", err)
		}
	}
	if wins != 1 {
		t.Errorf("DecideApproval() succeeded %d times, want 1", wins)
	}
	if _, err := s.DecideApproval(ctx, chat+"-missing", tools.ApprovalApproved, "", time.Time{}); !errors.Is(err, tools.ErrApprovalNotFound) {
		t.Errorf("DecideApproval(missing) = %v, want ErrApprovalNotFound", err)
	}
	if _, err := s.DecideApproval(ctx, a.ID, tools.ApprovalPending, "", time.Time{}); err == nil || !strings.Contains(err.Error(), `status "pending" is invalid`) {
		t.Errorf("DecideApproval(pending) = %v, want an error naming the status", err)
	}
}

func TestLocalHistoryConcurrentAppends(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	ctx := context.Background()
	chat := uniqueChat(t)

	if msgs, err := s.LoadMessages(ctx, chat); err != nil || len(msgs) != 0 {
		t.Fatalf("LoadMessages(new chat) = %v, %v; want none, nil", msgs, err)
	}

	const writers, appends, perAppend = 4, 5, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers*appends)
	for w := range writers {
		wg.Go(func() {
			for a := range appends {
				msgs := make([]llm.Message, perAppend)
				for m := range msgs {
					msgs[m] = llm.Message{Role: llm.RoleUser, Content: fmt.Sprintf("w%d-a%d-m%d", w, a, m)}
				}
				if err := s.AppendMessages(ctx, chat, msgs); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("AppendMessages() = %v, want nil", err)
	}

	got, err := s.LoadMessages(ctx, chat)
	if err != nil {
		t.Fatalf("LoadMessages() = %v, want nil", err)
	}
	if len(got) != writers*appends*perAppend {
		t.Fatalf("LoadMessages() = %d messages, want %d", len(got), writers*appends*perAppend)
	}
	// Each append lands as a contiguous run, in order.
	for i := 0; i < len(got); i += perAppend {
		var w, a int
		if _, err := fmt.Sscanf(got[i].Content, "w%d-a%d-m0", &w, &a); err != nil {
			t.Fatalf("message %d = %q, want the first of an append", i, got[i].Content)
		}
		for m := range perAppend {
			if want := fmt.Sprintf("w%d-a%d-m%d", w, a, m); got[i+m].Content != want {
				t.Errorf("message %d = %q, want %q", i+m, got[i+m].Content, want)
			}
		}
	}
}

func TestLocalHistoryPages(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database)
	ctx := context.Background()
	chat := uniqueChat(t)
	msgs := make([]llm.Message, messagesPageSize+7)
	for i := range msgs {
		msgs[i] = llm.Message{Role: llm.RoleAssistant, Content: fmt.Sprint(i), ToolCalls: []llm.ToolCall{{ID: "c", Name: "n", Arguments: "{}"}}}
	}
	if err := s.AppendMessages(ctx, chat, msgs); err != nil {
		t.Fatalf("AppendMessages(%d) = %v, want nil", len(msgs), err)
	}
	got, err := s.LoadMessages(ctx, chat)
	if err != nil || len(got) != len(msgs) {
		t.Fatalf("LoadMessages() = %d messages, %v; want %d, nil", len(got), err, len(msgs))
	}
	if got[len(got)-1].Content != fmt.Sprint(len(msgs)-1) || len(got[0].ToolCalls) != 1 {
		t.Errorf("LoadMessages() last = %+v, want message %d with its tool call", got[len(got)-1], len(msgs)-1)
	}
}

func TestLocalRejectedToken(t *testing.T) {
	eng := requireLocalEngine(t)
	const wrong = "wrong-token-7c1e0d"
	_, err := Open(context.Background(), eng.dsn(eng.database), WithBaseURL(eng.baseURL), WithToken(wrong))
	if !audit.IsPermanent(err) {
		t.Errorf("Open(wrong token) = %v, want a permanent error", err)
	}
	if err == nil || !strings.Contains(err.Error(), "the API token was rejected (HTTP 401)") {
		t.Errorf("Open(wrong token) = %v, want an error saying the token was rejected", err)
	}
	if err != nil && strings.Contains(err.Error(), wrong) {
		t.Errorf("Open(wrong token) error %q contains the token", err)
	}
}

func TestLocalRateLimit(t *testing.T) {
	eng := requireLocalEngine(t)
	s := eng.open(t, eng.database, WithRateLimit(DefaultRequestsPerSecond, DefaultBurst))
	ctx := context.Background()

	// The burst goes through at once; the request after it waits for a
	// token. The wait is measured by the limiter itself, not by timing.
	for range DefaultBurst {
		if _, err := s.Client().Query(ctx, "SELECT 1"); err != nil {
			t.Fatalf("Query() = %v, want nil", err)
		}
	}
	r := s.Client().limiter.Reserve()
	defer r.Cancel()
	if d := r.Delay(); d <= 0 {
		t.Errorf("delay after a burst of %d = %v, want a wait", DefaultBurst, d)
	}
}
