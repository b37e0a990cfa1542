package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentaudit/agentaudit/audit"
)

// insertUnnestSQL inserts the rows of five parallel text arrays. One
// statement with five parameters serves every batch size, so pgx prepares
// it once per connection.
const insertUnnestSQL = `INSERT INTO audit_logs (id, type, chat_id, created_at, metadata)
SELECT id, type, chat_id, created_at, metadata::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(id, type, chat_id, created_at, metadata)
ON CONFLICT (id) DO NOTHING`

// stagingTable receives COPY for large batches. It is a temporary table,
// private to its connection, and emptied at each commit.
const stagingTable = "agentaudit_audit_logs_copy"

const createStagingSQL = `CREATE TEMPORARY TABLE IF NOT EXISTS ` + stagingTable + ` (
	id text, type text, chat_id text, created_at text, metadata text
) ON COMMIT DELETE ROWS`

const insertStagedSQL = `INSERT INTO audit_logs (id, type, chat_id, created_at, metadata)
SELECT id, type, chat_id, created_at, metadata::jsonb FROM pg_temp.` + stagingTable + `
ON CONFLICT (id) DO NOTHING`

var entryColumns = []string{"id", "type", "chat_id", "created_at", "metadata"}

// InsertEntries writes entries to audit_logs in one transaction, skipping
// those whose id is stored already. It does not retain entries.
//
// Batches of at least the copy threshold (WithCopyThreshold) go through
// COPY. Values PostgreSQL cannot hold are rewritten first, as the package
// documentation describes. When some entries are still rejected for their
// values, such as an unknown type or invalid JSON, InsertEntries writes the
// others and returns a *audit.RejectedError listing the rejected ids. A
// connection or server failure returns an error that a retry may cure; a
// missing table or failed login returns one wrapping *audit.PermanentError.
func (s *Store) InsertEntries(ctx context.Context, entries []audit.Entry) error {
	if s.closed.Load() {
		return audit.Permanent(ErrClosed)
	}

	rows, rejected := entryRows(entries)
	if len(rows.ids) > 0 {
		r, err := s.insertIsolating(ctx, rows)
		if err != nil {
			return s.wrapError("insert entries", err)
		}
		rejected = append(rejected, r...)
	}
	if len(rejected) == 0 {
		return nil
	}
	return &audit.RejectedError{Rejected: rejected}
}

// Entries returns the entries that match f, ordered by id. With f.Newest
// and a limit, they are the last f.Limit matching entries.
//
// Since and Until compare at millisecond precision, as created_at is
// stored: Since is inclusive and Until exclusive. Metadata comes back
// compacted, in jsonb's key order.
func (s *Store) Entries(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("postgres: read entries: limit %d is negative; pass 0 for no limit", f.Limit)
	}

	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.ChatID != "" {
		where = append(where, "chat_id = "+arg(storableText(f.ChatID)))
	}
	if f.Type != "" {
		where = append(where, "type = "+arg(string(f.Type)))
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= "+arg(audit.FormatTime(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < "+arg(audit.FormatTime(f.Until)))
	}
	query := "SELECT id, type, chat_id, created_at, metadata::text FROM audit_logs"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	newest := f.Newest && f.Limit > 0
	if newest {
		query += " ORDER BY id DESC"
	} else {
		query += " ORDER BY id"
	}
	if f.Limit > 0 {
		query += " LIMIT " + arg(f.Limit)
	}

	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.wrapError("read entries", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var (
			e         audit.Entry
			typ       string
			createdAt string
			metadata  []byte
		)
		if err := rows.Scan(&e.ID, &typ, &e.ChatID, &createdAt, &metadata); err != nil {
			return nil, s.wrapError("read entries", err)
		}
		e.Type = audit.EntryType(typ)
		if e.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, fmt.Errorf("postgres: read entry %q on %s: created_at: %w", e.ID, s.target, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, metadata); err != nil {
			return nil, fmt.Errorf("postgres: read entry %q on %s: metadata: %w", e.ID, s.target, err)
		}
		e.Metadata = compact.Bytes()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapError("read entries", err)
	}
	if newest {
		slices.Reverse(out)
	}
	return out, nil
}

// entryBatch holds a batch as parallel column arrays, already made
// storable, in the column order of entryColumns.
type entryBatch struct {
	ids, types, chatIDs, createdAts, metadata []string
}

