package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/tools"
)

const approvalColumns = "id, chat_id, tool_name, tool_call_id, input, status, reason, created_at, decided_at"

// CreateApproval stores a. An empty Status is stored as pending and a zero
// CreatedAt as the current time. It returns an error when an approval with
// a.ID exists already.
func (s *Store) CreateApproval(ctx context.Context, a tools.Approval) error {
	if err := s.checkWrite("create approval"); err != nil {
		return err
	}
	if a.ID == "" {
		return errors.New("sqlite: create approval: id is empty; assign a unique id")
	}
	if a.Status == "" {
		a.Status = tools.ApprovalPending
	}
	if err := checkStatus(a.Status, true); err != nil {
		return fmt.Errorf("sqlite: create approval %q: %w", a.ID, err)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	var decidedAt any
	if !a.DecidedAt.IsZero() {
		decidedAt = audit.FormatTime(a.DecidedAt)
	}
	if err := s.checkFile(); err != nil {
		return err
	}

	_, err := s.writer.ExecContext(ctx,
		"INSERT INTO pending_approvals ("+approvalColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.ID, a.ChatID, a.ToolName, a.ToolCallID, string(a.Input), string(a.Status), a.Reason,
		audit.FormatTime(a.CreatedAt), decidedAt)
	if isDuplicateKey(err) {
		return fmt.Errorf("sqlite: create approval %q: an approval with this id exists; assign a unique id: %w", a.ID, err)
	}
	if err != nil {
		return dbError(s.path, fmt.Sprintf("create approval %q", a.ID), err)
	}
	return nil
}

// GetApproval returns the approval with id, or tools.ErrApprovalNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (tools.Approval, error) {
	if s.closed.Load() {
		return tools.Approval{}, ErrClosed
	}
	row := s.reader.QueryRowContext(ctx, "SELECT "+approvalColumns+" FROM pending_approvals WHERE id = ?", id)
	a, err := scanApproval(row)
	if errors.Is(err, sql.ErrNoRows) {
		return tools.Approval{}, fmt.Errorf("sqlite: get approval %q: %w", id, tools.ErrApprovalNotFound)
	}
	if err != nil {
		return tools.Approval{}, dbError(s.path, fmt.Sprintf("get approval %q", id), err)
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

	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(s.path, "list approvals", err)
	}
	defer rows.Close()
	var out []tools.Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, dbError(s.path, "list approvals", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(s.path, "list approvals", err)
	}
	return out, nil
}

// DecideApproval moves the pending approval id to status, approved or
// denied, with reason and the decision time at (the current time when
// zero), and returns the updated approval. Of two concurrent decisions one
// wins and the other returns tools.ErrAlreadyDecided; an unknown id returns
// tools.ErrApprovalNotFound.
func (s *Store) DecideApproval(ctx context.Context, id string, status tools.ApprovalStatus, reason string, at time.Time) (tools.Approval, error) {
	if err := s.checkWrite("decide approval"); err != nil {
		return tools.Approval{}, err
	}
	if err := checkStatus(status, false); err != nil {
		return tools.Approval{}, fmt.Errorf("sqlite: decide approval %q: %w", id, err)
	}
	if at.IsZero() {
		at = time.Now()
	}
	op := fmt.Sprintf("decide approval %q", id)
	if err := s.checkFile(); err != nil {
		return tools.Approval{}, err
	}

	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return tools.Approval{}, dbError(s.path, op, err)
	}
	defer tx.Rollback() // a no-op after Commit

	// The status condition makes the update the arbiter: a second decision
	// finds no pending row, whatever the interleaving.
	row := tx.QueryRowContext(ctx,
		"UPDATE pending_approvals SET status = ?, reason = ?, decided_at = ? WHERE id = ? AND status = 'pending' RETURNING "+approvalColumns,
		string(status), reason, audit.FormatTime(at), id)
	a, err := scanApproval(row)
	if errors.Is(err, sql.ErrNoRows) {
		var current string
		err := tx.QueryRowContext(ctx, "SELECT status FROM pending_approvals WHERE id = ?", id).Scan(&current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return tools.Approval{}, fmt.Errorf("sqlite: %s: %w", op, tools.ErrApprovalNotFound)
		case err != nil:
			return tools.Approval{}, dbError(s.path, op, err)
		}
		return tools.Approval{}, fmt.Errorf("sqlite: %s: status is %s: %w", op, current, tools.ErrAlreadyDecided)
	}
	if err != nil {
		return tools.Approval{}, dbError(s.path, op, err)
	}
	if err := tx.Commit(); err != nil {
		return tools.Approval{}, dbError(s.path, op, err)
	}
	return a, nil
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

type rowScanner interface {
	Scan(dest ...any) error
}

func scanApproval(row rowScanner) (tools.Approval, error) {
	var (
		a         tools.Approval
		input     string
		status    string
		createdAt string
		decidedAt sql.NullString
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
	if decidedAt.Valid && decidedAt.String != "" {
		if a.DecidedAt, err = parseTime(decidedAt.String); err != nil {
			return tools.Approval{}, fmt.Errorf("approval %q: decided_at: %w", a.ID, err)
		}
	}
	return a, nil
}
