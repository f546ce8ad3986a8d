// Package db opens the database (PostgreSQL over pgx, or embedded SQLite),
// applies migrations, and runs transactions.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Option changes how Open connects.
type Option func(*options)

type options struct{ pooled bool }

// BehindTransactionPooler says PostgreSQL is reached through a connection
// pooler in transaction mode (PgBouncer, and the poolers hosted databases
// put in front): consecutive transactions may run on different server
// connections, so nothing may outlive a transaction on one. Statements are
// then never prepared by name (db.Stmt runs as every other statement does),
// and no session state is relied on (migrations lock with a transaction).
func BehindTransactionPooler() Option { return func(o *options) { o.pooled = true } }

// withoutCancelRequests wraps dial so that pgx sends no cancel request (a
// new connection to the server's address, which pgx opens when a context
// ends a query midway) through a transaction pooler: PgBouncer before 1.21,
// as Debian 12 ships it (1.18), exits on one that arrives as its query
// ends (pgbouncer/pgbouncer#822), taking every application's connections
// with it. A cut query then runs on until it ends or the server's
// statement_timeout ends it; its connection is closed, not reused.
//
// pgx dials a cancel request with the network and address of the
// connection's RemoteAddr: connections dialled here report a network of
// their own, and dials on that network are refused.
func withoutCancelRequests(dial pgconn.DialFunc) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if network == noCancelNetwork {
			return nil, errors.New("behind a transaction pooler usergraph sends no cancel requests")
		}
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return noCancelConn{conn}, nil
	}
}

const noCancelNetwork = "tcp-no-cancel"

type noCancelConn struct{ net.Conn }

func (c noCancelConn) RemoteAddr() net.Addr { return noCancelAddr{c.Conn.RemoteAddr()} }

type noCancelAddr struct{ net.Addr }

func (noCancelAddr) Network() string { return noCancelNetwork }

// pooled holds the databases opened BehindTransactionPooler, for Stmt
// (which runs on a *bun.DB or a transaction of one and has no other way to
// know). Written once per Open.
var pooled sync.Map // *sql.DB → struct{}

// Pooled reports whether idb was opened BehindTransactionPooler.
func Pooled(idb bun.IDB) bool {
	var sqldb *sql.DB
	if d, ok := idb.(*bun.DB); ok {
		sqldb = d.DB
	} else {
		sqldb = idb.NewSelect().DB().DB
	}
	_, ok := pooled.Load(sqldb)
	return ok
}

// Open connects to PostgreSQL when databaseURL is set, otherwise to the SQLite
// file at sqlitePath (created if missing) in WAL mode with foreign keys on.
func Open(ctx context.Context, databaseURL, sqlitePath string, opts ...Option) (*bun.DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var db *bun.DB
	if databaseURL != "" {
		cfg, err := pgx.ParseConfig(databaseURL)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %s", redact(err, databaseURL))
		}
		// bun writes values into the SQL text, so nearly every statement is
		// new: pgx's default (prepare each new text, then run it) costs two
		// round trips and a server-side prepare per query. Exec runs it in one.
		if !strings.Contains(databaseURL, "default_query_exec_mode") {
			cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		}
		if o.pooled { // no statement may be prepared by name: the next may run elsewhere
			cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
			cfg.StatementCacheCapacity, cfg.DescriptionCacheCapacity = 0, 0
			cfg.DialFunc = withoutCancelRequests(cfg.DialFunc)
		}
		sqldb := stdlib.OpenDB(*cfg)
		if o.pooled {
			pooled.Store(sqldb, struct{}{})
		}
		sqldb.SetMaxOpenConns(20)
		sqldb.SetMaxIdleConns(20) // as many as may be open: closing and reopening under load costs more than idling
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = bun.NewDB(sqldb, pgdialect.New())
	} else {
		if strings.Contains(sqlitePath, "?") {
			return nil, fmt.Errorf("the SQLite path %q must not contain '?'", sqlitePath)
		}
		if err := os.MkdirAll(filepath.Dir(sqlitePath), 0o700); err != nil {
			return nil, err
		}
		unicodeLower.Do(registerUnicodeLower)
		sqldb, err := sql.Open("sqlite", SQLiteDSN(sqlitePath))
		if err != nil {
			return nil, fmt.Errorf("the SQLite database %s: %w", sqlitePath, err)
		}
		// SQLite allows one writer; _txlock=immediate makes every transaction take
		// the write lock at BEGIN, so concurrent writers queue on busy_timeout
		// instead of failing when a read lock cannot be upgraded.
		sqldb.SetMaxOpenConns(8)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		if databaseURL == "" {
			return nil, fmt.Errorf("the SQLite database %s (in DATA_DIR) cannot be opened: %w", sqlitePath, err)
		}
		return nil, fmt.Errorf("DATABASE_URL: the database is unreachable: %s", redact(err, databaseURL))
	}
	return db, nil
}

