package postgres_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/tools"
)

func TestApprovalLifecycle(t *testing.T) {
	dsn := testSchema(t)
	s := openStore(t, dsn)
	ctx := testContext(t, time.Minute)

	a := tools.Approval{
		ID:         "appr-1",
		ChatID:     "chat-1",
		ToolName:   "delete_file",
		ToolCallID: "call-1",
		Input:      json.RawMessage(`{"path":"/tmp/x"}`),
		Status:     tools.ApprovalPending,
		CreatedAt:  baseTime,
	}
	if err := s.CreateApproval(ctx, a); err != nil {
		t.Fatalf("CreateApproval() = %v", err)
	}
	if err := s.CreateApproval(ctx, a); err == nil {
		t.Errorf("CreateApproval() of a duplicate id = nil, want an error")
	}

	got, err := s.GetApproval(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetApproval() = %v", err)
	}
	if got.ChatID != a.ChatID || got.ToolName != a.ToolName || got.ToolCallID != a.ToolCallID ||
		string(got.Input) != string(a.Input) || got.Status != tools.ApprovalPending ||
		!got.CreatedAt.Equal(a.CreatedAt) || !got.DecidedAt.IsZero() {
		t.Errorf("GetApproval() = %+v, want %+v", got, a)
	}

	decidedAt := baseTime.Add(time.Minute)
	decided, err := s.DecideApproval(ctx, a.ID, tools.ApprovalApproved, "looks fine", decidedAt)
	if err != nil {
		t.Fatalf("DecideApproval() = %v", err)
	}
	if decided.Status != tools.ApprovalApproved || decided.Reason != "looks fine" || !decided.DecidedAt.Equal(decidedAt) {
		t.Errorf("DecideApproval() = %+v, want approved with reason and time", decided)
	}

	_, err = s.DecideApproval(ctx, a.ID, tools.ApprovalDenied, "", decidedAt)
	if !errors.Is(err, tools.ErrAlreadyDecided) {
		t.Errorf("second DecideApproval() = %v, want ErrAlreadyDecided", err)
	}
	_, err = s.DecideApproval(ctx, "missing", tools.ApprovalDenied, "", decidedAt)
	if !errors.Is(err, tools.ErrApprovalNotFound) {
		t.Errorf("DecideApproval(missing) = %v, want ErrApprovalNotFound", err)
	}
	if _, err := s.GetApproval(ctx, "missing"); !errors.Is(err, tools.ErrApprovalNotFound) {
		t.Errorf("GetApproval(missing) = %v, want ErrApprovalNotFound", err)
	}
	if _, err := s.DecideApproval(ctx, a.ID, tools.ApprovalPending, "", decidedAt); err == nil {
		t.Errorf("DecideApproval(status pending) = nil, want an error naming the status")
	}
	if err := s.CreateApproval(ctx, tools.Approval{ID: "x", Status: "maybe"}); err == nil {
		t.Errorf("CreateApproval(status maybe) = nil, want an error naming the status")
	}
}

func TestListApprovals(t *testing.T) {
	dsn := testSchema(t)
	s := openStore(t, dsn)
	ctx := testContext(t, time.Minute)

	for i := range 6 {
		a := tools.Approval{
			ID:        fmt.Sprintf("appr-%d", i),
			ChatID:    fmt.Sprintf("chat-%d", i%2),
			ToolName:  "t",
			Input:     json.RawMessage(`{}`),
			CreatedAt: baseTime.Add(time.Duration(6-i) * time.Second), // newest first
		}
		if err := s.CreateApproval(ctx, a); err != nil {
			t.Fatalf("CreateApproval(%s) = %v", a.ID, err)
		}
	}
	if _, err := s.DecideApproval(ctx, "appr-0", tools.ApprovalDenied, "no", baseTime); err != nil {
		t.Fatalf("DecideApproval() = %v", err)
	}

	tests := []struct {
		filter tools.ApprovalFilter
		want   string
	}{
		{tools.ApprovalFilter{}, "[appr-5 appr-4 appr-3 appr-2 appr-1 appr-0]"},
		{tools.ApprovalFilter{ChatID: "chat-0"}, "[appr-4 appr-2 appr-0]"},
		{tools.ApprovalFilter{Status: tools.ApprovalPending}, "[appr-5 appr-4 appr-3 appr-2 appr-1]"},
		{tools.ApprovalFilter{ChatID: "chat-0", Status: tools.ApprovalDenied}, "[appr-0]"},
	}
	for _, tt := range tests {
		got, err := s.ListApprovals(ctx, tt.filter)
		if err != nil {
			t.Fatalf("ListApprovals(%+v) = %v", tt.filter, err)
		}
		var ids []string
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if fmt.Sprint(ids) != tt.want {
			t.Errorf("ListApprovals(%+v) = %v, want %s", tt.filter, ids, tt.want)
		}
	}
}

