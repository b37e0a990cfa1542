package d1

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/tools"
)

const approvalColumns = "id, chat_id, tool_name, tool_call_id, input, status, reason, created_at, decided_at"

// approvalRow is a pending_approvals row as the REST API returns it.
type approvalRow struct {
	ID         string  `json:"id"`
	ChatID     string  `json:"chat_id"`
	ToolName   string  `json:"tool_name"`
	ToolCallID string  `json:"tool_call_id"`
	Input      string  `json:"input"`
	Status     string  `json:"status"`
	Reason     string  `json:"reason"`
	CreatedAt  string  `json:"created_at"`
	DecidedAt  *string `json:"decided_at"`
}

// CreateApproval stores a as a new row of pending_approvals. An empty
// Status is stored as pending and a zero CreatedAt as the current time. It
// returns an error naming the id when a is invalid or an approval with its
// id exists already. The request is retried only on failures that show it
// did not run, so an approval is never stored twice.
func (s *Store) CreateApproval(ctx context.Context, a tools.Approval) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if a.ID == "" {
		return errors.New("d1: create approval: id is empty; assign a unique id")
	}
	if a.Status == "" {
		a.Status = tools.ApprovalPending
	}
	if err := checkStatus(a.Status, true); err != nil {
		return fmt.Errorf("d1: create approval %q: %w", a.ID, err)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	var decidedAt any
	if !a.DecidedAt.IsZero() {
		decidedAt = audit.FormatTime(a.DecidedAt)
	}

	_, err := s.client.batch(ctx, []Statement{{
		SQL: "INSERT INTO pending_approvals (" + approvalColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		Params: []any{a.ID, a.ChatID, a.ToolName, a.ToolCallID, string(a.Input), string(a.Status), a.Reason,
			audit.FormatTime(a.CreatedAt), decidedAt},
	}}, retryUnsent)
	if isRowError(err) && strings.Contains(strings.ToLower(err.Error()), "unique") {
		return fmt.Errorf("d1: create approval %q: an approval with this id exists already; use a new id: %w", a.ID, err)
	}
	if err != nil {
		return fmt.Errorf("d1: create approval %q in %s: %w", a.ID, s.DSN(), err)
	}
	return nil
}

// GetApproval returns the approval with id, or an error wrapping
// tools.ErrApprovalNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (tools.Approval, error) {
	if s.closed.Load() {
		return tools.Approval{}, ErrClosed
	}
	res, err := s.client.Query(ctx, "SELECT "+approvalColumns+" FROM pending_approvals WHERE id = ?", id)
	if err != nil {
		return tools.Approval{}, fmt.Errorf("d1: get approval %q from %s: %w", id, s.DSN(), err)
	}
	as, err := decodeApprovals(res)
	if err != nil {
		return tools.Approval{}, fmt.Errorf("d1: get approval %q from %s: %w", id, s.DSN(), err)
	}
	if len(as) == 0 {
		return tools.Approval{}, fmt.Errorf("d1: get approval %q: %w", id, tools.ErrApprovalNotFound)
	}
	return as[0], nil
}

// ListApprovals returns the approvals that match f, oldest first.
func (s *Store) ListApprovals(ctx context.Context, f tools.ApprovalFilter) ([]tools.Approval, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var (
		where []string
		args  []any
	)
	if f.ChatID != "" {
		where = append(where, "chat_id = ?")
		args = append(args, f.ChatID)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	query := "SELECT " + approvalColumns + " FROM pending_approvals"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created_at, id"

	res, err := s.client.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("d1: list approvals in %s: %w", s.DSN(), err)
	}
	as, err := decodeApprovals(res)
	if err != nil {
		return nil, fmt.Errorf("d1: list approvals in %s: %w", s.DSN(), err)
	}
	return as, nil
}

// DecideApproval moves the pending approval id to status, approved or
// denied, with reason and the decision time at (the current time when
// zero), and returns the updated approval. Of two concurrent decisions one
// wins and the other returns tools.ErrAlreadyDecided; an unknown id returns
// tools.ErrApprovalNotFound. The update is retried only on failures that
// show it did not run.
func (s *Store) DecideApproval(ctx context.Context, id string, status tools.ApprovalStatus, reason string, at time.Time) (tools.Approval, error) {
	if s.closed.Load() {
		return tools.Approval{}, ErrClosed
	}
	if err := checkStatus(status, false); err != nil {
		return tools.Approval{}, fmt.Errorf("d1: decide approval %q: %w", id, err)
	}
	if at.IsZero() {
		at = time.Now()
	}

	// The status condition makes the update the arbiter: D1 runs one write
	// at a time, so a second decision finds no pending row and changes
	// nothing.
	results, err := s.client.batch(ctx, []Statement{{
		SQL:    "UPDATE pending_approvals SET status = ?, reason = ?, decided_at = ? WHERE id = ? AND status = 'pending' RETURNING " + approvalColumns,
		Params: []any{string(status), reason, audit.FormatTime(at), id},
	}}, retryUnsent)
	if err != nil {
		return tools.Approval{}, fmt.Errorf("d1: decide approval %q in %s: %w", id, s.DSN(), err)
	}
	as, err := decodeApprovals(&results[0])
	if err != nil {
		return tools.Approval{}, fmt.Errorf("d1: decide approval %q in %s: %w", id, s.DSN(), err)
	}
	if results[0].Meta.Changes == 1 && len(as) == 1 {
		return as[0], nil
	}

	current, err := s.GetApproval(ctx, id)
	if err != nil {
		return tools.Approval{}, fmt.Errorf("d1: decide approval %q: %w", id, err)
	}
	return tools.Approval{}, fmt.Errorf("d1: decide approval %q: status is %s: %w", id, current.Status, tools.ErrAlreadyDecided)
}

// checkStatus rejects a status the pending_approvals table does not know;
// pending is allowed only when creating.
func checkStatus(status tools.ApprovalStatus, creating bool) error {
	switch status {
	case tools.ApprovalApproved, tools.ApprovalDenied:
		return nil
	case tools.ApprovalPending:
		if creating {
			return nil
		}
	}
	if creating {
		return fmt.Errorf("status %q is invalid; use %q, %q or %q", status, tools.ApprovalPending, tools.ApprovalApproved, tools.ApprovalDenied)
	}
	return fmt.Errorf("status %q is invalid; use %q or %q", status, tools.ApprovalApproved, tools.ApprovalDenied)
}

func decodeApprovals(res *Result) ([]tools.Approval, error) {
	var rows []approvalRow
	if err := res.Decode(&rows); err != nil {
		return nil, err
	}
	out := make([]tools.Approval, 0, len(rows))
	for _, r := range rows {
		a := tools.Approval{
			ID:         r.ID,
			ChatID:     r.ChatID,
			ToolName:   r.ToolName,
			ToolCallID: r.ToolCallID,
			Status:     tools.ApprovalStatus(r.Status),
			Reason:     r.Reason,
		}
		if r.Input != "" {
			a.Input = []byte(r.Input)
		}
		var err error
		if a.CreatedAt, err = parseTime(r.CreatedAt); err != nil {
			return nil, fmt.Errorf("approval %q: created_at: %w", r.ID, err)
		}
		if r.DecidedAt != nil && *r.DecidedAt != "" {
			if a.DecidedAt, err = parseTime(*r.DecidedAt); err != nil {
				return nil, fmt.Errorf("approval %q: decided_at: %w", r.ID, err)
			}
		}
		out = append(out, a)
	}
	return out, nil
}
