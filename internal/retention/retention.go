// Package retention deletes what usergraph no longer needs: ended sessions
// with their refresh tokens, spent or expired one-time tokens, expired
// sign-in challenges (second factor, passkeys), delivered or
// abandoned emails, and stale rate-limit counters; and it folds the
// user-count deltas into their counter. It runs on a schedule;
// of several replicas one runs each turn (a lease in the database).
package retention

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
)

// Policy says how long each kind of row is kept after it stopped mattering,
// and how often to look.
type Policy struct {
	Sessions   time.Duration // after a session ended (revoked or expired)
	Tokens     time.Duration // after a one-time token was spent or expired
	Mail       time.Duration // after an email was sent or abandoned
	RateLimits time.Duration // after a counter's window and lock ended
	Interval   time.Duration
}

// Counts are the rows one run deleted.
type Counts struct{ Sessions, Tokens, Challenges, Mail, RateLimits int64 }

// Purger runs the purge.
type Purger struct {
	db     *bun.DB
	policy Policy
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Purger over db.
func New(db *bun.DB, policy Policy, log *slog.Logger) *Purger {
	return &Purger{db: db, policy: policy, log: log, now: time.Now}
}

// Run purges every Interval until ctx ends.
func (p *Purger) Run(ctx context.Context) {
	tick := time.NewTicker(p.policy.Interval)
	defer tick.Stop()
	for {
		if counts, ran, err := p.Once(ctx); err != nil {
			if ctx.Err() == nil {
				p.log.Error("retention: purge failed", "error", err.Error())
			}
		} else if ran {
			p.log.Info("retention: purged", "sessions", counts.Sessions, "tokens", counts.Tokens, "challenges", counts.Challenges,
				"mail", counts.Mail, "rate_limits", counts.RateLimits)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

const lease = "retention"

// Once takes this turn's lease and purges; ran is false when another
// replica (or an earlier call) already ran within the interval.
func (p *Purger) Once(ctx context.Context) (counts Counts, ran bool, err error) {
	now := p.now().UTC()
	if _, err := p.db.NewRaw("INSERT INTO job_leases (name, run_after) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
		lease, now).Exec(ctx); err != nil {
		return counts, false, err
	}
	res, err := p.db.NewRaw("UPDATE job_leases SET run_after = ? WHERE name = ? AND run_after <= ?",
		now.Add(p.policy.Interval), lease, now).Exec(ctx)
	if err != nil {
		return counts, false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return counts, false, nil
	}
	steps := []struct {
		n    *int64
		stmt string
		args []any
	}{
		{&counts.Sessions, "DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?",
			[]any{now.Add(-p.policy.Sessions), now.Add(-p.policy.Sessions)}},
		{&counts.Tokens, "DELETE FROM one_time_tokens WHERE expires_at < ? OR used_at < ?",
			[]any{now.Add(-p.policy.Tokens), now.Add(-p.policy.Tokens)}},
		// Sign-in steps under way (second-factor and passkey challenges)
		// are of no use once expired.
		{&counts.Challenges, "DELETE FROM mfa_challenges WHERE expires_at < ?", []any{now}},
		{&counts.Challenges, "DELETE FROM passkey_challenges WHERE expires_at < ?", []any{now}},
		{&counts.Challenges, "DELETE FROM social_flows WHERE expires_at < ?", []any{now}},
		{&counts.Mail, "DELETE FROM mail_outbox WHERE status IN ('SENT', 'FAILED') AND created_at < ?",
			[]any{now.Add(-p.policy.Mail)}},
		// Webhook deliveries done with are kept as long as sent emails.
		{&counts.Mail, "DELETE FROM webhook_deliveries WHERE status IN ('DELIVERED', 'DEAD') AND created_at < ?",
			[]any{now.Add(-p.policy.Mail)}},
		{&counts.RateLimits, "DELETE FROM rate_limits WHERE window_start < ? AND (blocked_until IS NULL OR blocked_until < ?)",
			[]any{now.Add(-p.policy.RateLimits), now.Add(-p.policy.RateLimits)}},
	}
	for _, s := range steps {
		var res sql.Result
		if res, err = p.db.NewRaw(s.stmt, s.args...).Exec(ctx); err != nil {
			return counts, true, err
		}
		n, _ := res.RowsAffected()
		*s.n += n
	}
	// Fold the user-count deltas into the counter (migration 0010). One
	// statement: a delta appended meanwhile is neither lost nor added twice.
	if db.IsPostgres(p.db) {
		_, err = p.db.NewRaw(`WITH d AS (DELETE FROM user_count_deltas RETURNING n)
UPDATE user_count SET n = n + (SELECT COALESCE(sum(n), 0) FROM d)`).Exec(ctx)
	}
	return counts, true, err
}
