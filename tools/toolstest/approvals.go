// Package toolstest provides an in-memory ApprovalStore for tests of code
// that uses the tools package.
package toolstest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/agentaudit/agentaudit/tools"
)

// Approvals is an in-memory tools.ApprovalStore that records how often each
// method was called. The zero value is ready to use and safe for concurrent
// use.
type Approvals struct {
	mu    sync.Mutex
	rows  map[string]tools.Approval
	order []string

	// CreateErr, when set, is returned by CreateApproval, which then stores
	// nothing.
	CreateErr error
	Creates   int
	Decisions int
}

var _ tools.ApprovalStore = (*Approvals)(nil)

// CreateApproval stores a, rejecting a duplicate id.
func (s *Approvals) CreateApproval(ctx context.Context, a tools.Approval) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Creates++
	if s.CreateErr != nil {
		return s.CreateErr
	}
	if s.rows == nil {
		s.rows = map[string]tools.Approval{}
	}
	if _, ok := s.rows[a.ID]; ok {
		return fmt.Errorf("toolstest: approval %q exists already", a.ID)
	}
	a.Input = append([]byte(nil), a.Input...)
	s.rows[a.ID] = a
	s.order = append(s.order, a.ID)
	return nil
}

// GetApproval returns the approval with id or tools.ErrApprovalNotFound.
func (s *Approvals) GetApproval(ctx context.Context, id string) (tools.Approval, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.rows[id]
	if !ok {
		return tools.Approval{}, tools.ErrApprovalNotFound
	}
	return a, nil
}

// ListApprovals returns the approvals that match f in creation order.
func (s *Approvals) ListApprovals(ctx context.Context, f tools.ApprovalFilter) ([]tools.Approval, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tools.Approval
	for _, id := range s.order {
		a := s.rows[id]
		if f.ChatID != "" && a.ChatID != f.ChatID {
			continue
		}
		if f.Status != "" && a.Status != f.Status {
			continue
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// DecideApproval moves a pending approval to status.
func (s *Approvals) DecideApproval(ctx context.Context, id string, status tools.ApprovalStatus, reason string, at time.Time) (tools.Approval, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Decisions++
	a, ok := s.rows[id]
	if !ok {
		return tools.Approval{}, tools.ErrApprovalNotFound
	}
	if a.Status != tools.ApprovalPending {
		return tools.Approval{}, tools.ErrAlreadyDecided
	}
	a.Status = status
	a.Reason = reason
	a.DecidedAt = at
	s.rows[id] = a
	return a, nil
}
