package db_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/testdb"
)

// Both dialects must end with the same schema, so every feature behaves the
// same on SQLite and PostgreSQL: tables and columns with their types (as
// each dialect spells them), nullability and defaults; indexes with their
// columns and uniqueness; foreign keys with their ON DELETE; and which
// columns carry CHECK constraints.
func TestDialectsHaveTheSameSchema(t *testing.T) {
	sqlite := open(t, "")
	pg := open(t, testdb.Postgres(t))
	migrateUp(t, sqlite)
	migrateUp(t, pg)
	for _, part := range []struct {
		name       string
		sqlite, pg []string
	}{
		{"columns", sqliteColumns(t, sqlite), pgColumns(t, pg)},
		{"indexes", sqliteIndexes(t, sqlite), pgIndexes(t, pg)},
		{"foreign keys", sqliteForeignKeys(t, sqlite), pgForeignKeys(t, pg)},
		{"checks", sqliteChecks(t, sqlite), pgChecks(t, pg)},
	} {
		if len(part.sqlite) < 3 {
			t.Fatalf("%s: only %v after migrating", part.name, part.sqlite)
		}
		if !slices.Equal(part.sqlite, part.pg) {
			t.Errorf("%s differ\nsqlite only:   %v\npostgres only: %v", part.name, minus(part.sqlite, part.pg), minus(part.pg, part.sqlite))
		}
	}
}

func scan[T any](t *testing.T, conn *bun.DB, q string) []T {
	t.Helper()
	var rows []T
	if err := conn.NewRaw(q).Scan(context.Background(), &rows); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rows
}

// describe is the sorted text of rows.
func describe[T fmt.Stringer](rows []T) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.String()
	}
	return sorted(out)
}

// sorted sorts s and leaves out bun's own bookkeeping tables.
func sorted(s []string) []string {
	s = slices.DeleteFunc(s, func(x string) bool { return strings.HasPrefix(x, "bun_migration") })
	slices.Sort(s)
	return s
}

// pgTypes maps PostgreSQL's types to how the SQLite migrations declare them.
var pgTypes = map[string]string{"uuid": "TEXT", "text": "TEXT", "timestamp with time zone": "TEXT",
	"boolean": "BOOLEAN", "integer": "INTEGER", "bigint": "INTEGER", "bytea": "BLOB"}

// normDefault drops PostgreSQL's casts: ”::text is ”.
func normDefault(d *string) string {
	if d == nil {
		return "-"
	}
	return strings.SplitN(*d, "::", 2)[0]
}

type column struct {
	Table   string  `bun:"tbl"`
	Column  string  `bun:"col"`
	Type    string  `bun:"typ"`
	NotNull bool    `bun:"not_null"`
	Default *string `bun:"dflt"`
}

func (c column) String() string {
	return fmt.Sprintf("%s.%s %s notnull=%v default=%s", c.Table, c.Column, c.Type, c.NotNull, normDefault(c.Default))
}

func pgColumns(t *testing.T, conn *bun.DB) []string {
	rows := scan[column](t, conn, `SELECT table_name AS tbl, column_name AS col, data_type AS typ,
		is_nullable = 'NO' AS not_null, column_default AS dflt
		FROM information_schema.columns WHERE table_schema = current_schema()`)
	for i, r := range rows {
		mapped, ok := pgTypes[r.Type]
		if !ok && !strings.HasPrefix(r.Table, "bun_migration") {
			t.Errorf("column %s.%s has type %s, which the parity test does not map", r.Table, r.Column, r.Type)
		}
		rows[i].Type = mapped
	}
	return describe(rows)
}

