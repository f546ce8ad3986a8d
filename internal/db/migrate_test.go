package db_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/testdb"
	"github.com/usergraph/usergraph/migrations"
)

// columns lists "table.column NULL|NOT NULL" for every table, sorted.
func columns(t *testing.T, conn *bun.DB) []string {
	t.Helper()
	var rows []struct {
		Table   string `bun:"table_name"`
		Column  string `bun:"column_name"`
		NotNull bool   `bun:"not_null"`
	}
	q := `SELECT table_name, column_name, is_nullable = 'NO' AS not_null
		FROM information_schema.columns WHERE table_schema = current_schema()`
	if !db.IsPostgres(conn) {
		q = `SELECT m.name AS table_name, p.name AS column_name, (p."notnull" = 1 OR p.pk > 0) AS not_null
			FROM sqlite_master m JOIN pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	}
	if err := conn.NewRaw(q).Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		null := "NULL"
		if r.NotNull {
			null = "NOT NULL"
		}
		out[i] = r.Table + "." + r.Column + " " + null
	}
	slices.Sort(out)
	return out
}

func open(t *testing.T, databaseURL string) *bun.DB {
	t.Helper()
	conn, err := db.Open(context.Background(), databaseURL, filepath.Join(t.TempDir(), "test.db"), testdb.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func migrateUp(t *testing.T, conn *bun.DB) []string {
	t.Helper()
	m, err := db.NewMigrator(conn)
	if err != nil {
		t.Fatal(err)
	}
	names, err := m.Up(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// Down then up again gives the same schema, on both dialects.
func TestMigrateDownUp(t *testing.T) {
	testdb.Run(t, func(t *testing.T, url string) {
		conn := open(t, url)
		applied := migrateUp(t, conn)
		before := columns(t, conn)
		m, _ := db.NewMigrator(conn)
		rolled, err := m.Down(context.Background())
		if err != nil || len(rolled) != len(applied) {
			t.Fatalf("down rolled back %v (err %v), want %v", rolled, err, applied)
		}
		for _, c := range columns(t, conn) {
			if !strings.HasPrefix(c, "bun_migration") {
				t.Errorf("left behind by down: %s", c)
			}
		}
		migrateUp(t, conn)
		if after := columns(t, conn); !slices.Equal(before, after) {
			t.Errorf("schema after down+up differs: %v", minus(before, after))
		}
	})
}

// Two replicas starting at once on PostgreSQL: both migrate without error
// and the migrations are applied once.
func TestConcurrentMigrationsOnPostgres(t *testing.T) {
	url := testdb.Postgres(t)
	var wg sync.WaitGroup
	applied := make([][]string, 4)
	errs := make([]error, 4)
	for i := range 4 {
		conn := open(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := db.NewMigrator(conn)
			if err == nil {
				applied[i], err = m.Up(context.Background())
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Errorf("replica %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if ms, _ := db.NewMigrator(open(t, url)); ms != nil {
		if again, err := ms.Up(context.Background()); err != nil || len(again) != 0 {
			t.Errorf("pending after concurrent start: %v %v", again, err)
		}
	}
	if want := countMigrations(t, "postgres"); total != want {
		t.Errorf("applied %d migrations in all, want %d (each once)", total, want)
	}
}

// countMigrations is the number of migrations dialect has: a dialect may
// have one the other does not need (SQLite's 0011).
func countMigrations(t *testing.T, dialect string) int {
	files, err := fs.Glob(migrations.FS, dialect+"/*.up.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s migrations: %v", dialect, err)
	}
	return len(files)
}
