package db

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/usergraph/usergraph/migrations"
)

// migrationLockKey is the PostgreSQL advisory lock that serialises migrations
// when several replicas start at once ("usergraph" in ASCII, truncated).
const migrationLockKey = 0x7573657267726170

// Migrator applies the embedded migrations of db's dialect.
type Migrator struct {
	db *bun.DB
	m  *migrate.Migrator
}

// NewMigrator returns a Migrator for db.
func NewMigrator(db *bun.DB) (*Migrator, error) {
	dir := "sqlite"
	if IsPostgres(db) {
		dir = "postgres"
	}
	sub, err := fs.Sub(migrations.FS, dir)
	if err != nil {
		return nil, err
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return nil, err
	}
	return &Migrator{db: db, m: migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true))}, nil
}

// withLock runs fn while holding the migration lock. On PostgreSQL that is
// a transaction-level advisory lock held by a transaction left open while
// fn runs on other connections: a second replica waits for the first to
// finish, then finds nothing left to apply. A transaction, not the session:
// behind a transaction pooler a session lock would stay on whichever server
// connection took it. SQLite's immediate transactions already serialise
// writers.
func (m *Migrator) withLock(ctx context.Context, fn func() error) error {
	if !IsPostgres(m.db) {
		return fn()
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // releases the lock; nothing was written
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(migrationLockKey)); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	return fn()
}

// Up applies every pending migration and returns their names.
func (m *Migrator) Up(ctx context.Context) ([]string, error) {
	var applied []string
	err := m.withLock(ctx, func() error {
		if err := m.m.Init(ctx); err != nil {
			return err
		}
		group, err := m.m.Migrate(ctx)
		for _, mig := range group.Migrations {
			applied = append(applied, mig.String())
		}
		return err
	})
	return applied, err
}

// Down rolls back the last applied group of migrations and returns their names.
func (m *Migrator) Down(ctx context.Context) ([]string, error) {
	var rolled []string
	err := m.withLock(ctx, func() error {
		if err := m.m.Init(ctx); err != nil {
			return err
		}
		group, err := m.m.Rollback(ctx)
		for _, mig := range group.Migrations {
			rolled = append(rolled, mig.String())
		}
		return err
	})
	return rolled, err
}

// Status writes one line per migration: applied or pending.
func (m *Migrator) Status(ctx context.Context, w io.Writer) error {
	if err := m.m.Init(ctx); err != nil {
		return err
	}
	ms, err := m.m.MigrationsWithStatus(ctx)
	if err != nil {
		return err
	}
	for _, mig := range ms {
		state := "pending"
		if mig.IsApplied() {
			state = fmt.Sprintf("applied (group %d, %s)", mig.GroupID, mig.MigratedAt.UTC().Format("2006-01-02 15:04:05Z"))
		}
		fmt.Fprintf(w, "%s  %s\n", mig.String(), state)
	}
	return nil
}
