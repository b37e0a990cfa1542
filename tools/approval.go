package tools

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ApprovalStatus is the state of a pending approval.
type ApprovalStatus string

// The states of an approval.
const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalDenied   ApprovalStatus = "denied"
)

// Approval is a high-risk tool call waiting for, or past, a human decision;
// one row of the pending_approvals table.
type Approval struct {
	ID         string
	ChatID     string
	ToolName   string
	ToolCallID string
	// Input is the tool's arguments as the model sent them.
	Input     json.RawMessage
	Status    ApprovalStatus
	Reason    string
	CreatedAt time.Time
	// DecidedAt is zero while the approval is pending.
	DecidedAt time.Time
}

// ApprovalFilter selects approvals; zero fields do not filter.
type ApprovalFilter struct {
	ChatID string
	Status ApprovalStatus
}

// ErrApprovalNotFound is returned by ApprovalStore methods for an unknown id.
var ErrApprovalNotFound = errors.New("tools: approval not found")

// ErrAlreadyDecided is returned by DecideApproval for an approval that is
// no longer pending.
var ErrAlreadyDecided = errors.New("tools: approval already decided")

// ApprovalStore keeps approvals in the database. Implementations must be
// safe for concurrent use.
type ApprovalStore interface {
	CreateApproval(ctx context.Context, a Approval) error
	GetApproval(ctx context.Context, id string) (Approval, error)
	ListApprovals(ctx context.Context, f ApprovalFilter) ([]Approval, error)
	// DecideApproval moves a pending approval to status, approved or denied,
	// atomically: of two concurrent decisions one wins and the other gets
	// ErrAlreadyDecided.
	DecideApproval(ctx context.Context, id string, status ApprovalStatus, reason string, at time.Time) (Approval, error)
}