func (b entryBatch) len() int { return len(b.ids) }

// slice returns rows i to j of b.
func (b entryBatch) slice(i, j int) entryBatch {
	return entryBatch{b.ids[i:j], b.types[i:j], b.chatIDs[i:j], b.createdAts[i:j], b.metadata[i:j]}
}

// entryRows converts entries to columns, rejecting those that no database
// could store: an empty id or empty metadata.
func entryRows(entries []audit.Entry) (entryBatch, []audit.Rejection) {
	n := len(entries)
	b := entryBatch{
		ids:        make([]string, 0, n),
		types:      make([]string, 0, n),
		chatIDs:    make([]string, 0, n),
		createdAts: make([]string, 0, n),
		metadata:   make([]string, 0, n),
	}
	var rejected []audit.Rejection
	for i := range entries {
		e := &entries[i]
		switch {
		case e.ID == "":
			rejected = append(rejected, audit.Rejection{ID: e.ID, Err: errors.New("postgres: entry id is empty; assign a UUIDv7")})
			continue
		case len(e.Metadata) == 0:
			rejected = append(rejected, audit.Rejection{ID: e.ID, Err: errors.New("postgres: entry metadata is empty; pass the JSON encoding of the payload")})
			continue
		}
		b.ids = append(b.ids, storableText(e.ID))
		b.types = append(b.types, storableText(string(e.Type)))
		b.chatIDs = append(b.chatIDs, storableText(e.ChatID))
		b.createdAts = append(b.createdAts, audit.FormatTime(e.CreatedAt))
		b.metadata = append(b.metadata, storableJSON(e.Metadata))
	}
	return b, rejected
}

// insertIsolating inserts b. When the server rejects the batch for a row's
// values, it splits the batch in halves and inserts each, down to single
// rows. So every good row is written, and k bad rows among n cost at most
// about 2k·log2(n) statements. It returns the rows rejected alone. Any other
// error ends the work and is returned. The rows written before it stay, and
// a retry of the whole batch skips them by id.
func (s *Store) insertIsolating(ctx context.Context, b entryBatch) ([]audit.Rejection, error) {
	err := s.insertBatch(ctx, b)
	if err == nil {
		return nil, nil
	}
	if classify(err) != kindRow {
		return nil, err
	}
	if b.len() == 1 {
		return []audit.Rejection{{
			ID:  b.ids[0],
			Err: fmt.Errorf("postgres: insert entry %q (type %q) on %s: %w", b.ids[0], b.types[0], s.target, err),
		}}, nil
	}

	mid := b.len() / 2
	left, err := s.insertIsolating(ctx, b.slice(0, mid))
	if err != nil {
		return nil, err
	}
	right, err := s.insertIsolating(ctx, b.slice(mid, b.len()))
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

// insertBatch inserts b in one transaction, by COPY from the copy
// threshold up and by one INSERT below it.
func (s *Store) insertBatch(ctx context.Context, b entryBatch) error {
	if b.len() < s.opts.copyThreshold {
		_, err := s.pool.Exec(ctx, insertUnnestSQL, b.ids, b.types, b.chatIDs, b.createdAts, b.metadata)
		return err
	}
	return s.copyBatch(ctx, b)
}

// copyBatch inserts b through COPY into the staging table, in three round
// trips: BEGIN with the staging table's creation, COPY, then INSERT with
// COMMIT. The simple query protocol sends each pair as one message.
func (s *Store) copyBatch(ctx context.Context, b entryBatch) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()

	committed := false
	defer func() {
		if committed {
			return
		}
		// The rollback must run even when ctx has ended; if it fails, the
		// pool drops the connection because it is still in a transaction.
		rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(rollbackCtx, "ROLLBACK")
	}()

	if _, err := conn.Exec(ctx, "BEGIN; "+createStagingSQL); err != nil {
		return err
	}
	src := pgx.CopyFromSlice(b.len(), func(i int) ([]any, error) {
		return []any{b.ids[i], b.types[i], b.chatIDs[i], b.createdAts[i], b.metadata[i]}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"pg_temp", stagingTable}, entryColumns, src); err != nil {
		return err
	}
	// When the INSERT fails, the server skips the COMMIT after it and the
	// deferred ROLLBACK ends the transaction.
	if _, err := conn.Exec(ctx, insertStagedSQL+"; COMMIT"); err != nil {
		return err
	}
	committed = true
	return nil
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
