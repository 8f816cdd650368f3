//go:build chdb

package history

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// The embedded engine allows one store per process: the tests share it.
var (
	sharedOnce  sync.Once
	sharedStore Store
	sharedErr   error
)

func embeddedStore(t testing.TB) Store {
	t.Helper()
	sharedOnce.Do(func() {
		dir := filepath.Join(testTempRoot, "chdb")
		sharedStore, sharedErr = OpenEmbedded(dir, "mxwarden_test", false)
		if sharedErr == nil {
			testCleanup = append(testCleanup, func() { _ = sharedStore.Close() })
			_, sharedErr = Migrate(context.Background(), sharedStore, DefaultConfig().TTL, nil)
		}
	})
	if sharedErr != nil {
		t.Fatalf("embedded store: %v", sharedErr)
	}
	return sharedStore
}

func TestEmbeddedMigrate(t *testing.T) {
	s := embeddedStore(t)
	ctx := context.Background()
	// Applied once: running again applies nothing.
	applied, err := Migrate(ctx, s, DefaultConfig().TTL, nil)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate: applied %v, err %v", applied, err)
	}
	ms, _ := Migrations()
	res, err := s.Query(ctx, "SELECT count() FROM mxwarden_test.schema_migrations", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := num(t, res.Rows[0][0]); got != float64(len(ms)) {
		t.Fatalf("schema_migrations has %v rows, want %d", got, len(ms))
	}
	res, err = s.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = 'mxwarden_test' AND name = 'events'", nil)
	if err != nil || len(res.Rows) != 1 {
		t.Fatalf("events table: %v %v", res, err)
	}
	full := res.Rows[0][1].(string)
	for _, want := range []string{"ReplacingMergeTree", "PARTITION BY toDate(ts)", "ORDER BY (account, sender, ts, id)", "TTL toDateTime(ts) + toIntervalDay(90)"} {
		if !contains(full, want) {
			t.Errorf("events engine %q lacks %q", full, want)
		}
	}
}
