package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var bg = context.Background()

func TestLoggerWritesInOrder(t *testing.T) {
	store := newFakeStore()
	clock := newFakeClock()
	l := New(store, WithClock(clock.Now))
	ctx := WithChatID(bg, "chat-1")

	for i := range 10 {
		var m Metadata = validLLMCall()
		if i%2 == 1 {
			tool := validToolExecution()
			tool.Input = json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))
			m = tool
		}
		if err := l.Log(ctx, m); err != nil {
			t.Fatalf("Log(%d) = %v, want nil", i, err)
		}
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}

	rows, _, _ := store.snapshot()
	if len(rows) != 10 {
		t.Fatalf("store has %d rows, want 10", len(rows))
	}
	for i, row := range rows {
		if i > 0 && row.ID <= rows[i-1].ID {
			t.Errorf("row %d id %s, want after %s", i, row.ID, rows[i-1].ID)
		}
		wantType := TypeLLMCall
		if i%2 == 1 {
			wantType = TypeToolExecution
		}
		if row.Type != wantType {
			t.Errorf("row %d type = %q, want %q", i, row.Type, wantType)
		}
		if row.ChatID != "chat-1" {
			t.Errorf("row %d chat ID = %q, want %q", i, row.ChatID, "chat-1")
		}
		if !row.CreatedAt.Equal(clock.Now()) {
			t.Errorf("row %d created at %v, want %v", i, row.CreatedAt, clock.Now())
		}
		if !json.Valid(row.Metadata) {
			t.Errorf("row %d metadata %s is not valid JSON", i, row.Metadata)
		}
	}

	var tool map[string]any
	if err := json.Unmarshal(rows[3].Metadata, &tool); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", rows[3].Metadata, err)
	}
	if got, want := tool["inputSummary"], `{"n":3}`; got != want {
		t.Errorf("inputSummary = %v, want %q", got, want)
	}
	if got, want := tool["inputBytes"], float64(7); got != want {
		t.Errorf("inputBytes = %v, want %v", got, want)
	}

	if got, want := l.Stats(), (Stats{Written: 10}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if err := l.Close(bg); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
}

func TestLoggerCopiesPayload(t *testing.T) {
	store := newFakeStore()
	l := New(store)
	closeLogger(t, l)

	call := validLLMCall()
	input := []byte(`{"path":"/tmp/a"}`)
	tool := validToolExecution()
	tool.Input = input
	if err := l.Log(bg, call); err != nil {
		t.Fatalf("Log(call) = %v, want nil", err)
	}
	if err := l.Log(bg, tool); err != nil {
		t.Fatalf("Log(tool) = %v, want nil", err)
	}

	// The caller reuses everything before the writer encodes it.
	*call.PromptTokens = 999
	call.Model = "changed"
	copy(input, `{"path":"/etc/x"}`)
	tool.ToolName = "changed"
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}

	rows, _, _ := store.snapshot()
	if len(rows) != 2 {
		t.Fatalf("store has %d rows, want 2", len(rows))
	}
	wantCall := `{"provider":"openai","model":"gpt-4o-mini","usageAvailable":true,"promptTokens":120,"completionTokens":30,"totalTokens":150,"cachedInputTokens":null,"cacheWriteInputTokens":null,"reasoningTokens":null,"durationMs":812,"status":"success","stream":false}`
	if got := string(rows[0].Metadata); got != wantCall {
		t.Errorf("llm_call metadata = %s, want %s", got, wantCall)
	}
	wantTool := `{"toolName":"get_weather","toolCallId":"call_1","status":"success","inputSummary":"{\"path\":\"/tmp/a\"}","inputBytes":17,"durationMs":40,"risk":"low"}`
	if got := string(rows[1].Metadata); got != wantTool {
		t.Errorf("tool_execution metadata = %s, want %s", got, wantTool)
	}
}

func TestLoggerKeepsGivenSummary(t *testing.T) {
	store := newFakeStore()
	l := New(store)
	closeLogger(t, l)

	tool := validToolExecution()
	tool.InputSummary = "redacted"
	tool.InputBytes = 4096
	tool.Input = "not used"
	if err := l.Log(bg, tool); err != nil {
		t.Fatalf("Log() = %v, want nil", err)
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	rows, _, _ := store.snapshot()
	var got ToolExecution
	if err := json.Unmarshal(rows[0].Metadata, &got); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", rows[0].Metadata, err)
	}
	if got.InputSummary != "redacted" || got.InputBytes != 4096 {
		t.Errorf("summary = %q, %d bytes, want %q, 4096 bytes", got.InputSummary, got.InputBytes, "redacted")
	}
}