func sqliteColumns(t *testing.T, conn *bun.DB) []string {
	rows := scan[column](t, conn, `SELECT m.name AS tbl, p.name AS col, upper(p.type) AS typ,
		(p."notnull" = 1 OR p.pk > 0) AS not_null, p.dflt_value AS dflt
		FROM sqlite_master m JOIN pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	return describe(rows)
}

type index struct {
	Table   string `bun:"tbl"`
	Columns string `bun:"cols"`
	Unique  bool   `bun:"uniq"`
}

func (i index) String() string { return fmt.Sprintf("%s(%s) unique=%v", i.Table, i.Columns, i.Unique) }

// Indexes, primary keys left out (both dialects have one per table, checked
// with the columns' NOT NULL), and PostgreSQL's GIN trigram index for search,
// which SQLite has no counterpart for (it scans; see migrations 0007, 0011).
func pgIndexes(t *testing.T, conn *bun.DB) []string {
	rows := scan[index](t, conn, `SELECT t.relname AS tbl, i.indisunique AS uniq,
		(SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
		 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum) AS cols
		FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
		WHERE t.relnamespace = current_schema()::regnamespace AND NOT i.indisprimary
		AND ic.relam <> (SELECT oid FROM pg_am WHERE amname = 'gin')`)
	return describe(rows)
}

// SQLite's users date index also carries the columns search matches
// (migration 0011), its counterpart of PostgreSQL's trigram index: it is
// compared as the date index it also is, and must keep those columns.
func sqliteIndexes(t *testing.T, conn *bun.DB) []string {
	rows := scan[index](t, conn, `SELECT m.name AS tbl, l."unique" AS uniq,
		(SELECT group_concat(name, ',') FROM (SELECT ii.name FROM pragma_index_info(l.name) ii ORDER BY ii.seqno)) AS cols
		FROM sqlite_master m JOIN pragma_index_list(m.name) l
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND l.origin != 'pk'`)
	const dateIndex, searchColumns = "date_joined,id", ",email_key,first_name,last_name,mobile"
	found := false
	for i, r := range rows {
		if r.Table == "users" && r.Columns == dateIndex+searchColumns {
			rows[i].Columns, found = dateIndex, true
		}
	}
	if !found {
		t.Errorf("SQLite has no users index on (%s%s), which search reads instead of the rows", dateIndex, searchColumns)
	}
	return describe(rows)
}

type foreignKey struct {
	Table     string `bun:"tbl"`
	Column    string `bun:"col"`
	RefTable  string `bun:"ref_table"`
	RefColumn string `bun:"ref_column"`
	OnDelete  string `bun:"on_delete"`
}

func pgForeignKeys(t *testing.T, conn *bun.DB) []string {
	rows := scan[foreignKey](t, conn, `SELECT cl.relname AS tbl, a.attname AS col, rcl.relname AS ref_table, ra.attname AS ref_column,
		CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END AS on_delete
		FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		JOIN pg_class rcl ON rcl.oid = c.confrelid
		JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
		WHERE c.contype = 'f' AND cl.relnamespace = current_schema()::regnamespace`)
	return describe(rows)
}

func sqliteForeignKeys(t *testing.T, conn *bun.DB) []string {
	rows := scan[foreignKey](t, conn, `SELECT m.name AS tbl, f."from" AS col, f."table" AS ref_table, f."to" AS ref_column, f.on_delete AS on_delete
		FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	return describe(rows)
}

func (r foreignKey) String() string {
	return fmt.Sprintf("%s.%s -> %s.%s on delete %s", r.Table, r.Column, r.RefTable, r.RefColumn, r.OnDelete)
}

// Checks: which columns carry one. (Their expressions are spelt differently
// by each dialect's catalogue; the wallet and batch tests exercise them.)
func pgChecks(t *testing.T, conn *bun.DB) []string {
	rows := scan[struct {
		Table  string `bun:"tbl"`
		Column string `bun:"col"`
	}](t, conn, `SELECT cl.relname AS tbl, a.attname AS col
		FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		WHERE c.contype = 'c' AND cl.relnamespace = current_schema()::regnamespace`)
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Table + "." + r.Column
	}
	return sorted(out)
}

// inlineCheck finds a column definition with a CHECK in a CREATE TABLE.
var inlineCheck = regexp.MustCompile(`(?m)^\s*(?:ALTER TABLE \w+ ADD COLUMN )?(\w+)\s+[A-Za-z]+[^\n]*\bCHECK\s*\(`)

func sqliteChecks(t *testing.T, conn *bun.DB) []string {
	rows := scan[struct{ Name, SQL string }](t, conn, `SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	var out []string
	for _, r := range rows {
		for _, m := range inlineCheck.FindAllStringSubmatch(r.SQL, -1) {
			out = append(out, r.Name+"."+m[1])
		}
	}
	return sorted(out)
}

var _ = db.IsPostgres
