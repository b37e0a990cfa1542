package d1

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// D1's limits that the store plans its writes around, from Cloudflare's D1
// limits page and checked against wrangler's local engine.
const (
	// MaxBoundParameters is the number of ? parameters one statement may
	// bind.
	MaxBoundParameters = 100
	// MaxStatementBytes is the length of one statement's SQL text. The
	// local engine counts the text alone, not the bound values.
	MaxStatementBytes = 100_000
	// MaxRowBytes is the size of one string, BLOB or row.
	MaxRowBytes = 2_000_000
	// RowsPerInsert is the number of rows of one multi-row INSERT into
	// audit_logs: MaxBoundParameters over its 5 columns.
	RowsPerInsert = MaxBoundParameters / entryColumns
)

const (
	entryColumns = 5

	// maxRowBytes is the largest entry the store sends: MaxRowBytes less
	// room for SQLite's record header.
	maxRowBytes = MaxRowBytes - 1024

	// maxGroupedParamBytes caps the bound values of a multi-row INSERT. A
	// row larger than that is inserted by a statement of its own, so that
	// the statement stays under MaxStatementBytes even if the remote API
	// counted bound values, which the local engine does not.
	maxGroupedParamBytes = 90_000

	// maxStatementsPerRequest caps the statements of one batch request.
	// NOTE: Cloudflare documents no such cap for the REST API; 50 is the
	// Workers Free plan's query limit per invocation, the tighter of the
	// two plans, in case the API applies it.
	maxStatementsPerRequest = 50

	// maxRequestBytes closes a batch request once its body reaches this
	// size; one statement may take it past. NOTE: Cloudflare documents no
	// body limit for the query endpoint, so 8 MiB is an estimate.
	maxRequestBytes = 8 << 20

	// entriesPageSize is the number of rows one SELECT of Entries returns,
	// far below D1's 50 MB result limit for rows of typical size.
	entriesPageSize = 1000
)

// insertSQL holds the multi-row INSERT statements by row count, 1 to
// RowsPerInsert.
var insertSQL = func() [RowsPerInsert + 1]string {
	var out [RowsPerInsert + 1]string
	for n := 1; n <= RowsPerInsert; n++ {
		var b strings.Builder
		b.WriteString("INSERT INTO audit_logs (id, type, chat_id, created_at, metadata) VALUES ")
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, ?)")
		}
		b.WriteString(" ON CONFLICT (id) DO NOTHING")
		out[n] = b.String()
	}
	return out
}()

// InsertEntries writes entries to audit_logs, skipping those whose id is
// stored already, with one batch request per maxStatementsPerRequest
// INSERT statements of up to RowsPerInsert rows each. Each request is a
// transaction of its own. It does not retain entries.
//
// Entries that D1 cannot take are rejected and the others written. An
// entry larger than MaxRowBytes is rejected before sending. When D1
// rejects a request for a row's values, such as an unknown type, the
// request's rows are sent again in halves, down to single rows, to find
// the rejected ones. InsertEntries then returns a *audit.RejectedError
// that names them. A rejected token returns an error wrapping
// *audit.PermanentError; transient failures that outlast the Client's
// retries return an error the Logger may retry, which is safe because the
// inserts are idempotent.
func (s *Store) InsertEntries(ctx context.Context, entries []audit.Entry) error {
	if s.closed.Load() {
		return ErrClosed
	}
	valid, rejected := s.checkEntries(entries)
	more, err := s.insertRows(ctx, valid)
	rejected = append(rejected, more...)
	if err != nil {
		return fmt.Errorf("d1: insert %d entries into %s: %w", len(entries), s.DSN(), err)
	}
	if len(rejected) > 0 {
		return &audit.RejectedError{Rejected: rejected}
	}
	return nil
}

