package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/store"
	"github.com/agentaudit/agentaudit/store/d1"
)

func TestOpenD1RejectsMalformedName(t *testing.T) {
	_, err := store.Open(context.Background(), "d1://my-account/my-database")
	if err == nil {
		t.Fatal("Open(d1://my-account/my-database) error = nil, want an error")
	}
	if !strings.Contains(err.Error(), `account id "my-account" is not 32 hexadecimal digits`) {
		t.Errorf("Open() error = %q, want it to name the account id", err)
	}
}

// TestOpenD1 opens the local D1 engine that scripts/d1-local.sh starts; it
// is skipped without one, and fails without one when CI=true.
func TestOpenD1(t *testing.T) {
	base := os.Getenv(d1.BaseURLEnv)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; run scripts/d1-local.sh start", d1.BaseURLEnv)
		}
		t.Skipf("%s is not set; run scripts/d1-local.sh start", d1.BaseURLEnv)
	}
	t.Setenv(d1.TokenEnv, os.Getenv("AGENTAUDIT_D1_TEST_TOKEN"))
	dsn := "d1://" + os.Getenv("AGENTAUDIT_D1_ACCOUNT_ID") + "/" + os.Getenv("AGENTAUDIT_D1_DATABASE_ID")

	b, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", dsn, err)
	}
	defer b.Close()
	if _, ok := b.(*d1.Store); !ok {
		t.Errorf("Open(%q) = %T, want *d1.Store", dsn, b)
	}
	applied, err := b.Migrate(context.Background())
	if err != nil {
		t.Fatalf("Migrate() error = %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("Migrate() after Open applied %q, want nothing left to apply", applied)
	}
}