// filledLLMCall and filledToolExecution set every field, so that a field
// added to the types without an encoding fails the metadata tests.
func filledLLMCall() *LLMCall {
	return &LLMCall{
		Provider: "anthropic", API: "anthropic_messages", Model: "claude", ResponseModel: "claude-1",
		Usage: Usage{
			Available: true, PromptTokens: Int64(10), CompletionTokens: Int64(20), TotalTokens: Int64(30),
			CachedInputTokens: Int64(4), CacheWriteInputTokens: Int64(2), ReasoningTokens: Int64(5),
			ProviderTotalTokens: Int64(31),
		},
		DurationMs: 1500, Status: StatusError, Error: "overloaded <html> & \u2028 \x00 \xff",
		HTTPStatus: 529, FinishReason: "stop", Stream: true, Step: 2,
	}
}

func filledToolExecution() *ToolExecution {
	return &ToolExecution{
		ToolName: "shell", ToolCallID: "toolu_1", Status: StatusError, InputSummary: `{"cmd":"ls"}`,
		InputBytes: 12, DurationMs: 7, Error: "exit status 1", Risk: "high", ApprovalID: "apr_9",
		Input: json.RawMessage(`{"cmd":"ls"}`),
	}
}

// encodeMetadata returns the metadata column the writer builds for m.
func encodeMetadata(m Metadata) []byte {
	p := pendingEntry{}
	switch m := m.(type) {
	case *LLMCall:
		p.call = m
	case *ToolExecution:
		p.tool, p.inputSummary, p.inputBytes = m, m.InputSummary, m.InputBytes
	}
	var r record
	r.set(&p, [16]byte{})
	return appendMetadata(nil, &r)
}

func TestAppendMetadataMatchesStructTags(t *testing.T) {
	tests := []struct {
		name string
		meta Metadata
	}{
		{"llm call, every field", filledLLMCall()},
		{"llm call, zero values", &LLMCall{}},
		{"tool execution, every field", filledToolExecution()},
		{"tool execution, zero values", &ToolExecution{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.name, "every field") {
				v := reflect.ValueOf(tt.meta).Elem()
				for i := range v.NumField() {
					if v.Field(i).IsZero() {
						t.Fatalf("field %s is not set; set it so its encoding is checked", v.Type().Field(i).Name)
					}
				}
			}

			got := encodeMetadata(tt.meta)
			if !utf8.Valid(got) || !json.Valid(got) {
				t.Fatalf("appendMetadata() = %q, want valid UTF-8 JSON", got)
			}
			want, err := json.Marshal(tt.meta)
			if err != nil {
				t.Fatalf("json.Marshal() = %v", err)
			}
			var gotValue, wantValue map[string]any
			if err := json.Unmarshal(got, &gotValue); err != nil {
				t.Fatalf("json.Unmarshal(%s) = %v", got, err)
			}
			if err := json.Unmarshal(want, &wantValue); err != nil {
				t.Fatalf("json.Unmarshal(%s) = %v", want, err)
			}
			if !reflect.DeepEqual(gotValue, wantValue) {
				t.Errorf("appendMetadata() = %s\nwant the value of %s", got, want)
			}
		})
	}

	t.Run("stringify escapes", func(t *testing.T) {
		want := `"error":"overloaded <html> & ` + "\u2028" + ` \u0000 ` + "\uFFFD" + `"`
		if got := string(encodeMetadata(filledLLMCall())); !strings.Contains(got, want) {
			t.Errorf("appendMetadata() = %s, want it to contain %s", got, want)
		}
	})
}

func TestLoggerRejectsInvalid(t *testing.T) {
	store := newFakeStore()
	l := New(store)
	closeLogger(t, l)

	type custom struct{ *LLMCall }
	badCall := validLLMCall()
	badCall.Status = "done"
	tests := []struct {
		name      string
		meta      Metadata
		wantField string
	}{
		{"invalid field", badCall, "status"},
		{"nil interface", nil, "metadata"},
		{"nil pointer", (*ToolExecution)(nil), "metadata"},
		{"unknown type", custom{validLLMCall()}, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.Log(bg, tt.meta)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Log() = %v, want a *ValidationError", err)
			}
			if verr.Field != tt.wantField {
				t.Errorf("Log() field = %q, want %q", verr.Field, tt.wantField)
			}
		})
	}

	t.Run("chat ID too long", func(t *testing.T) {
		ctx := WithChatID(bg, strings.Repeat("c", MaxChatIDBytes+1))
		err := l.Log(ctx, validLLMCall())
		var verr *ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("Log() = %v, want a *ValidationError", err)
		}
		if got, want := verr.Field, "chatId"; got != want {
			t.Errorf("Log() field = %q, want %q", got, want)
		}
	})

	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	if got, want := l.Stats(), (Stats{Invalid: uint64(len(tests) + 1)}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if _, calls, _ := store.snapshot(); calls != 0 {
		t.Errorf("store got %d calls, want 0", calls)
	}
}

