package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// maxChunkSizes is the number of distinct INSERT statements a Store
// prepares: one for each power of two from 1 to maxRowsPerInsert rows.
const maxChunkSizes = 10

// maxRowsPerInsert caps the rows of one INSERT statement. SQLite allows
// 32,766 bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since
// 3.32.0), which is 6,553 rows of 5 columns. Measured on 2 cores, a
// 1,024-row statement cost within 5% of the CPU time per row of a 256-row
// one, so larger statements gain nothing.
const maxRowsPerInsert = 1 << (maxChunkSizes - 1)

const entryColumns = 5

// InsertEntries writes entries to audit_logs in one transaction, skipping
// those whose id is stored already. It does not retain entries.
//
// When some entries violate a table constraint, such as an unknown type,
// InsertEntries writes the others and returns a *audit.RejectedError that
// lists the rejected ids. A locked, full or read-only database returns an
// error that a retry may cure; a corrupt one returns an error wrapping
// *audit.PermanentError.
func (s *Store) InsertEntries(ctx context.Context, entries []audit.Entry) error {
	if err := s.checkWrite("insert entries"); err != nil {
		return err
	}

	valid, rejected := checkEntries(entries)
	if len(valid) == 0 {
		return rejectedError(rejected)
	}
	if err := s.checkFile(); err != nil {
		return err
	}

	// The statements are prepared before the transaction takes the only
	// writer connection, which preparing on the pool would wait for.
	var stmts [maxChunkSizes]*sql.Stmt
	for rest := len(valid); rest > 0; {
		n := chunkRows(rest)
		rest -= n
		if err := s.prepareInsert(ctx, &stmts, n); err != nil {
			return err
		}
	}

	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return dbError(s.path, "insert entries", err)
	}
	defer tx.Rollback() // a no-op after Commit

	args := make([]any, 0, entryColumns*min(len(valid), maxRowsPerInsert))
	for rest := valid; len(rest) > 0; {
		n := chunkRows(len(rest))
		chunk := rest[:n]
		rest = rest[n:]

		stmt := stmts[bits.Len(uint(n))-1]
		args = appendEntryArgs(args[:0], chunk)
		_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
		if err == nil {
			continue
		}
		if !isRowError(err) {
			return dbError(s.path, "insert entries", err)
		}

		// A failed statement is rolled back on its own and leaves the
		// transaction open, so the chunk's rows can be tried one by one.
		r, err := s.insertEachEntry(ctx, tx, chunk)
		if err != nil {
			return err
		}
		rejected = append(rejected, r...)
	}

	if err := tx.Commit(); err != nil {
		return dbError(s.path, "insert entries", err)
	}
	return rejectedError(rejected)
}

// Entries returns the entries that match f, ordered by id. With f.Newest
// and a limit, they are the last f.Limit matching entries.
//
// Since and Until compare at millisecond precision, as created_at is
// stored: Since is inclusive and Until exclusive.
func (s *Store) Entries(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("sqlite: read entries: limit %d is negative; pass 0 for no limit", f.Limit)
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
	query := "SELECT id, type, chat_id, created_at, metadata FROM audit_logs"
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
		query += " LIMIT ?"
		args = append(args, f.Limit)
	}

	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(s.path, "read entries", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var (
			e         audit.Entry
			typ       string
			createdAt string
			metadata  string
		)
		if err := rows.Scan(&e.ID, &typ, &e.ChatID, &createdAt, &metadata); err != nil {
			return nil, dbError(s.path, "read entries", err)
		}
		e.Type = audit.EntryType(typ)
		e.Metadata = []byte(metadata)
		if e.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, fmt.Errorf("sqlite: read entry %q from %q: created_at: %w", e.ID, s.path, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(s.path, "read entries", err)
	}
	if newest {
		slices.Reverse(out)
	}
	return out, nil
}

var (
	errEmptyID       = errors.New("sqlite: entry id is empty; assign a UUIDv7")
	errEmptyMetadata = errors.New("sqlite: entry metadata is empty; pass the JSON encoding of the payload")
)

// checkEntries splits entries into those the table can take and rejections
// for those whose empty id or metadata SQLite's constraints would accept.
// A batch without rejections is returned as it is.
func checkEntries(entries []audit.Entry) (valid []audit.Entry, rejected []audit.Rejection) {
	for _, e := range entries {
		if err := checkEntry(e); err != nil {
			rejected = append(rejected, audit.Rejection{ID: e.ID, Err: err})
		}
	}
	if rejected == nil {
		return entries, nil
	}

	valid = make([]audit.Entry, 0, len(entries)-len(rejected))
	for _, e := range entries {
		if checkEntry(e) == nil {
			valid = append(valid, e)
		}
	}
	return valid, rejected
}

