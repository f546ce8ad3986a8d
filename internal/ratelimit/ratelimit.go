// Package ratelimit counts events per key in fixed windows, in the database,
// so every replica of usergraph shares the same counters.
package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// Rule is a limit: at most Limit events per Window; when Lockout is set,
// reaching the limit also blocks the key for Lockout.
type Rule struct {
	Limit   int
	Window  time.Duration
	Lockout time.Duration
}

// Limiter reads and writes the rate_limits table.
type Limiter struct {
	db  bun.IDB
	now func() time.Time
}

// New returns a Limiter over db.
func New(db bun.IDB) *Limiter { return &Limiter{db: db, now: time.Now} }

type counter struct {
	bun.BaseModel `bun:"table:rate_limits"`
	Key           string     `bun:"key,pk"`
	WindowStart   time.Time  `bun:"window_start"`
	Hits          int        `bun:"hits"`
	BlockedUntil  *time.Time `bun:"blocked_until"`
}

// retryAfter is how long key stays limited under r, or 0 if it is not.
func (c *counter) retryAfter(r Rule, now time.Time) time.Duration {
	if c.BlockedUntil != nil && c.BlockedUntil.After(now) {
		return c.BlockedUntil.Sub(now)
	}
	if end := c.WindowStart.Add(r.Window); end.After(now) && c.Hits >= r.Limit {
		return end.Sub(now)
	}
	return 0
}

// Check reports how long key is limited under r without counting an event.
func (l *Limiter) Check(ctx context.Context, key string, r Rule) (time.Duration, error) {
	var c counter
	err := l.db.NewSelect().Model(&c).Where("key = ?", key).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return c.retryAfter(r, l.now()), nil
}

// Hit counts one event for key and reports how long key is now limited (0 if
// the event was within the limit). Reaching the limit starts r.Lockout.
func (l *Limiter) Hit(ctx context.Context, key string, r Rule) (time.Duration, error) {
	now := l.now().UTC()
	windowOpen := now.Add(-r.Window)
	var c counter
	// One statement, so concurrent hits on any replica never lose a count.
	// SET expressions read the row as it was before this update.
	err := l.db.NewRaw(`
INSERT INTO rate_limits (key, window_start, hits) VALUES (?, ?, 1)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN rate_limits.window_start <= ? THEN 1 ELSE rate_limits.hits + 1 END,
    window_start = CASE WHEN rate_limits.window_start <= ? THEN excluded.window_start ELSE rate_limits.window_start END
RETURNING key, window_start, hits, blocked_until`, key, now, windowOpen, windowOpen).Scan(ctx, &c)
	if err != nil {
		return 0, err
	}
	if r.Lockout > 0 && c.Hits >= r.Limit {
		until := now.Add(r.Lockout)
		if _, err := l.db.NewUpdate().Model((*counter)(nil)).Set("blocked_until = ?", until).
			Where("key = ?", key).Exec(ctx); err != nil {
			return 0, err
		}
		return r.Lockout, nil
	}
	if c.Hits > r.Limit {
		return c.retryAfter(r, now), nil
	}
	return 0, nil
}

// Reset forgets key's events, as after a successful sign-in.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	_, err := l.db.NewDelete().Model((*counter)(nil)).Where("key = ?", key).Exec(ctx)
	return err
}
