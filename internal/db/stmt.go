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
	ctx, conn, pgArgs, end, err := s.prepare(ctx, idb, args)
	if err != nil {
		return err
	}
	defer end()
	rows, err := conn.QueryContext(ctx, s.pg, pgArgs...)
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
	if err := idb.NewSelect().DB().ScanRow(ctx, rows, dest...); err != nil {
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
	ctx, conn, pgArgs, end, err := s.prepare(ctx, idb, args)
	if err != nil {
		return err
	}
	defer end()
	_, err = conn.ExecContext(ctx, s.pg, pgArgs...)
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

// prepare returns what a run on PostgreSQL needs: idb's database/sql
// handle, args behind pgx's mode, and a span (ended by end) when traced.
func (s *Stmt) prepare(ctx context.Context, idb bun.IDB, args []any) (context.Context, sqlConn, []any, func(), error) {
	var conn sqlConn
	switch c := idb.(type) {
	case *bun.DB:
		conn = c.DB
	case bun.Tx:
		conn = c.Tx
	case bun.Conn:
		conn = c.Conn
	default:
		return ctx, nil, nil, nil, fmt.Errorf("statement %q: unsupported %T", s.sql, idb)
	}
	end := func() {}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		var child trace.Span
		ctx, child = span.TracerProvider().Tracer("usergraph/db").Start(ctx, s.name,
			trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("db.system", "postgresql"), s.spanAttr))
		end = func() { child.End() }
	}
	pgArgs := make([]any, 0, len(args)+1)
	return ctx, conn, append(append(pgArgs, pgx.QueryExecModeCacheStatement), args...), end, nil
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