func checkEntry(e audit.Entry) error {
	switch {
	case e.ID == "":
		return errEmptyID
	case len(e.Metadata) == 0:
		return errEmptyMetadata
	}
	return nil
}

// insertEachEntry inserts chunk one row at a time inside tx, each in its own
// savepoint, and returns the rows that SQLite rejected.
func (s *Store) insertEachEntry(ctx context.Context, tx *sql.Tx, chunk []audit.Entry) ([]audit.Rejection, error) {
	// This path is rare, so its statement is prepared on the transaction and
	// not cached.
	stmt, err := tx.PrepareContext(ctx, insertSQL(1))
	if err != nil {
		return nil, dbError(s.path, "insert entries", err)
	}
	defer stmt.Close()

	var rejected []audit.Rejection
	args := make([]any, 0, entryColumns)
	for _, e := range chunk {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT entry"); err != nil {
			return nil, dbError(s.path, "insert entries", err)
		}
		_, insertErr := stmt.ExecContext(ctx, appendEntryArgs(args[:0], []audit.Entry{e})...)
		if insertErr != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO entry"); err != nil {
				return nil, dbError(s.path, "insert entries", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE entry"); err != nil {
			return nil, dbError(s.path, "insert entries", err)
		}

		switch {
		case insertErr == nil:
		case isRowError(insertErr):
			rejected = append(rejected, audit.Rejection{
				ID:  e.ID,
				Err: fmt.Errorf("sqlite: insert entry %q (type %q): %w", e.ID, e.Type, insertErr),
			})
		default:
			return nil, dbError(s.path, "insert entries", insertErr)
		}
	}
	return rejected, nil
}

// prepareInsert stores in stmts the INSERT statement for n rows, a power
// of two, from the Store's cache, preparing it on the writer connection
// the first time. It must not be called inside a write transaction.
func (s *Store) prepareInsert(ctx context.Context, stmts *[maxChunkSizes]*sql.Stmt, n int) error {
	i := bits.Len(uint(n)) - 1
	if stmts[i] != nil {
		return nil
	}

	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.insertStmts[n]; ok {
		stmts[i] = st
		return nil
	}
	if s.closed.Load() {
		return ErrClosed
	}
	st, err := s.writer.PrepareContext(ctx, insertSQL(n))
	if err != nil {
		return dbError(s.path, "prepare insert", err)
	}
	s.insertStmts[n] = st
	stmts[i] = st
	return nil
}

// insertSQL returns the multi-row INSERT statement for n rows. The metadata
// is bound as a BLOB, which saves copying it into a string, and CAST
// stores it as TEXT.
func insertSQL(n int) string {
	const head = "INSERT INTO audit_logs (id, type, chat_id, created_at, metadata) VALUES "
	const row = "(?, ?, ?, ?, CAST(? AS TEXT))"
	const tail = " ON CONFLICT (id) DO NOTHING"

	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+1) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// chunkRows returns the rows of the next INSERT for n remaining rows: the
// largest power of two not above n or maxRowsPerInsert. Chunks of powers of
// two keep the statement cache at a few entries whatever the batch sizes.
func chunkRows(n int) int {
	n = min(n, maxRowsPerInsert)
	return 1 << (bits.Len(uint(n)) - 1)
}

// The entry types as interface values, so that binding them allocates
// nothing.
var (
	boxedLLMCall       any = string(audit.TypeLLMCall)
	boxedToolExecution any = string(audit.TypeToolExecution)
)

// appendEntryArgs appends the bound parameters of entries to args, in the
// column order of insertSQL. Entries of one batch mostly share their chat
// and often their millisecond, so a value equal to the previous row's is
// bound from the same interface value rather than converted again.
func appendEntryArgs(args []any, entries []audit.Entry) []any {
	var (
		chatID    string
		boxedChat any
		millis    int64
		boxedTime any
	)
	for i := range entries {
		e := &entries[i]

		var typ any
		switch e.Type {
		case audit.TypeLLMCall:
			typ = boxedLLMCall
		case audit.TypeToolExecution:
			typ = boxedToolExecution
		default:
			typ = string(e.Type)
		}
		if boxedChat == nil || e.ChatID != chatID {
			chatID, boxedChat = e.ChatID, e.ChatID
		}
		if ms := e.CreatedAt.UnixMilli(); boxedTime == nil || ms != millis {
			millis, boxedTime = ms, audit.FormatTime(e.CreatedAt)
		}
		args = append(args, e.ID, typ, boxedChat, boxedTime, []byte(e.Metadata))
	}
	return args
}

func rejectedError(rejected []audit.Rejection) error {
	if len(rejected) == 0 {
		return nil
	}
	return &audit.RejectedError{Rejected: rejected}
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
