package d1

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		name         string
		dsn          string
		wantAccount  string
		wantDatabase string
		wantErr      string
	}{
		{"valid", "d1://" + testAccount + "/" + testDatabase, testAccount, testDatabase, ""},
		{"upper case scheme", "D1://" + testAccount + "/" + testDatabase, testAccount, testDatabase, ""},
		{"trailing slash", "d1://" + testAccount + "/" + testDatabase + "/", testAccount, testDatabase, ""},
		{"other scheme", "sqlite://x", "", "", `"sqlite://x" does not start with d1://`},
		{"no database", "d1://" + testAccount, "", "", "is not of the form d1://ACCOUNT_ID/DATABASE_ID"},
		{"extra path", "d1://" + testAccount + "/" + testDatabase + "/x", "", "", "is not of the form"},
		{"swapped", "d1://" + testDatabase + "/" + testAccount, "", "", "is not 32 hexadecimal digits"},
		{"database name", "d1://" + testAccount + "/agentaudit", "", "", `database id "agentaudit" is not a UUID`},
		{"token in query", "d1://" + testAccount + "/" + testDatabase + "?api_token=hunter2", "", "", "API token in CLOUDFLARE_API_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			account, database, err := ParseDSN(tt.dsn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDSN(%q) = %v, want an error containing %q", tt.dsn, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("ParseDSN(%q) error %q contains the query's token", tt.dsn, err)
				}
				return
			}
			if err != nil || account != tt.wantAccount || database != tt.wantDatabase {
				t.Errorf("ParseDSN(%q) = %q, %q, %v; want %q, %q, nil", tt.dsn, account, database, err, tt.wantAccount, tt.wantDatabase)
			}
		})
	}
}

// plannedBatch is one request body as planRequests encodes it.
type plannedBatch struct {
	Batch []struct {
		SQL    string `json:"sql"`
		Params []any  `json:"params"`
	} `json:"batch"`
}

func testEntries(n, metadataBytes int) []audit.Entry {
	entries := make([]audit.Entry, n)
	for i := range entries {
		meta := fmt.Sprintf(`{"toolName":"t","pad":"%s"}`, strings.Repeat("x", max(metadataBytes-25, 0)))
		entries[i] = audit.Entry{
			ID:        fmt.Sprintf("0190c6f0-0000-7000-8000-%012d", i),
			Type:      audit.TypeToolExecution,
			ChatID:    "chat",
			CreatedAt: time.Date(2026, 12, 4, 19, 16, 50, 123e6, time.UTC),
			Metadata:  json.RawMessage(meta),
		}
	}
	return entries
}

func TestPlanRequestsStaysWithinLimits(t *testing.T) {
	tests := []struct {
		name          string
		entries       []audit.Entry
		wantRequests  int
		wantStmtsLast int
	}{
		{"one entry", testEntries(1, 200), 1, 1},
		{"20 entries fill one statement", testEntries(20, 200), 1, 1},
		{"21 entries need two", testEntries(21, 200), 1, 2},
		{"500 entries in one request", testEntries(500, 200), 1, 25},
		{"1,000 entries", testEntries(1000, 200), 1, 50},
		{"1,001 entries", testEntries(1001, 200), 2, 1},
		{"large rows alone", testEntries(3, 60_000), 1, 3},
		{"rows filling the grouped budget", testEntries(10, 20_000), 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := planRequests(tt.entries)
			if len(reqs) != tt.wantRequests {
				t.Fatalf("planRequests(%d entries) = %d requests, want %d", len(tt.entries), len(reqs), tt.wantRequests)
			}
			if got := reqs[len(reqs)-1].statements; got != tt.wantStmtsLast {
				t.Errorf("last request has %d statements, want %d", got, tt.wantStmtsLast)
			}

			var rows []string
			for i, req := range reqs {
				var b plannedBatch
				if err := json.Unmarshal(req.body, &b); err != nil {
					t.Fatalf("request %d body is not JSON: %v", i, err)
				}
				if len(b.Batch) != req.statements || len(b.Batch) > maxStatementsPerRequest {
					t.Errorf("request %d has %d statements, recorded %d, cap %d", i, len(b.Batch), req.statements, maxStatementsPerRequest)
				}
				reqRows := 0
				for j, st := range b.Batch {
					if len(st.Params) > MaxBoundParameters {
						t.Errorf("request %d statement %d binds %d parameters, over %d", i, j, len(st.Params), MaxBoundParameters)
					}
					if len(st.SQL) > MaxStatementBytes {
						t.Errorf("request %d statement %d is %d bytes, over %d", i, j, len(st.SQL), MaxStatementBytes)
					}
					if strings.Count(st.SQL, "(?, ?, ?, ?, ?)")*entryColumns != len(st.Params) {
						t.Errorf("request %d statement %d: %d placeholders for %d parameters", i, j, strings.Count(st.SQL, "?"), len(st.Params))
					}
					paramBytes := 0
					for k := 0; k < len(st.Params); k += entryColumns {
						rows = append(rows, st.Params[k].(string))
						paramBytes += len(st.Params[k+4].(string))
						reqRows++
					}
					if len(st.Params) > entryColumns && paramBytes > maxGroupedParamBytes {
						t.Errorf("request %d statement %d groups %d bytes of values, over %d", i, j, paramBytes, maxGroupedParamBytes)
					}
				}
				if reqRows != len(req.entries) {
					t.Errorf("request %d writes %d rows, records %d entries", i, reqRows, len(req.entries))
				}
			}
			if len(rows) != len(tt.entries) {
				t.Fatalf("planned %d rows, want %d", len(rows), len(tt.entries))
			}
			for i, id := range rows {
				if id != tt.entries[i].ID {
					t.Fatalf("row %d is %s, want %s in order", i, id, tt.entries[i].ID)
				}
			}
		})
	}
}

func TestCheckEntriesRejectsLargeRow(t *testing.T) {
	s := &Store{cfg: defaultConfig()}
	entries := testEntries(3, 100)
	entries[1] = testEntries(1, MaxRowBytes)[0]
	entries[1].ID = "big"

	valid, rejected := s.checkEntries(entries)
	if len(valid) != 2 || valid[0].ID != entries[0].ID || valid[1].ID != entries[2].ID {
		t.Errorf("checkEntries() valid = %d entries, want the 2 small ones", len(valid))
	}
	if len(rejected) != 1 || rejected[0].ID != "big" {
		t.Fatalf("checkEntries() rejected = %+v, want the large one", rejected)
	}
	if msg := rejected[0].Err.Error(); !strings.Contains(msg, "over D1's limit of 2000000 bytes per row") {
		t.Errorf("rejection = %q, want it to name D1's row limit", msg)
	}
}
