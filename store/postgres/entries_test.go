package postgres_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/postgres"
)

var baseTime = time.Date(2026, 12, 4, 19, 16, 50, 123_000_000, time.UTC)

func toolEntry(id, chatID string, at time.Time, meta string) audit.Entry {
	return audit.Entry{
		ID:        id,
		Type:      audit.TypeToolExecution,
		ChatID:    chatID,
		CreatedAt: at,
		Metadata:  json.RawMessage(meta),
	}
}

// metadataString decodes the string field key of an entry's metadata.
func metadataString(t *testing.T, e audit.Entry, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Metadata, &m); err != nil {
		t.Fatalf("metadata of %s is not a JSON object: %v: %s", e.ID, err, e.Metadata)
	}
	s, _ := m[key].(string)
	return s
}

func TestInsertEntriesRoundTrip(t *testing.T) {
	for _, threshold := range []int{1, 1000} {
		t.Run(fmt.Sprintf("copy threshold %d", threshold), func(t *testing.T) {
			dsn := testSchema(t)
			s := openStore(t, dsn, postgres.WithCopyThreshold(threshold))
			ctx := testContext(t, time.Minute)

			want := []audit.Entry{
				toolEntry(uuidLike(1, 1), "chat-a", baseTime, `{"toolName":"search","status":"success","inputSummary":"{\"q\":\"go\"}","inputBytes":8,"durationMs":3}`),
				{
					ID: uuidLike(1, 2), Type: audit.TypeLLMCall, ChatID: "chat-a", CreatedAt: baseTime.Add(time.Second),
					Metadata: json.RawMessage(`{"provider":"openai","model":"gpt-4o","promptTokens":null,"usageAvailable":false}`),
				},
				toolEntry(uuidLike(1, 3), "chat-b", baseTime.Add(2*time.Second), `{"toolName":"fetch","status":"error","error":"timeout"}`),
			}
			if err := s.InsertEntries(ctx, want); err != nil {
				t.Fatalf("InsertEntries() = %v, want nil", err)
			}

			got, err := s.Entries(ctx, audit.Filter{})
			if err != nil {
				t.Fatalf("Entries() = %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("Entries() returned %d entries, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].ID != want[i].ID || got[i].Type != want[i].Type || got[i].ChatID != want[i].ChatID {
					t.Errorf("entry %d = {%s %s %q}, want {%s %s %q}", i, got[i].ID, got[i].Type, got[i].ChatID, want[i].ID, want[i].Type, want[i].ChatID)
				}
				if !got[i].CreatedAt.Equal(want[i].CreatedAt) {
					t.Errorf("entry %d CreatedAt = %v, want %v", i, got[i].CreatedAt, want[i].CreatedAt)
				}
				var gotMeta, wantMeta any
				if err := json.Unmarshal(got[i].Metadata, &gotMeta); err != nil {
					t.Fatalf("entry %d metadata %s: %v", i, got[i].Metadata, err)
				}
				_ = json.Unmarshal(want[i].Metadata, &wantMeta)
				if fmt.Sprint(gotMeta) != fmt.Sprint(wantMeta) {
					t.Errorf("entry %d metadata = %s, want %s", i, got[i].Metadata, want[i].Metadata)
				}
			}
		})
	}
}

