package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/tools"
)

func TestApprovalLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	created := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

	a := tools.Approval{
		ID:         "appr-1",
		ChatID:     "chat-1",
		ToolName:   "delete_file",
		ToolCallID: "call_1",
		Input:      json.RawMessage(`{"path":"` + injection + `"}`),
		CreatedAt:  created,
	}
	if err := s.CreateApproval(ctx, a); err != nil {
		t.Fatalf("CreateApproval() = %v, want nil", err)
	}

	got, err := s.GetApproval(ctx, "appr-1")
	if err != nil {
		t.Fatalf("GetApproval() = %v, want nil", err)
	}
	want := a
	want.Status = tools.ApprovalPending
	checkApprovalEqual(t, got, want)

	decidedAt := created.Add(time.Minute)
	decided, err := s.DecideApproval(ctx, "appr-1", tools.ApprovalApproved, "looks safe", decidedAt)
	if err != nil {
		t.Fatalf("DecideApproval() = %v, want nil", err)
	}
	want.Status = tools.ApprovalApproved
	want.Reason = "looks safe"
	want.DecidedAt = decidedAt
	checkApprovalEqual(t, decided, want)

	got, err = s.GetApproval(ctx, "appr-1")
	if err != nil {
		t.Fatal(err)
	}
	checkApprovalEqual(t, got, want)

	_, err = s.DecideApproval(ctx, "appr-1", tools.ApprovalDenied, "", time.Time{})
	if !errors.Is(err, tools.ErrAlreadyDecided) {
		t.Errorf("second DecideApproval() = %v, want ErrAlreadyDecided", err)
	}
}

func checkApprovalEqual(t *testing.T, got, want tools.Approval) {
	t.Helper()
	if got.ID != want.ID || got.ChatID != want.ChatID || got.ToolName != want.ToolName ||
		got.ToolCallID != want.ToolCallID || got.Status != want.Status || got.Reason != want.Reason {
		t.Errorf("approval = %+v, want %+v", got, want)
	}
	if string(got.Input) != string(want.Input) {
		t.Errorf("approval Input = %s, want %s", got.Input, want.Input)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.DecidedAt.Equal(want.DecidedAt) {
		t.Errorf("approval times = %v, %v, want %v, %v", got.CreatedAt, got.DecidedAt, want.CreatedAt, want.DecidedAt)
	}
}

func TestApprovalErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if err := s.CreateApproval(ctx, tools.Approval{ID: "dup", ChatID: "c", ToolName: "t"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		call    func() error
		wantIs  error
		wantMsg string
	}{
		{"get unknown", func() error { _, err := s.GetApproval(ctx, "nope"); return err }, tools.ErrApprovalNotFound, `"nope"`},
		{"decide unknown", func() error {
			_, err := s.DecideApproval(ctx, "nope", tools.ApprovalApproved, "", time.Time{})
			return err
		}, tools.ErrApprovalNotFound, `"nope"`},
		{"decide as pending", func() error {
			_, err := s.DecideApproval(ctx, "dup", tools.ApprovalPending, "", time.Time{})
			return err
		}, nil, `status "pending" is invalid`},
		{"decide unknown status", func() error {
			_, err := s.DecideApproval(ctx, "dup", "maybe", "", time.Time{})
			return err
		}, nil, `status "maybe" is invalid`},
		{"create duplicate", func() error {
			return s.CreateApproval(ctx, tools.Approval{ID: "dup", ChatID: "c", ToolName: "t"})
		}, nil, "exists"},
		{"create empty id", func() error { return s.CreateApproval(ctx, tools.Approval{ChatID: "c"}) }, nil, "id is empty"},
		{"create bad status", func() error {
			return s.CreateApproval(ctx, tools.Approval{ID: "x", Status: "done"})
		}, nil, `status "done" is invalid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error = %v, want it to wrap %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}

	got, err := s.GetApproval(ctx, "dup")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != tools.ApprovalPending {
		t.Errorf("status after rejected calls = %q, want pending", got.Status)
	}
}

func TestListApprovals(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, chat := range []string{"a", "b", "a", "a"} {
		a := tools.Approval{ID: fmt.Sprintf("ap-%d", i), ChatID: chat, ToolName: "t", CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := s.CreateApproval(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DecideApproval(ctx, "ap-2", tools.ApprovalDenied, "no", time.Time{}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		f    tools.ApprovalFilter
		want string
	}{
		{"all", tools.ApprovalFilter{}, "[ap-0 ap-1 ap-2 ap-3]"},
		{"chat", tools.ApprovalFilter{ChatID: "a"}, "[ap-0 ap-2 ap-3]"},
		{"pending in chat", tools.ApprovalFilter{ChatID: "a", Status: tools.ApprovalPending}, "[ap-0 ap-3]"},
		{"denied", tools.ApprovalFilter{Status: tools.ApprovalDenied}, "[ap-2]"},
		{"none", tools.ApprovalFilter{ChatID: "zzz"}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListApprovals(ctx, tt.f)
			if err != nil {
				t.Fatalf("ListApprovals(%+v) = %v, want nil", tt.f, err)
			}
			var ids []string
			for _, a := range got {
				ids = append(ids, a.ID)
			}
			if fmt.Sprint(ids) != tt.want {
				t.Errorf("ListApprovals(%+v) = %v, want %s", tt.f, ids, tt.want)
			}
		})
	}
}

// TestDecideApprovalRace decides each approval from two goroutines at once,
// through two Stores on one file: exactly one decision wins.
func TestDecideApprovalRace(t *testing.T) {
	ctx := context.Background()
	a, path := openTemp(t)
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	for i := range 20 {
		id := fmt.Sprintf("race-%d", i)
		if err := a.CreateApproval(ctx, tools.Approval{ID: id, ChatID: "c", ToolName: "t"}); err != nil {
			t.Fatal(err)
		}

		var wg sync.WaitGroup
		results := make([]error, 2)
		statuses := []tools.ApprovalStatus{tools.ApprovalApproved, tools.ApprovalDenied}
		for j, s := range []*Store{a, b} {
			wg.Go(func() {
				_, results[j] = s.DecideApproval(ctx, id, statuses[j], fmt.Sprint("decider ", j), time.Time{})
			})
		}
		wg.Wait()

		wins, losses := 0, 0
		for _, err := range results {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, tools.ErrAlreadyDecided):
				losses++
			default:
				t.Errorf("DecideApproval(%s) = %v, want nil or ErrAlreadyDecided", id, err)
			}
		}
		if wins != 1 || losses != 1 {
			t.Errorf("DecideApproval(%s) from two goroutines: %d wins, %d losses, want 1 and 1", id, wins, losses)
		}

		got, err := a.GetApproval(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		winner := 0
		if results[1] == nil {
			winner = 1
		}
		if got.Status != statuses[winner] || got.Reason != fmt.Sprint("decider ", winner) {
			t.Errorf("approval %s = %s %q, want the winner's %s", id, got.Status, got.Reason, statuses[winner])
		}
	}
}