func TestLoggerClose(t *testing.T) {
	store := newFakeStore()
	l := New(store, WithFlushInterval(time.Hour))

	for i := range 50 {
		if err := l.Log(bg, validLLMCall()); err != nil {
			t.Fatalf("Log(%d) = %v, want nil", i, err)
		}
	}
	if err := l.Close(bg); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	rows, _, closes := store.snapshot()
	if len(rows) != 50 {
		t.Errorf("store has %d rows after Close, want 50", len(rows))
	}
	if closes != 1 {
		t.Errorf("store closed %d times, want 1", closes)
	}

	if err := l.Close(bg); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, _, closes := store.snapshot(); closes != 1 {
		t.Errorf("store closed %d times after second Close, want 1", closes)
	}
	if err := l.Log(bg, validLLMCall()); !errors.Is(err, ErrClosed) {
		t.Errorf("Log() after Close = %v, want ErrClosed", err)
	}
	if err := l.Flush(bg); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush() after Close = %v, want ErrClosed", err)
	}
	if got, want := l.Stats(), (Stats{Written: 50}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestLoggerCloseStoreError(t *testing.T) {
	store := newFakeStore()
	store.closeErr = errors.New("disk gone")
	l := New(store)
	err := l.Close(bg)
	if !errors.Is(err, store.closeErr) {
		t.Errorf("Close() = %v, want it to wrap %v", err, store.closeErr)
	}
}

func TestLoggerCloseContextEnds(t *testing.T) {
	store := newFakeStore()
	store.gate = make(chan struct{}) // never opened: the store hangs
	errs := &errorRecorder{}
	l := New(store, WithErrorHandler(errs.handle))

	for range 3 {
		if err := l.Log(bg, validLLMCall()); err != nil {
			t.Fatalf("Log() = %v, want nil", err)
		}
	}
	ctx, cancel := context.WithCancel(bg)
	go func() {
		<-store.started // the writer is inside InsertEntries
		cancel()
	}()
	err := l.Close(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close() = %v, want it to wrap context.Canceled", err)
	}
	if got, want := l.Stats(), (Stats{Dropped: 3}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if _, _, closes := store.snapshot(); closes != 1 {
		t.Errorf("store closed %d times, want 1", closes)
	}
	var loss *LossError
	if got := errs.all(); len(got) != 1 || !errors.As(got[0], &loss) || loss.Entries != 3 {
		t.Errorf("error handler got %v, want one *LossError for 3 entries", got)
	}
}

func TestLoggerQueueFull(t *testing.T) {
	store := newFakeStore()
	store.gate = make(chan struct{})
	errs := &errorRecorder{}
	l := New(store, WithQueueSize(4), WithBatchSize(2), WithErrorHandler(errs.handle))

	// The writer takes one batch of 2 and hangs in the store; 4 more fill
	// the queue.
	for range 2 {
		if err := l.Log(bg, validLLMCall()); err != nil {
			t.Fatalf("Log() = %v, want nil", err)
		}
	}
	<-store.started
	for i := range 4 {
		if err := l.Log(bg, validLLMCall()); err != nil {
			t.Fatalf("Log(%d) = %v, want nil", i, err)
		}
	}
	for i := range 3 {
		if err := l.Log(bg, validLLMCall()); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("Log(%d) on a full queue = %v, want ErrQueueFull", i, err)
		}
	}
	if got, want := l.Stats(), (Stats{Queued: 6, Dropped: 3}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}

	close(store.gate)
	if err := l.Close(bg); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if got, want := l.Stats(), (Stats{Written: 6, Dropped: 3}); got != want {
		t.Errorf("Stats() after Close = %+v, want %+v", got, want)
	}
	var loss *LossError
	got := errs.all()
	if len(got) != 1 || !errors.As(got[0], &loss) || loss.Entries != 3 || !errors.Is(got[0], ErrQueueFull) {
		t.Errorf("error handler got %v, want one *LossError for 3 entries wrapping ErrQueueFull", got)
	}
}

func TestLoggerBlock(t *testing.T) {
	tests := []struct {
		name    string
		block   time.Duration
		release bool
		wantErr error
	}{
		{"room freed in time", time.Minute, true, nil},
		{"timeout passes", time.Millisecond, false, ErrQueueFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			store.gate = make(chan struct{})
			l := New(store, WithQueueSize(1), WithBatchSize(1), WithBlock(tt.block))

			if err := l.Log(bg, validLLMCall()); err != nil {
				t.Fatalf("Log(first) = %v, want nil", err)
			}
			<-store.started
			if err := l.Log(bg, validLLMCall()); err != nil {
				t.Fatalf("Log(second) = %v, want nil", err)
			}

			result := make(chan error, 1)
			go func() { result <- l.Log(bg, validLLMCall()) }()
			if tt.release {
				close(store.gate)
			}
			if err := <-result; !errors.Is(err, tt.wantErr) {
				t.Errorf("Log(third) = %v, want %v", err, tt.wantErr)
			}
			if !tt.release {
				close(store.gate)
			}
			if err := l.Close(bg); err != nil {
				t.Errorf("Close() = %v, want nil", err)
			}
		})
	}
}