// Entries returns the entries that match f, ordered by id, reading
// entriesPageSize rows per request. With f.Newest and a limit, they are the
// last f.Limit matching entries, read newest first and returned in id order.
//
// Since and Until compare at millisecond precision, as created_at is
// stored: Since is inclusive and Until exclusive.
func (s *Store) Entries(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("d1: read entries: limit %d is negative; pass 0 for no limit", f.Limit)
	}

	var (
		where []string
		args  []any
	)
	if f.ChatID != "" {
		where = append(where, "chat_id = ?")
		args = append(args, f.ChatID)
	}
	if f.Type != "" {
		where = append(where, "type = ?")
		args = append(args, string(f.Type))
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, audit.FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, audit.FormatTime(f.Until))
	}

	// Pages follow each other by id: upward from the oldest, or downward
	// from the newest for f.Newest, whose result is reversed at the end.
	newest := f.Newest && f.Limit > 0
	cursor, order := "id > ?", "id"
	if newest {
		cursor, order = "id < ?", "id DESC"
	}

	var out []audit.Entry
	lastID := ""
	for {
		page := entriesPageSize
		if f.Limit > 0 {
			page = min(page, f.Limit-len(out))
		}
		conds, params := where, args
		if lastID != "" {
			conds = append(conds[:len(conds):len(conds)], cursor)
			params = append(params[:len(params):len(params)], lastID)
		}
		query := "SELECT id, type, chat_id, created_at, metadata FROM audit_logs"
		if len(conds) > 0 {
			query += " WHERE " + strings.Join(conds, " AND ")
		}
		query += " ORDER BY " + order + " LIMIT ?"
		params = append(params[:len(params):len(params)], page)

		res, err := s.client.Query(ctx, query, params...)
		if err != nil {
			return nil, fmt.Errorf("d1: read entries from %s: %w", s.DSN(), err)
		}
		var rows []struct {
			ID        string `json:"id"`
			Type      string `json:"type"`
			ChatID    string `json:"chat_id"`
			CreatedAt string `json:"created_at"`
			Metadata  string `json:"metadata"`
		}
		if err := res.Decode(&rows); err != nil {
			return nil, fmt.Errorf("d1: read entries from %s: %w", s.DSN(), err)
		}
		for _, r := range rows {
			created, err := parseTime(r.CreatedAt)
			if err != nil {
				return nil, fmt.Errorf("d1: read entry %q from %s: created_at: %w", r.ID, s.DSN(), err)
			}
			out = append(out, audit.Entry{
				ID:        r.ID,
				Type:      audit.EntryType(r.Type),
				ChatID:    r.ChatID,
				CreatedAt: created,
				Metadata:  []byte(r.Metadata),
			})
		}

		if len(rows) < page || (f.Limit > 0 && len(out) >= f.Limit) {
			if newest {
				slices.Reverse(out)
			}
			return out, nil
		}
		lastID = rows[len(rows)-1].ID
	}
}

var (
	errEmptyID       = errors.New("d1: entry id is empty; assign a UUIDv7")
	errEmptyMetadata = errors.New("d1: entry metadata is empty; pass the JSON encoding of the payload")
)

// checkEntries splits entries into those D1 can take and rejections for
// those it cannot: an empty id or metadata, or a row over D1's size limit.
// A batch without rejections is returned as it is.
func (s *Store) checkEntries(entries []audit.Entry) (valid []audit.Entry, rejected []audit.Rejection) {
	for _, e := range entries {
		if err := s.checkEntry(e); err != nil {
			rejected = append(rejected, audit.Rejection{ID: e.ID, Err: err})
		}
	}
	if rejected == nil {
		return entries, nil
	}
	valid = make([]audit.Entry, 0, len(entries)-len(rejected))
	for _, e := range entries {
		if s.checkEntry(e) == nil {
			valid = append(valid, e)
		}
	}
	return valid, rejected
}

