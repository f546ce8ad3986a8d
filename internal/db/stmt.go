package db

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Stmt is a statement on a hot path (every signed-in request, refresh,
// sign-in), written once with ? placeholders.
//
// bun writes values into the SQL text, so PostgreSQL parses and plans each
// of its statements anew: for a one-row lookup that costs the server about
// three times what running the plan does. A Stmt sends its values apart
// and pgx prepares it once per pooled connection (QueryExecModeCacheStatement),
// so the server plans it once. On SQLite, where preparing is cheap and
// in-process, bun writes the values in as it does for every other statement.
//
// Spans: bun's tracing hook does not see a Stmt on PostgreSQL, so a Stmt
// records its own span as that hook would (named by its operation, with
// its text, placeholders and never values) when the request is traced.
type Stmt struct {
	name     string // its operation: SELECT, INSERT, …
	sql, pg  string // with ? placeholders; with $1…$n
	nargs    int
	spanAttr attribute.KeyValue
}

// NewStmt returns the statement query, whose ? are placeholders (no ? may
// appear anywhere else in it, nor bun's ?Names).
func NewStmt(query string) *Stmt {
	var pg strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			pg.WriteString("$" + strconv.Itoa(n))
			continue
		}
		pg.WriteRune(r)
	}
	name, _, _ := strings.Cut(strings.TrimSpace(query), " ")
	return &Stmt{name: strings.ToUpper(name), sql: query, pg: pg.String(), nargs: n, spanAttr: attribute.String("db.statement", query)}
}

// Scan runs the statement with args on idb (a *bun.DB or a bun.Tx) and
// scans its first row into dest as bun would (a model, or one value per
// column); sql.ErrNoRows when it returns none.
func (s *Stmt) Scan(ctx context.Context, idb bun.IDB, args []any, dest ...any) error {
	if err := s.check(args); err != nil {
		return err
	}
	if !IsPostgres(idb) {
		return idb.NewRaw(s.sql, args...).Scan(ctx, dest...)
	}
	conn, err := sqlConnOf(idb)
	if err != nil {
		return err
	}
	ctx, end := s.span(ctx)
	defer end()
	rows, err := conn.QueryContext(ctx, s.pg, s.pgArgs(idb, args)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	// bun's scanning needs the *bun.DB (its model registry); a Tx only
	// hands it out through a query.
	bdb, ok := idb.(*bun.DB)
	if !ok {
		bdb = idb.NewSelect().DB()
	}
	if err := bdb.ScanRow(ctx, rows, dest...); err != nil {
		return err
	}
	return rows.Close()
}

// Exec runs the statement with args on idb (a *bun.DB or a bun.Tx).
func (s *Stmt) Exec(ctx context.Context, idb bun.IDB, args ...any) error {
	if err := s.check(args); err != nil {
		return err
	}
	if !IsPostgres(idb) {
		_, err := idb.NewRaw(s.sql, args...).Exec(ctx)
		return err
	}
	conn, err := sqlConnOf(idb)
	if err != nil {
		return err
	}
	ctx, end := s.span(ctx)
	defer end()
	_, err = conn.ExecContext(ctx, s.pg, s.pgArgs(idb, args)...)
	return err
}

func (s *Stmt) check(args []any) error {
	if len(args) != s.nargs {
		return fmt.Errorf("statement %q: %d values for %d placeholders", s.sql, len(args), s.nargs)
	}
	return nil
}

type sqlConn interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// sqlConnOf returns idb's database/sql handle, which sends values apart.
func sqlConnOf(idb bun.IDB) (sqlConn, error) {
	switch c := idb.(type) {
	case *bun.DB:
		return c.DB, nil
	case bun.Tx:
		return c.Tx, nil
	case bun.Conn:
		return c.Conn, nil
	}
	return nil, fmt.Errorf("db.Stmt: unsupported %T", idb)
}

// pgArgs puts args behind pgx's mode: prepare once per connection, unless
// a transaction pooler is in front (BehindTransactionPooler): then a
// statement prepared on one server connection is not there on the next,
// and the statement runs unnamed, as bun's do.
func (s *Stmt) pgArgs(idb bun.IDB, args []any) []any {
	if Pooled(idb) {
		return args
	}
	return append([]any{pgx.QueryExecModeCacheStatement}, args...)
}

// span starts the statement's span when the request is traced; end ends it.
func (s *Stmt) span(ctx context.Context) (_ context.Context, end func()) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() { // in a transaction the parent is its BEGIN's span, ended
		return ctx, func() {}
	}
	ctx, child := parent.TracerProvider().Tracer("usergraph/db").Start(ctx, s.name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("db.system", "postgresql"), s.spanAttr))
	return ctx, func() { child.End() }
}

// Columns lists the columns of a bun model struct (its bun tags, in field
// order), each prefixed with alias and a dot when alias is set, for a Stmt
// to select or return. Naming them, as bun does, rather than writing *
// keeps a replica working while another one's migration adds a column.
func Columns(model any, alias string) string {
	t := reflect.TypeOf(model)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var cols []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("bun"), ",")
		if f.Anonymous || !f.IsExported() || name == "" || name == "-" || strings.Contains(opts, "rel:") {
			continue
		}
		if alias != "" {
			name = alias + "." + name
		}
		cols = append(cols, name)
	}
	return strings.Join(cols, ", ")
}