func TestLoggerBlockedLogEndsOnClose(t *testing.T) {
	store := newFakeStore()
	store.gate = make(chan struct{})
	l := New(store, WithQueueSize(1), WithBatchSize(1), WithBlock(time.Hour))
	if err := l.Log(bg, validLLMCall()); err != nil {
		t.Fatalf("Log(first) = %v, want nil", err)
	}
	<-store.started
	if err := l.Log(bg, validLLMCall()); err != nil {
		t.Fatalf("Log(second) = %v, want nil", err)
	}

	result := make(chan error, 1)
	go func() { result <- l.Log(bg, validLLMCall()) }()
	waitFor(t, "Log to wait for room", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.space != nil
	})
	closed := make(chan error, 1)
	go func() { closed <- l.Close(bg) }()
	if err := <-result; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked Log() during Close = %v, want ErrClosed", err)
	}
	close(store.gate)
	if err := <-closed; err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
}

func TestLoggerStoreDown(t *testing.T) {
	const queueSize, batchSize, logged = 16, 4, 2000
	store := newFakeStore()
	down := errors.New("connection refused")
	store.setOutcome(func(int, []Entry) (bool, error) { return false, down })
	errs := &errorRecorder{}
	l := New(store,
		WithQueueSize(queueSize), WithBatchSize(batchSize),
		WithMaxRetries(2), WithRetryBackoff(time.Microsecond, 10*time.Microsecond),
		WithErrorHandler(errs.handle))

	var accepted, full int
	for i := range logged {
		switch err := l.Log(bg, validToolExecution()); {
		case err == nil:
			accepted++
		case errors.Is(err, ErrQueueFull):
			full++
		default:
			t.Fatalf("Log(%d) = %v, want nil or ErrQueueFull", i, err)
		}

		l.mu.Lock()
		inQueue, ringSize := l.count+l.inFlight, len(l.ring)
		l.mu.Unlock()
		if inQueue > queueSize+batchSize {
			t.Fatalf("Logger holds %d entries, want at most %d", inQueue, queueSize+batchSize)
		}
		if ringSize != queueSize {
			t.Fatalf("queue has room for %d entries, want %d", ringSize, queueSize)
		}
	}
	// Close may or may not find entries left to drop, so only the counts
	// below are checked.
	closeErr := l.Close(bg)

	s := l.Stats()
	if s.Written != 0 {
		t.Errorf("Stats().Written = %d, want 0", s.Written)
	}
	if got := s.Written + s.Dropped + s.Failed + uint64(s.Queued); got != logged {
		t.Errorf("Written+Dropped+Failed+Queued = %d (%+v), want %d", got, s, logged)
	}
	if s.Dropped < uint64(full) {
		t.Errorf("Stats().Dropped = %d, want at least the %d queue-full drops", s.Dropped, full)
	}
	if s.Retries == 0 {
		t.Errorf("Stats().Retries = 0, want retries")
	}
	var lost uint64
	for _, err := range errs.all() {
		var loss *LossError
		if !errors.As(err, &loss) {
			t.Fatalf("error handler got %v, want a *LossError", err)
		}
		lost += loss.Entries
	}
	if lost != s.Dropped+s.Failed {
		t.Errorf("error handler reported %d lost entries, want %d", lost, s.Dropped+s.Failed)
	}
	t.Logf("accepted %d, queue full %d, stats %+v, Close() = %v", accepted, full, s, closeErr)
}