func (s *Store) checkEntry(e audit.Entry) error {
	switch {
	case e.ID == "":
		return errEmptyID
	case len(e.Metadata) == 0:
		return errEmptyMetadata
	}
	if size := rowBytes(e); size > s.cfg.maxRowBytes {
		return fmt.Errorf("d1: entry %q (type %q) is %d bytes, over D1's limit of %d bytes per row; shorten the longest metadata field, such as an error text", e.ID, e.Type, size, MaxRowBytes)
	}
	return nil
}

// rowBytes returns the size of e's column values as SQLite stores them.
func rowBytes(e audit.Entry) int {
	return len(e.ID) + len(e.Type) + len(e.ChatID) + len(audit.TimeFormat) + len(e.Metadata)
}

// insertRows writes entries in as few requests as D1's limits allow. When
// D1 rejects a request for a row's values, it writes the request's rows
// again in two halves, down to single rows, and returns the rows rejected
// alone. Any other failure stops it; the requests before it are written.
func (s *Store) insertRows(ctx context.Context, entries []audit.Entry) ([]audit.Rejection, error) {
	var rejected []audit.Rejection
	for _, req := range planRequests(entries) {
		_, err := s.client.send(ctx, req.body, retryAll)
		if err == nil {
			continue
		}
		if !isRowError(err) {
			return rejected, err
		}

		if len(req.entries) == 1 {
			e := req.entries[0]
			rejected = append(rejected, audit.Rejection{
				ID:  e.ID,
				Err: fmt.Errorf("d1: insert entry %q (type %q): %w", e.ID, e.Type, err),
			})
			continue
		}
		half := len(req.entries) / 2
		for _, part := range [][]audit.Entry{req.entries[:half], req.entries[half:]} {
			r, err := s.insertRows(ctx, part)
			rejected = append(rejected, r...)
			if err != nil {
				return rejected, err
			}
		}
	}
	return rejected, nil
}

// insertRequest is one batch request body and the entries it writes.
type insertRequest struct {
	body       []byte
	entries    []audit.Entry
	statements int
}

// planRequests groups entries into INSERT statements of up to
// RowsPerInsert rows, a row larger than maxGroupedParamBytes alone, and the
// statements into requests of up to maxStatementsPerRequest statements or
// maxRequestBytes.
func planRequests(entries []audit.Entry) []insertRequest {
	var (
		reqs       []insertRequest
		body       batchBody
		reqStart   int
		stmtStart  int
		stmtParams int
	)
	closeRequest := func(end int) {
		if body.count == 0 {
			return
		}
		reqs = append(reqs, insertRequest{body: body.bytes(), entries: entries[reqStart:end], statements: body.count})
		body = batchBody{}
		reqStart = end
	}
	closeStatement := func(end int) {
		if end == stmtStart {
			return
		}
		rows := entries[stmtStart:end]
		params := make([]any, 0, entryColumns*len(rows))
		for i := range rows {
			e := &rows[i]
			params = append(params, e.ID, string(e.Type), e.ChatID, audit.FormatTime(e.CreatedAt), string(e.Metadata))
		}
		// Every parameter is a Go string, which encoding/json encodes
		// without error, so add cannot fail here.
		_ = body.add(Statement{SQL: insertSQL[len(rows)], Params: params})
		stmtStart, stmtParams = end, 0
		if body.count >= maxStatementsPerRequest || body.size() >= maxRequestBytes {
			closeRequest(end)
		}
	}

	for i, e := range entries {
		size := rowBytes(e)
		rows := i - stmtStart
		if rows == RowsPerInsert || (rows > 0 && stmtParams+size > maxGroupedParamBytes) {
			closeStatement(i)
		}
		stmtParams += size
	}
	closeStatement(len(entries))
	closeRequest(len(entries))
	return reqs
}

// parseTime parses a created_at or decided_at column: audit.TimeFormat as
// this project writes it, or RFC 3339 as other writers may.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(audit.TimeFormat, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a timestamp like %s", s, audit.TimeFormat)
	}
	return t.UTC(), nil
}
