package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/tools"
)

const approvalColumns = "id, chat_id, tool_name, tool_call_id, input, status, reason, created_at, decided_at"

// CreateApproval stores a as a new row of pending_approvals. An empty
// Status is stored as pending and a zero CreatedAt as the current time.
// Text that PostgreSQL cannot hold is made storable as the package
// documentation describes, so Input comes back with U+FFFD in place of NUL
// bytes and invalid UTF-8.
//
// CreateApproval returns an error naming the id when a is invalid or an
// approval with its id exists already.
func (s *Store) CreateApproval(ctx context.Context, a tools.Approval) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if a.ID == "" {
		return errors.New("postgres: create approval: id is empty; assign a unique id")
	}
	if a.Status == "" {
		a.Status = tools.ApprovalPending
	}
	if err := checkApprovalStatus(a.Status, true); err != nil {
		return fmt.Errorf("postgres: create approval %q: %w", a.ID, err)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	var decidedAt *string
	if !a.DecidedAt.IsZero() {
		t := audit.FormatTime(a.DecidedAt)
		decidedAt = &t
	}

	_, err := s.pool.Exec(ctx,
		"INSERT INTO pending_approvals ("+approvalColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		storableText(a.ID), storableText(a.ChatID), storableText(a.ToolName), storableText(a.ToolCallID),
		storableText(string(a.Input)), string(a.Status), storableText(a.Reason),
		audit.FormatTime(a.CreatedAt), decidedAt)
	if sqlState(err) == "23505" {
		return fmt.Errorf("postgres: create approval %q: an approval with this id exists already; use a new id", a.ID)
	}
	if err != nil {
		return s.wrapError(fmt.Sprintf("create approval %q", a.ID), err)
	}
	return nil
}

// GetApproval returns the approval with id, or an error wrapping
// tools.ErrApprovalNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (tools.Approval, error) {
	if s.closed.Load() {
		return tools.Approval{}, ErrClosed
	}
	rows, err := s.pool.Query(ctx, "SELECT "+approvalColumns+" FROM pending_approvals WHERE id = $1", storableText(id))
	if err != nil {
		return tools.Approval{}, s.wrapError(fmt.Sprintf("get approval %q", id), err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanApproval)
	if errors.Is(err, pgx.ErrNoRows) {
		return tools.Approval{}, fmt.Errorf("postgres: get approval %q: %w", id, tools.ErrApprovalNotFound)
	}
	if err != nil {
		return tools.Approval{}, s.wrapError(fmt.Sprintf("get approval %q", id), err)
	}
	return a, nil
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
		args = append(args, storableText(f.ChatID))
		where = append(where, fmt.Sprintf("chat_id = $%d", len(args)))
	}
	if f.Status != "" {
		if err := checkApprovalStatus(f.Status, true); err != nil {
			return nil, fmt.Errorf("postgres: list approvals: %w", err)
		}
		args = append(args, string(f.Status))
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	query := "SELECT " + approvalColumns + " FROM pending_approvals"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created_at, id"

	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.wrapError("list approvals", err)
	}
	out, err := pgx.CollectRows(rows, scanApproval)
	if err != nil {
		return nil, s.wrapError("list approvals", err)
	}
	return out, nil
}

// DecideApproval moves the pending approval id to status, approved or
// denied, with reason and the decision time at (the current time when at is
// zero), and returns it as stored.
//
// One UPDATE both checks that the approval is pending and decides it. So of
// concurrent decisions, in this process or others, exactly one wins, and the
// others get an error wrapping tools.ErrAlreadyDecided. An unknown id gets
// an error wrapping tools.ErrApprovalNotFound.
func (s *Store) DecideApproval(ctx context.Context, id string, status tools.ApprovalStatus, reason string, at time.Time) (tools.Approval, error) {
	if s.closed.Load() {
		return tools.Approval{}, ErrClosed
	}
	if err := checkApprovalStatus(status, false); err != nil {
		return tools.Approval{}, fmt.Errorf("postgres: decide approval %q: %w", id, err)
	}
	if at.IsZero() {
		at = time.Now()
	}
	op := fmt.Sprintf("decide approval %q", id)

	rows, err := s.pool.Query(ctx,
		"UPDATE pending_approvals SET status = $2, reason = $3, decided_at = $4 WHERE id = $1 AND status = 'pending' RETURNING "+approvalColumns,
		storableText(id), string(status), storableText(reason), audit.FormatTime(at))
	if err != nil {
		return tools.Approval{}, s.wrapError(op, err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanApproval)
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return tools.Approval{}, s.wrapError(op, err)
	}

	// No pending row matched: the approval is unknown or decided already.
	var current string
	err = s.pool.QueryRow(ctx, "SELECT status FROM pending_approvals WHERE id = $1", storableText(id)).Scan(&current)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return tools.Approval{}, fmt.Errorf("postgres: %s: %w", op, tools.ErrApprovalNotFound)
	case err != nil:
		return tools.Approval{}, s.wrapError(op, err)
	}
	return tools.Approval{}, fmt.Errorf("postgres: %s: it is %s: %w", op, current, tools.ErrAlreadyDecided)
}

// checkApprovalStatus rejects a status the table does not take; pending
// is allowed only when pendingOK is set.
func checkApprovalStatus(status tools.ApprovalStatus, pendingOK bool) error {
	switch status {
	case tools.ApprovalApproved, tools.ApprovalDenied:
		return nil
	case tools.ApprovalPending:
		if pendingOK {
			return nil
		}
		return fmt.Errorf("status %q is not a decision; pass %q or %q", status, tools.ApprovalApproved, tools.ApprovalDenied)
	}
	if pendingOK {
		return fmt.Errorf("status %q is unknown; pass %q, %q or %q", status, tools.ApprovalPending, tools.ApprovalApproved, tools.ApprovalDenied)
	}
	return fmt.Errorf("status %q is unknown; pass %q or %q", status, tools.ApprovalApproved, tools.ApprovalDenied)
}

// scanApproval scans one row of approvalColumns.
func scanApproval(row pgx.CollectableRow) (tools.Approval, error) {
	var (
		a             tools.Approval
		input, status string
		createdAt     string
		decidedAt     *string
	)
	if err := row.Scan(&a.ID, &a.ChatID, &a.ToolName, &a.ToolCallID, &input, &status, &a.Reason, &createdAt, &decidedAt); err != nil {
		return tools.Approval{}, err
	}
	if input != "" {
		a.Input = []byte(input)
	}
	a.Status = tools.ApprovalStatus(status)

	var err error
	if a.CreatedAt, err = parseTime(createdAt); err != nil {
		return tools.Approval{}, fmt.Errorf("approval %q: created_at: %w", a.ID, err)
	}
	if decidedAt != nil {
		if a.DecidedAt, err = parseTime(*decidedAt); err != nil {
			return tools.Approval{}, fmt.Errorf("approval %q: decided_at: %w", a.ID, err)
		}
	}
	return a, nil
}
