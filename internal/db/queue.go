package db

import (
	"context"
	"time"
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
