package audit

import (
	"encoding/json"
	"time"
)

// EntryType is the value of the audit_logs.type column.
type EntryType string

// The entry types of the audit_logs table.
const (
	TypeLLMCall       EntryType = "llm_call"
	TypeToolExecution EntryType = "tool_execution"
)

// Status is the outcome recorded in an entry's metadata.
type Status string

// The statuses an entry can record.
const (
	StatusSuccess Status = "success"
	StatusError   Status = "error"
)

// Metadata is the typed payload of one entry: *LLMCall or *ToolExecution.
type Metadata interface {
	// EntryType returns the value stored in the type column.
	EntryType() EntryType
	// Validate reports the first invalid field, naming it.
	Validate() error
}

// Entry is one row of the audit_logs table as a Store writes and reads it.
type Entry struct {
	// ID is a UUIDv7 in its canonical text form. Stores insert idempotently
	// on it: writing an entry whose ID exists already is not an error.
	ID string
	// Type discriminates the metadata payload.
	Type EntryType
	// ChatID correlates the entry with its conversation; it may be empty.
	ChatID string
	// CreatedAt is the writer's clock when Log was called, in UTC.
	CreatedAt time.Time
	// Metadata is the JSON encoding of the typed payload, valid UTF-8.
	Metadata json.RawMessage
}

// TimeFormat formats created_at like JavaScript's Date.toISOString:
// UTC, millisecond precision, a literal Z.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime returns t in TimeFormat.
func FormatTime(t time.Time) string {
	return t.UTC().Format(TimeFormat)
}
