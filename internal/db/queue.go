package db

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// RunQueue is the loop of a worker that drains a table of due work (the
// mail outbox, webhook deliveries): batch handles what is due and says how
// many it handled; it runs again at once while it finds work, then after
// poll, or as soon as wake has a signal (a commit that queued some), until
// ctx ends. Errors go to onErr and end the round.
func RunQueue(ctx context.Context, poll time.Duration, wake <-chan struct{}, batch func(context.Context) (int, error), onErr func(error)) {
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		for {
			n, err := batch(ctx)
			if err != nil && ctx.Err() == nil {
				onErr(err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-wake:
		}
	}
}

// Backoff is the delay before retry number attempts: base, doubled per
// earlier attempt, at most an hour.
func Backoff(base time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Queued is a row of a work queue table (the mail outbox, webhook
// deliveries): an id, status PENDING until done, next_attempt_at and
// locked_until.
type Queued interface{ QueueID() uuid.UUID }

// TakeDue reads up to 20 rows of a work queue that are due (PENDING, their
// next attempt has come, not leased to a worker), leases each to this worker
// until now+lease, which must outlast an attempt, and hands handle each row
// it won: a row is won by one worker only, on any replica. It reports how
// many rows it handled, for RunQueue.
func TakeDue[T any, P interface {
	*T
	Queued
}](ctx context.Context, idb bun.IDB, now time.Time, lease time.Duration, handle func(context.Context, P)) (int, error) {
	var due []T
	err := idb.NewSelect().Model(&due).
		Where("status = 'PENDING' AND next_attempt_at <= ?", now).
		Where("(locked_until IS NULL OR locked_until < ?)", now).
		Order("next_attempt_at", "id").Limit(20).Scan(ctx)
	if err != nil {
		return 0, err
	}
	handled := 0
	for i := range due {
		row := P(&due[i])
		res, err := idb.NewUpdate().Model((*T)(nil)).Set("locked_until = ?", now.Add(lease)).
			Where("id = ? AND status = 'PENDING'", row.QueueID()).
			Where("(locked_until IS NULL OR locked_until < ?)", now).Exec(ctx)
		if err != nil {
			return handled, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return handled, err
		} else if n == 1 {
			handle(ctx, row)
			handled++
		}
	}
	return handled, nil
}