func TestEntriesFilter(t *testing.T) {
	dsn := testSchema(t)
	s := openStore(t, dsn)
	ctx := testContext(t, time.Minute)

	var entries []audit.Entry
	for i := range 10 {
		e := toolEntry(uuidLike(2, i), fmt.Sprintf("chat-%d", i%2), baseTime.Add(time.Duration(i)*time.Minute), `{"toolName":"t","status":"success"}`)
		if i >= 8 {
			e.Type = audit.TypeLLMCall
		}
		entries = append(entries, e)
	}
	if err := s.InsertEntries(ctx, entries); err != nil {
		t.Fatalf("InsertEntries() = %v", err)
	}

	tests := []struct {
		name   string
		filter audit.Filter
		want   []int
	}{
		{"all", audit.Filter{}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"chat", audit.Filter{ChatID: "chat-1"}, []int{1, 3, 5, 7, 9}},
		{"type", audit.Filter{Type: audit.TypeLLMCall}, []int{8, 9}},
		{"since inclusive", audit.Filter{Since: baseTime.Add(7 * time.Minute)}, []int{7, 8, 9}},
		{"until exclusive", audit.Filter{Until: baseTime.Add(2 * time.Minute)}, []int{0, 1}},
		{"limit", audit.Filter{ChatID: "chat-0", Limit: 2}, []int{0, 2}},
		{"newest", audit.Filter{ChatID: "chat-0", Limit: 2, Newest: true}, []int{6, 8}},
		{"newest over the count", audit.Filter{ChatID: "chat-1", Limit: 20, Newest: true}, []int{1, 3, 5, 7, 9}},
		{"newest without limit", audit.Filter{Type: audit.TypeLLMCall, Newest: true}, []int{8, 9}},
		{"no match", audit.Filter{ChatID: "chat-9"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Entries(ctx, tt.filter)
			if err != nil {
				t.Fatalf("Entries(%+v) = %v", tt.filter, err)
			}
			var gotIDs, wantIDs []string
			for _, e := range got {
				gotIDs = append(gotIDs, e.ID)
			}
			for _, i := range tt.want {
				wantIDs = append(wantIDs, entries[i].ID)
			}
			if strings.Join(gotIDs, ",") != strings.Join(wantIDs, ",") {
				t.Errorf("Entries(%+v) ids = %v, want %v", tt.filter, gotIDs, wantIDs)
			}
		})
	}

	if _, err := s.Entries(ctx, audit.Filter{Limit: -1}); err == nil {
		t.Errorf("Entries(Limit: -1) = nil error, want one naming the limit")
	}
}

func TestInsertEntriesHardValues(t *testing.T) {
	for _, threshold := range []int{1, 1000} {
		t.Run(fmt.Sprintf("copy threshold %d", threshold), func(t *testing.T) {
			testHardValues(t, threshold)
		})
	}
}

func testHardValues(t *testing.T, copyThreshold int) {
	dsn := testSchema(t)
	s := openStore(t, dsn, postgres.WithCopyThreshold(copyThreshold))
	ctx := testContext(t, time.Minute)

	injection := `x'); DROP TABLE audit_logs; --`
	tests := []struct {
		name       string
		chatID     string
		meta       string
		wantChatID string
		// wantField is the decoded value of metadata "error".
		wantField string
	}{
		{"nul escape in metadata", "c", `{"error":"a\u0000b"}`, "c", `a\u0000b`},
		{"escaped backslash before u0000 kept", "c", `{"error":"a\\u0000b"}`, "c", `a\u0000b`},
		{"lone high surrogate", "c", `{"error":"a\ud800b"}`, "c", "a\uFFFDb"},
		{"lone low surrogate", "c", `{"error":"a\udc00b"}`, "c", "a\uFFFDb"},
		{"surrogate pair kept", "c", `{"error":"\ud83d\ude00"}`, "c", "😀"},
		{"sql in chat id", injection, `{"error":""}`, injection, ""},
		{"nul byte in chat id", "chat\x00id", `{"error":""}`, "chat\uFFFDid", ""},
		{"invalid utf-8 in chat id", "chat\xff\xfeid", `{"error":""}`, "chat\uFFFDid", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := toolEntry(uuidLike(3, i), tt.chatID, baseTime, tt.meta)
			if err := s.InsertEntries(ctx, []audit.Entry{e}); err != nil {
				t.Fatalf("InsertEntries(%s) = %v, want nil", tt.meta, err)
			}
			got, err := s.Entries(ctx, audit.Filter{ChatID: tt.chatID})
			if err != nil {
				t.Fatalf("Entries() = %v", err)
			}
			var found *audit.Entry
			for j := range got {
				if got[j].ID == e.ID {
					found = &got[j]
				}
			}
			if found == nil {
				t.Fatalf("Entries(ChatID: %q) lacks %s", tt.chatID, e.ID)
			}
			if found.ChatID != tt.wantChatID {
				t.Errorf("ChatID = %q, want %q", found.ChatID, tt.wantChatID)
			}
			if got := metadataString(t, *found, "error"); got != tt.wantField {
				t.Errorf("metadata error = %q, want %q", got, tt.wantField)
			}
		})
	}

	if n := queryInt(t, dsn, "SELECT count(*) FROM audit_logs"); n != int64(len(tests)) {
		t.Errorf("audit_logs has %d rows, want %d: the table must survive the SQL in a chat ID", n, len(tests))
	}
}