var unicodeLower sync.Once

// registerUnicodeLower replaces SQLite's lower(), which folds ASCII letters
// only, with Go's Unicode lower-casing, so that a search for "élise" finds
// "Élise" as it does on PostgreSQL. It applies to connections opened after it.
func registerUnicodeLower() {
	sqlite.MustRegisterDeterministicScalarFunction("lower", 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return strings.ToLower(v), nil
			case []byte:
				return strings.ToLower(string(v)), nil
			}
			return args[0], nil
		})
}

// SQLiteDSN is the modernc DSN for the file at path. Without a "file:" prefix
// the path is taken literally (a '#' in it is not a URI fragment); it must not
// contain '?', which starts the parameters.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}

// IsPostgres reports whether db talks to PostgreSQL.
func IsPostgres(db bun.IDB) bool {
	_, ok := db.Dialect().(*pgdialect.Dialect)
	return ok
}

// InTx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise (and on panic). Functions registered with AfterCommit during fn
// run after a successful commit.
//
// When fn fails because its pooled connection turned out to be dead (the
// driver closes a connection whose query another request's deadline cut
// off), nothing was committed, so the transaction runs once more on a fresh
// connection instead of failing a request that did nothing wrong.
func InTx(ctx context.Context, db *bun.DB, fn func(ctx context.Context, tx bun.Tx) error) error {
	for attempt := 1; ; attempt++ {
		hooks := &afterCommit{}
		var fnErr error
		err := db.RunInTx(context.WithValue(ctx, afterCommitKey{}, hooks), nil, func(ctx context.Context, tx bun.Tx) error {
			fnErr = fn(ctx, tx)
			return fnErr
		})
		if err != nil && attempt == 1 && errors.Is(fnErr, driver.ErrBadConn) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return err
		}
		for _, f := range hooks.fns {
			f()
		}
		return nil
	}
}

type afterCommitKey struct{}

type afterCommit struct{ fns []func() }

// AfterCommit runs f once the transaction that ctx belongs to (see InTx)
// commits, and never if it rolls back. Outside a transaction it runs f now.
func AfterCommit(ctx context.Context, f func()) {
	if hooks, ok := ctx.Value(afterCommitKey{}).(*afterCommit); ok {
		hooks.fns = append(hooks.fns, f)
		return
	}
	f()
}

// ForUpdate locks the selected rows until the transaction ends. PostgreSQL
// needs FOR UPDATE; SQLite has no row locks and needs none, because its
// transactions take the database's write lock at BEGIN (_txlock=immediate).
func ForUpdate(q *bun.SelectQuery) *bun.SelectQuery {
	if IsPostgres(q.DB()) {
		return q.For("UPDATE")
	}
	return q
}

// WhereSet adds the condition cond with *v when v is set: an optional filter.
func WhereSet[T any](q *bun.SelectQuery, cond string, v *T) *bun.SelectQuery {
	if v == nil {
		return q
	}
	return q.Where(cond, *v)
}

// EscapeLike escapes LIKE wildcards in s (use with ESCAPE '\\').
func EscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// IsUniqueViolation reports whether err is a unique-constraint failure on
// either database. constraint, when not empty, must appear in the message
// (an index or column name).
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" && (constraint == "" || strings.Contains(pgErr.ConstraintName, constraint))
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return (sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) &&
			(constraint == "" || strings.Contains(sqErr.Error(), constraint))
	}
	return false
}

// redact removes a password from a database URL inside an error message.
func redact(err error, databaseURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(databaseURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	return msg
}
