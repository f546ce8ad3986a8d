// Package testdb gives tests a fresh database on each dialect: SQLite (a file
// in the test's temporary directory) and PostgreSQL (a new schema in the
// database named by TEST_DATABASE_URL, dropped when the test ends).
//
// Without TEST_DATABASE_URL the PostgreSQL cases are skipped, except under
// CI=true, where a missing or unreachable database fails the test.
//
// With TEST_POOLER_URL (a PgBouncer in transaction mode in front of the same
// server, as .ci/run starts), each PostgreSQL case gets a database of its
// own, reached through the pooler: a pooler passes no search_path.
package testdb

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
)

// Dialect names a database to run a test against.
type Dialect struct {
	Name string
	// URL returns a DATABASE_URL for a fresh, empty database ("" for SQLite:
	// the server then uses a file in its DATA_DIR).
	URL func(t testing.TB) string
}

// Dialects lists SQLite and PostgreSQL; only PostgreSQL behind a pooler
// (TEST_POOLER_URL), where a run is about the pooler.
func Dialects() []Dialect {
	pg := Dialect{Name: "postgres", URL: Postgres}
	if Pooler() {
		return []Dialect{pg}
	}
	return []Dialect{{Name: "sqlite", URL: func(testing.TB) string { return "" }}, pg}
}

// Run runs f as a subtest per dialect, in parallel.
func Run(t *testing.T, f func(t *testing.T, databaseURL string)) {
	for _, d := range Dialects() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			f(t, d.URL(t))
		})
	}
}

// Pooler reports whether PostgreSQL tests go through a transaction pooler
// (TEST_POOLER_URL): servers then run with DATABASE_POOLER=transaction.
func Pooler() bool { return os.Getenv("TEST_POOLER_URL") != "" }

// Options are how a test opens the database of Postgres.
func Options() []db.Option {
	if Pooler() {
		return []db.Option{db.BehindTransactionPooler()}
	}
	return nil
}

// Postgres returns the URL of a new empty schema in TEST_DATABASE_URL's
// database, or of a new database behind TEST_POOLER_URL.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set; CI must run the PostgreSQL tests")
		}
		t.Skip("TEST_DATABASE_URL not set: skipping PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL at TEST_DATABASE_URL is unreachable: %v", err)
	}
	// Extensions belong to the database, not a schema: pg_trgm goes to
	// public (which every test's search_path includes), once, so that no
	// test's schema (dropped at its end) takes it along.
	if _, err := admin.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"); err != nil {
		var n int
		// Another test process may have created it at the same moment.
		if admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").Scan(&n) != nil || n == 0 {
			t.Fatalf("create extension pg_trgm: %v", err)
		}
	}
	schema := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if Pooler() {
		return pooledDatabase(t, admin, schema)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema+",public")
	u.RawQuery = q.Encode()
	return u.String()
}

// pooledDatabase creates the database name and returns its URL behind
// TEST_POOLER_URL; it is dropped when the test ends.
func pooledDatabase(t testing.TB, admin *sql.DB, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(os.Getenv("TEST_POOLER_URL"))
	if err != nil {
		t.Fatalf("TEST_POOLER_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open opens databaseURL ("" for a new SQLite file in the test's temporary
// folder), applies every migration, and closes it when the test ends: the
// database a package's own tests run against.
func Open(t testing.TB, databaseURL string) *bun.DB {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Open(ctx, databaseURL, filepath.Join(t.TempDir(), "test.db"), Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	m, err := db.NewMigrator(conn)
	if err == nil {
		_, err = m.Up(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