func TestInsertEntriesIdempotent(t *testing.T) {
	for _, threshold := range []int{1, 1000} {
		t.Run(fmt.Sprintf("copy threshold %d", threshold), func(t *testing.T) {
			dsn := testSchema(t)
			s := openStore(t, dsn, postgres.WithCopyThreshold(threshold))
			ctx := testContext(t, time.Minute)

			var batch []audit.Entry
			for i := range 100 {
				batch = append(batch, toolEntry(uuidLike(4, i), "c", baseTime, `{"status":"success"}`))
			}
			// The second call repeats the whole batch, as the Logger does when
			// it retries a batch whose outcome it does not know. The third
			// carries the same id twice in one batch.
			for call, b := range [][]audit.Entry{batch, batch, {batch[0], batch[0]}} {
				if err := s.InsertEntries(ctx, b); err != nil {
					t.Fatalf("InsertEntries() call %d = %v, want nil", call+1, err)
				}
			}
			if n := queryInt(t, dsn, "SELECT count(*) FROM audit_logs"); n != 100 {
				t.Errorf("audit_logs has %d rows, want 100", n)
			}
		})
	}
}

func TestInsertEntriesRejectsOnlyBadRows(t *testing.T) {
	for _, tc := range []struct{ size, threshold int }{
		{10, postgres.DefaultCopyThreshold},
		{200, postgres.DefaultCopyThreshold},
		{10, 1},
		{200, 1},
	} {
		size := tc.size
		t.Run(fmt.Sprintf("batch of %d copy threshold %d", size, tc.threshold), func(t *testing.T) {
			dsn := testSchema(t)
			s := openStore(t, dsn, postgres.WithCopyThreshold(tc.threshold))
			ctx := testContext(t, time.Minute)

			var batch []audit.Entry
			bad := map[string]string{}
			for i := range size {
				e := toolEntry(uuidLike(5, i), "c", baseTime, `{"status":"success"}`)
				switch i {
				case 3:
					e.Type = "unknown_type" // violates the CHECK constraint
					bad[e.ID] = "type"
				case size - 2:
					e.Metadata = json.RawMessage(`{"status":`) // invalid JSON
					bad[e.ID] = "metadata"
				case size - 1:
					e.Metadata = nil
					bad[e.ID] = "empty metadata"
				}
				batch = append(batch, e)
			}

			err := s.InsertEntries(ctx, batch)
			var rejected *audit.RejectedError
			if !errors.As(err, &rejected) {
				t.Fatalf("InsertEntries() = %v, want *audit.RejectedError", err)
			}
			if !audit.IsPermanent(err) {
				t.Errorf("audit.IsPermanent(%v) = false, want true", err)
			}
			got := map[string]bool{}
			for _, r := range rejected.Rejected {
				got[r.ID] = true
				if r.Err == nil {
					t.Errorf("rejection of %s has no error", r.ID)
				}
			}
			for id, fault := range bad {
				if !got[id] {
					t.Errorf("RejectedError lacks %s (%s)", id, fault)
				}
			}
			if len(got) != len(bad) {
				t.Errorf("RejectedError lists %d ids, want %d: %v", len(got), len(bad), err)
			}
			if n := queryInt(t, dsn, "SELECT count(*) FROM audit_logs"); n != int64(size-len(bad)) {
				t.Errorf("audit_logs has %d rows, want the %d good ones", n, size-len(bad))
			}
		})
	}
}

func TestStoreClosed(t *testing.T) {
	dsn := testSchema(t)
	s := openStore(t, dsn)
	ctx := testContext(t, time.Minute)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}

	err := s.InsertEntries(ctx, []audit.Entry{toolEntry(uuidLike(6, 1), "c", baseTime, `{}`)})
	if !errors.Is(err, postgres.ErrClosed) || !audit.IsPermanent(err) {
		t.Errorf("InsertEntries() after Close = %v, want permanent ErrClosed", err)
	}
	if _, err := s.Entries(ctx, audit.Filter{}); !errors.Is(err, postgres.ErrClosed) {
		t.Errorf("Entries() after Close = %v, want ErrClosed", err)
	}
}