func TestApprovalHardText(t *testing.T) {
	dsn := testSchema(t)
	s := openStore(t, dsn)
	ctx := testContext(t, time.Minute)

	a := tools.Approval{
		ID:       "appr-\x00-1",
		ChatID:   "chat\xff",
		ToolName: "run",
		Input:    json.RawMessage("{\"cmd\":\"rm\x00\xfe\"}"),
		Reason:   "",
	}
	if err := s.CreateApproval(ctx, a); err != nil {
		t.Fatalf("CreateApproval() = %v, want nil", err)
	}
	got, err := s.GetApproval(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetApproval() = %v", err)
	}
	if want := "{\"cmd\":\"rm\uFFFD\uFFFD\"}"; string(got.Input) != want {
		t.Errorf("Input = %q, want %q", got.Input, want)
	}
	if got.ChatID != "chat\uFFFD" {
		t.Errorf("ChatID = %q, want %q", got.ChatID, "chat\uFFFD")
	}
	if got.CreatedAt.IsZero() {
		t.Errorf("CreatedAt is zero, want the time of CreateApproval")
	}
	if _, err := s.DecideApproval(ctx, a.ID, tools.ApprovalDenied, "bad\x00reason", time.Time{}); err != nil {
		t.Errorf("DecideApproval() = %v, want nil", err)
	}
}

// TestDecideApprovalRace decides one approval from many goroutines over two
// Stores, so two connection pools; exactly one decision must win.
func TestDecideApprovalRace(t *testing.T) {
	dsn := testSchema(t)
	s1 := openStore(t, dsn)
	s2 := openStore(t, dsn)
	ctx := testContext(t, time.Minute)

	const approvals, deciders = 20, 8
	for i := range approvals {
		a := tools.Approval{ID: fmt.Sprintf("race-%d", i), ChatID: "c", ToolName: "t", Input: json.RawMessage(`{}`)}
		if err := s1.CreateApproval(ctx, a); err != nil {
			t.Fatalf("CreateApproval() = %v", err)
		}
	}

	var (
		mu      sync.Mutex
		winners = map[string][]int{}
		wg      sync.WaitGroup
	)
	for d := range deciders {
		s := s1
		if d%2 == 1 {
			s = s2
		}
		status := tools.ApprovalApproved
		if d%3 == 0 {
			status = tools.ApprovalDenied
		}
		wg.Go(func() {
			for i := range approvals {
				id := fmt.Sprintf("race-%d", i)
				a, err := s.DecideApproval(ctx, id, status, fmt.Sprintf("decider %d", d), time.Time{})
				switch {
				case err == nil:
					if a.Reason != fmt.Sprintf("decider %d", d) {
						t.Errorf("DecideApproval(%s) by decider %d returned reason %q", id, d, a.Reason)
					}
					mu.Lock()
					winners[id] = append(winners[id], d)
					mu.Unlock()
				case !errors.Is(err, tools.ErrAlreadyDecided):
					t.Errorf("DecideApproval(%s) = %v, want nil or ErrAlreadyDecided", id, err)
				}
			}
		})
	}
	wg.Wait()

	for i := range approvals {
		id := fmt.Sprintf("race-%d", i)
		if got := winners[id]; len(got) != 1 {
			t.Errorf("approval %s decided by %v, want exactly one decider", id, got)
			continue
		}
		a, err := s2.GetApproval(ctx, id)
		if err != nil {
			t.Fatalf("GetApproval(%s) = %v", id, err)
		}
		if want := fmt.Sprintf("decider %d", winners[id][0]); a.Reason != want {
			t.Errorf("stored reason of %s = %q, want the winner's %q", id, a.Reason, want)
		}
	}
}
