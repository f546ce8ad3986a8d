// Package ratelimit counts attempts per key in fixed windows, in the
// database, so every replica of usergraph shares the same counters.
//
// An attempt is counted before the work it guards (a password check, a
// token look-up), in one statement: however many arrive at once, at most
// Limit of them in a window are let through.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
)

// Rule is a limit: at most Limit attempts per Window. With Lockout set,
// going over the limit blocks the key for Lockout, twice as long for each
// further lock (up to maxLockGrowth times), and a new window starts when
// the block ends.
type Rule struct {
	Limit   int
	Window  time.Duration
	Lockout time.Duration
}

// maxLockGrowth caps how much repeated locks lengthen the lockout.
const maxLockGrowth = 16

// lockMemory is how long after a block ends the next lock still counts as
// a repeat.
const lockMemory = 24 * time.Hour

// Limiter reads and writes the rate_limits table.
type Limiter struct {
	db  bun.IDB
	now func() time.Time
	// refusals counts attempts refused (a Verdict with Wait), for metrics.
	refusals atomic.Int64
}

// New returns a Limiter over db, reading the time from now (time.Now when nil).
func New(db bun.IDB, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{db: db, now: now}
}

type counter struct {
	bun.BaseModel `bun:"table:rate_limits"`
	Key           string     `bun:"key,pk"`
	WindowStart   time.Time  `bun:"window_start"`
	Hits          int        `bun:"hits"`
	BlockedUntil  *time.Time `bun:"blocked_until"`
	Locks         int        `bun:"locks"`
}

// Verdict is the answer to one attempt.
type Verdict struct {
	// Wait is how long the key is limited; 0 lets the attempt through.
	Wait time.Duration
	// Last is true for the last attempt the window allows: when it fails,
	// the caller locks the key (Lock) at once rather than at the next try.
	Last bool
	// Locked is true for the call that started a lockout.
	Locked bool
}

// Refusals reports how many attempts l refused for a limit.
func (l *Limiter) Refusals() int64 { return l.refusals.Load() }

// Take counts one attempt for key under r and says whether it may go ahead.
// Attempts made while the key is blocked are not counted; the first one
// over the limit starts the lockout if the last allowed one has not.
func (l *Limiter) Take(ctx context.Context, key string, r Rule) (Verdict, error) {
	v, err := l.take(ctx, key, r)
	if v.Wait > 0 {
		l.refusals.Add(1)
	}
	return v, err
}

func (l *Limiter) take(ctx context.Context, key string, r Rule) (Verdict, error) {
	key = storable(key)
	now := l.now().UTC()
	windowOpen := now.Add(-r.Window)
	var c counter
	// One statement, so concurrent attempts on any replica never lose a
	// count. SET expressions read the row as it was before this update.
	err := takeStmt.Scan(ctx, l.db, []any{key, now, now, windowOpen, now, windowOpen}, &c)
	switch {
	case err != nil:
		return Verdict{}, err
	case c.BlockedUntil != nil && c.BlockedUntil.After(now):
		return Verdict{Wait: c.BlockedUntil.Sub(now)}, nil
	case c.Hits <= r.Limit:
		return Verdict{Last: c.Hits == r.Limit}, nil
	case r.Lockout <= 0:
		return Verdict{Wait: c.WindowStart.Add(r.Window).Sub(now)}, nil
	}
	return l.lock(ctx, key, r, c, now)
}

// takeStmt counts one attempt (db.Stmt: prepared once per connection, for
// it runs before every sign-in, refresh and registration).
var takeStmt = db.NewStmt(`
INSERT INTO rate_limits (key, window_start, hits, locks) VALUES (?, ?, 1, 0)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN rate_limits.blocked_until > ? THEN rate_limits.hits
                WHEN rate_limits.window_start <= ? THEN 1
                ELSE rate_limits.hits + 1 END,
    window_start = CASE WHEN rate_limits.blocked_until > ? THEN rate_limits.window_start
                        WHEN rate_limits.window_start <= ? THEN excluded.window_start
                        ELSE rate_limits.window_start END
RETURNING key, window_start, hits, blocked_until, locks`)

// Lock blocks key for r.Lockout, doubled for each recent lock before, unless
// it is blocked already. A key reset meanwhile (a right password arrived
// between the last allowed failure and its lock) has nothing to lock.
func (l *Limiter) Lock(ctx context.Context, key string, r Rule) (Verdict, error) {
	key = storable(key)
	var c counter
	if err := l.db.NewSelect().Model(&c).Where("key = ?", key).Scan(ctx); errors.Is(err, sql.ErrNoRows) {
		return Verdict{}, nil
	} else if err != nil {
		return Verdict{}, err
	}
	return l.lock(ctx, key, r, c, l.now().UTC())
}

func (l *Limiter) lock(ctx context.Context, key string, r Rule, c counter, now time.Time) (Verdict, error) {
	if c.BlockedUntil != nil && c.BlockedUntil.After(now) {
		return Verdict{Wait: c.BlockedUntil.Sub(now)}, nil
	}
	locks := c.Locks
	if c.BlockedUntil != nil && now.Sub(*c.BlockedUntil) > lockMemory {
		locks = 0
	}
	lockout := r.Lockout * time.Duration(min(1<<min(locks, 30), maxLockGrowth))
	until := now.Add(lockout)
	// Only one caller starts the lock; the condition makes concurrent ones,
	// on any replica, leave it as it is. The next window opens when it ends.
	res, err := l.db.NewUpdate().Model((*counter)(nil)).
		Set("blocked_until = ?", until).Set("locks = ?", locks+1).Set("hits = 0").Set("window_start = ?", until).
		Where("key = ? AND (blocked_until IS NULL OR blocked_until <= ?)", key, now).Exec(ctx)
	if err != nil {
		return Verdict{}, err
	}
	n, _ := res.RowsAffected()
	return Verdict{Wait: lockout, Locked: n == 1}, nil
}

// Refund takes back one attempt counted for key, when the work it was
// counted for could not be done at all (the server was too busy).
func (l *Limiter) Refund(ctx context.Context, key string) error {
	key = storable(key)
	_, err := l.db.NewUpdate().Model((*counter)(nil)).Set("hits = hits - 1").
		Where("key = ? AND hits > 0", key).Exec(ctx)
	return err
}

// Reset forgets key's attempts and locks, as after a successful sign-in.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	key = storable(key)
	_, err := l.db.NewDelete().Model((*counter)(nil)).Where("key = ?", key).Exec(ctx)
	return err
}

// Forget deletes the counters of keys through idb (an erasure's
// transaction): counters named after a person go with the person.
func (l *Limiter) Forget(ctx context.Context, idb bun.IDB, keys ...string) error {
	for i, k := range keys {
		keys[i] = storable(k)
	}
	_, err := idb.NewDelete().Model((*counter)(nil)).Where("key IN (?)", bun.List(keys)).Exec(ctx)
	return err
}

// Address is the part of a client address that limits count: the address
// itself for IPv4, its /64 network for IPv6, since one host usually holds a
// whole /64 and could otherwise take a fresh limit for each address in it.
func Address(ip string) string {
	parsed := net.ParseIP(ip)
	if parsed == nil || parsed.To4() != nil {
		return ip
	}
	return (&net.IPNet{IP: parsed.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// storable turns a key holding control characters (an email typed with a
// NUL, say) into its SHA-256, which every database stores as it is.
func storable(key string) string {
	if !strings.ContainsFunc(key, unicode.IsControl) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}