func TestLoggerLostReplyIsNotDuplicated(t *testing.T) {
	store := newFakeStore()
	store.setOutcome(func(call int, _ []Entry) (bool, error) {
		if call == 1 {
			return true, errors.New("read tcp: connection reset by peer")
		}
		return true, nil
	})
	l := New(store, WithRetryBackoff(time.Microsecond, time.Microsecond))
	closeLogger(t, l)

	for range 5 {
		if err := l.Log(bg, validLLMCall()); err != nil {
			t.Fatalf("Log() = %v, want nil", err)
		}
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	rows, calls, _ := store.snapshot()
	if len(rows) != 5 {
		t.Errorf("store has %d rows, want 5", len(rows))
	}
	if calls != 2 {
		t.Errorf("store got %d calls, want 2", calls)
	}
	if got, want := l.Stats(), (Stats{Written: 5, Retries: 1}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestLoggerPermanentError(t *testing.T) {
	store := newFakeStore()
	denied := errors.New("401 invalid token")
	store.setOutcome(func(int, []Entry) (bool, error) { return false, Permanent(denied) })
	errs := &errorRecorder{}
	l := New(store, WithRetryBackoff(time.Microsecond, time.Microsecond), WithErrorHandler(errs.handle))
	closeLogger(t, l)

	for range 3 {
		if err := l.Log(bg, validLLMCall()); err != nil {
			t.Fatalf("Log() = %v, want nil", err)
		}
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	if _, calls, _ := store.snapshot(); calls != 1 {
		t.Errorf("store got %d calls, want 1", calls)
	}
	if got, want := l.Stats(), (Stats{Failed: 3}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	var loss *LossError
	got := errs.all()
	if len(got) != 1 || !errors.As(got[0], &loss) || !loss.Failed || !errors.Is(got[0], denied) {
		t.Errorf("error handler got %v, want one failed *LossError wrapping %v", got, denied)
	}
}

func TestLoggerRejectedEntries(t *testing.T) {
	store := newFakeStore()
	var rejectedID string
	store.setOutcome(func(_ int, entries []Entry) (bool, error) {
		rejectedID = entries[1].ID
		return true, &RejectedError{Rejected: []Rejection{{ID: rejectedID, Err: errors.New("value too large")}}}
	})
	errs := &errorRecorder{}
	l := New(store, WithErrorHandler(errs.handle))
	closeLogger(t, l)

	for range 3 {
		if err := l.Log(bg, validToolExecution()); err != nil {
			t.Fatalf("Log() = %v, want nil", err)
		}
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	if got, want := l.Stats(), (Stats{Written: 2, Failed: 1}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	rows, calls, _ := store.snapshot()
	if len(rows) != 2 || calls != 1 {
		t.Errorf("store has %d rows after %d calls, want 2 rows after 1 call", len(rows), calls)
	}
	var rejected *RejectedError
	got := errs.all()
	if len(got) != 1 || !errors.As(got[0], &rejected) || rejected.Rejected[0].ID != rejectedID {
		t.Errorf("error handler got %v, want the *RejectedError for %s", got, rejectedID)
	}
}

func TestLoggerStorePanics(t *testing.T) {
	store := newFakeStore()
	store.setOutcome(func(call int, _ []Entry) (bool, error) {
		if call == 1 {
			panic("nil map write")
		}
		return true, nil
	})
	l := New(store, WithErrorHandler(func(error) { panic("handler bug") }))
	closeLogger(t, l)

	if err := l.Log(bg, validLLMCall()); err != nil {
		t.Fatalf("Log() = %v, want nil", err)
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	if err := l.Log(bg, validLLMCall()); err != nil {
		t.Fatalf("Log() = %v, want nil", err)
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() after a store panic = %v, want nil", err)
	}
	if got, want := l.Stats(), (Stats{Written: 1, Failed: 1}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestLoggerFlushHonoursContext(t *testing.T) {
	store := newFakeStore()
	store.gate = make(chan struct{})
	l := New(store)

	if err := l.Log(bg, validLLMCall()); err != nil {
		t.Fatalf("Log() = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(bg)
	go func() {
		<-store.started
		cancel()
	}()
	if err := l.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Flush() = %v, want it to wrap context.Canceled", err)
	}

	close(store.gate)
	if err := l.Close(bg); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	if got, want := l.Stats(), (Stats{Written: 1}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestLoggerSync(t *testing.T) {
	store := newFakeStore()
	l := New(store, WithSync(), WithFlushInterval(time.Hour))
	closeLogger(t, l)

	for i := range 3 {
		if err := l.Log(bg, validLLMCall()); err != nil {
			t.Fatalf("Log() = %v, want nil", err)
		}
		if rows, _, _ := store.snapshot(); len(rows) != i+1 {
			t.Errorf("store has %d rows after Log returned, want %d", len(rows), i+1)
		}
	}
}

func TestLoggerConcurrentLog(t *testing.T) {
	const goroutines, perGoroutine = 20, 200
	store := newFakeStore()
	l := New(store, WithQueueSize(goroutines*perGoroutine))

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ctx := WithChatID(bg, fmt.Sprintf("chat-%d", g))
			for i := range perGoroutine {
				var err error
				if i%2 == 0 {
					err = l.Log(ctx, validLLMCall())
				} else {
					err = l.Log(ctx, validToolExecution())
				}
				if err != nil {
					t.Errorf("Log() = %v, want nil", err)
					return
				}
				if i%50 == 0 {
					l.Stats()
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(bg); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	rows, _, _ := store.snapshot()
	if len(rows) != goroutines*perGoroutine {
		t.Fatalf("store has %d rows, want %d", len(rows), goroutines*perGoroutine)
	}
	// Ids are issued under the queue's lock, so store order is id order.
	for i := 1; i < len(rows); i++ {
		if rows[i].ID <= rows[i-1].ID {
			t.Fatalf("row %d id %s, want after %s", i, rows[i].ID, rows[i-1].ID)
		}
	}
	byChat := map[string][]string{}
	for _, row := range rows {
		byChat[row.ChatID] = append(byChat[row.ChatID], row.ID)
	}
	for chat, ids := range byChat {
		if len(ids) != perGoroutine {
			t.Errorf("chat %s has %d rows, want %d", chat, len(ids), perGoroutine)
		}
		if !sort.StringsAreSorted(ids) {
			t.Errorf("ids of chat %s are not in the order they were logged", chat)
		}
	}
	if got, want := l.Stats(), (Stats{Written: goroutines * perGoroutine}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestLoggerErrorHandlerRateLimited(t *testing.T) {
	store := newFakeStore()
	store.setOutcome(func(int, []Entry) (bool, error) { return false, Permanent(errors.New("no such table: audit_logs")) })
	clock := newFakeClock()
	errs := &errorRecorder{}
	l := New(store, WithClock(clock.Now), WithErrorHandler(errs.handle), WithFlushInterval(time.Millisecond))

	logAndFlush := func(n int) {
		t.Helper()
		for range n {
			if err := l.Log(bg, validLLMCall()); err != nil {
				t.Fatalf("Log() = %v, want nil", err)
			}
			if err := l.Flush(bg); err != nil {
				t.Fatalf("Flush() = %v, want nil", err)
			}
		}
	}
	entriesReported := func() []uint64 {
		var counts []uint64
		for _, err := range errs.all() {
			var loss *LossError
			if !errors.As(err, &loss) {
				t.Fatalf("error handler got %v, want a *LossError", err)
			}
			counts = append(counts, loss.Entries)
		}
		return counts
	}

	logAndFlush(1)
	if got, want := entriesReported(), []uint64{1}; !slices.Equal(got, want) {
		t.Errorf("reports after the first failure = %v, want %v", got, want)
	}
	logAndFlush(3)
	if got, want := entriesReported(), []uint64{1}; !slices.Equal(got, want) {
		t.Errorf("reports within the interval = %v, want %v", got, want)
	}
	// The writer's next pass after the interval reports what it held back.
	clock.Advance(DefaultErrorReportInterval)
	waitFor(t, "the held-back report", func() bool { return len(errs.all()) == 2 })
	if got, want := entriesReported(), []uint64{1, 3}; !slices.Equal(got, want) {
		t.Errorf("reports after the interval = %v, want %v", got, want)
	}
	logAndFlush(2)
	if err := l.Close(bg); err != nil {
		t.Errorf("Close() = %v, want nil: the failures came before it", err)
	}
	if got, want := entriesReported(), []uint64{1, 3, 2}; !slices.Equal(got, want) {
		t.Errorf("reports after Close = %v, want %v", got, want)
	}
}
