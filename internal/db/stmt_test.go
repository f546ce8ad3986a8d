package db_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/testdb"
)

type probe struct {
	bun.BaseModel `bun:"table:probes"`

	ID string    `bun:"id,pk"`
	N  int       `bun:"n"`
	At time.Time `bun:"at"`
}

// A Stmt reads and writes what bun would on both databases, in and out of
// a transaction, with sql.ErrNoRows for no row; on PostgreSQL it runs as a
// prepared statement, which the server plans once per connection (what
// makes the signed-in request and the refresh cheap: BENCHMARKS.md).
func TestStmt(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		ctx := context.Background()
		if _, err := conn.NewRaw("CREATE TABLE probes (id TEXT PRIMARY KEY, n INTEGER NOT NULL, at TIMESTAMPTZ NOT NULL)").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		insert := db.NewStmt("INSERT INTO probes (id, n, at) VALUES (?, ?, ?)")
		if cols := db.Columns(&probe{}, "p"); cols != "p.id, p.n, p.at" {
			t.Fatalf("Columns: %q", cols)
		}
		get := db.NewStmt("SELECT " + db.Columns(probe{}, "") + " FROM probes WHERE id = ? AND at > ?")
		bump := db.NewStmt("UPDATE probes SET n = n + ? WHERE id = ? RETURNING n")
		at := time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)
		if err := insert.Exec(ctx, conn, "a", 1, at); err != nil {
			t.Fatal(err)
		}
		var p probe
		if err := get.Scan(ctx, conn, []any{"a", at.Add(-time.Second)}, &p); err != nil || p.ID != "a" || p.N != 1 || !p.At.Equal(at) {
			t.Fatalf("scan: %+v, %v", p, err)
		}
		if err := get.Scan(ctx, conn, []any{"a", at}, &p); !errors.Is(err, sql.ErrNoRows) {
			t.Errorf("no row: %v, want sql.ErrNoRows", err)
		}
		if err := get.Scan(ctx, conn, []any{"a"}, &p); err == nil {
			t.Error("a missing value was accepted")
		}
		var n int
		err := db.InTx(ctx, conn, func(ctx context.Context, tx bun.Tx) error {
			return bump.Scan(ctx, tx, []any{2, "a"}, &n)
		})
		if err != nil || n != 3 {
			t.Fatalf("in a transaction: n %d, %v", n, err)
		}
		if !db.IsPostgres(conn) {
			return
		}
		c, err := conn.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range 2 {
			if err := get.Scan(ctx, c, []any{"a", at.Add(-time.Second)}, &p); err != nil {
				t.Fatal(err)
			}
		}
		// Behind a transaction pooler nothing is prepared by name: the next
		// statement may run on another server connection.
		want := 1
		if db.Pooled(conn) {
			want = 0
		}
		var prepared int
		err = c.NewRaw("SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT id, n, at FROM probes WHERE id = $1 AND at > $2'").Scan(ctx, &prepared)
		if err != nil || prepared != want {
			t.Errorf("the statement is prepared %d times on its connection (%v), want %d", prepared, err, want)
		}
		// Another replica's migration adds a column: the prepared statement,
		// which names its columns, goes on working on this connection.
		if _, err := conn.NewRaw("ALTER TABLE probes ADD COLUMN extra TEXT").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := get.Scan(ctx, c, []any{"a", at.Add(-time.Second)}, &p); err != nil || p.N != 3 {
			t.Errorf("after a column was added: %+v, %v", p, err)
		}
	})
}
