package mail

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/usergraph/usergraph/internal/testdb"
)

// countingDriver records each send; fail decides whether a send fails.
type countingDriver struct {
	mu    sync.Mutex
	sends map[uuid.UUID]int
	fail  bool
	// took is how long a send takes, as a provider's API call does.
	took time.Duration
}

func (d *countingDriver) Send(_ context.Context, e Envelope) error {
	time.Sleep(d.took)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sends[e.ID]++
	if d.fail {
		return errors.New("provider down")
	}
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A failing email is retried after RetryBase, doubling per attempt, and
// marked FAILED after MaxAttempts; it is never tried before it is due.
func TestRetryBackoffAndMaxAttempts(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		ctx := context.Background()
		if err := Enqueue(ctx, conn, Message{Template: "t", To: "a@b.co", Subject: "s", Text: "x", HTML: "x"}); err != nil {
			t.Fatal(err)
		}
		c := &clock{t: time.Now().UTC().Truncate(time.Second).Add(time.Second)} // whole seconds: databases keep microseconds
		driver := &countingDriver{sends: map[uuid.UUID]int{}, fail: true}
		o := NewOutbox(conn, driver, OutboxConfig{RetryBase: time.Minute, MaxAttempts: 4, Now: c.now}, quiet)
		row := func() outboxRow {
			var r outboxRow
			if err := conn.NewSelect().Model(&r).Scan(ctx); err != nil {
				t.Fatal(err)
			}
			return r
		}
		attempts := func() int {
			driver.mu.Lock()
			defer driver.mu.Unlock()
			n := 0
			for _, v := range driver.sends {
				n += v
			}
			return n
		}
		for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
			before := c.now()
			if _, err := o.deliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			r := row()
			if r.Attempts != i+1 || r.Status != StatusPending || !r.NextAttemptAt.Equal(before.Add(wait)) {
				t.Fatalf("after attempt %d: %d attempts, %s, next in %v; want next in %v", i+1, r.Attempts, r.Status, r.NextAttemptAt.Sub(before), wait)
			}
			// Not due yet: nothing is sent.
			c.add(wait - time.Second)
			if _, err := o.deliverDue(ctx); err != nil || attempts() != i+1 {
				t.Fatalf("an email was sent %d times before it was due (%v)", attempts(), err)
			}
			c.add(time.Second)
		}
		if _, err := o.deliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		if r := row(); r.Status != StatusFailed || r.Attempts != 4 || r.LastError == nil || r.TextBody != "" || r.HTMLBody != "" {
			t.Errorf("after MaxAttempts: %s, %d attempts, bodies kept: %v", r.Status, r.Attempts, r.TextBody != "" || r.HTMLBody != "")
		}
		c.add(24 * time.Hour)
		if _, err := o.deliverDue(ctx); err != nil || attempts() != 4 {
			t.Errorf("a FAILED email was tried again: %d attempts", attempts())
		}
	})
}

// Two workers on one database, polling at once, send each email once.
func TestTwoWorkersNeverSendOneEmailTwice(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		ctx := context.Background()
		msgs := make([]Message, 60)
		for i := range msgs {
			msgs[i] = Message{Template: "t", To: "a@b.co", Subject: "s", Text: "x", HTML: "x"}
		}
		if err := Enqueue(ctx, conn, msgs...); err != nil {
			t.Fatal(err)
		}
		driver := &countingDriver{sends: map[uuid.UUID]int{}, took: 3 * time.Millisecond}
		var wg sync.WaitGroup
		for range 2 {
			o := NewOutbox(conn, driver, OutboxConfig{RetryBase: time.Minute, MaxAttempts: 3}, quiet)
			wg.Go(func() {
				for range 10 { // each poll takes up to 20 due emails
					if _, err := o.deliverDue(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		var kept int
		if err := conn.NewRaw("SELECT count(*) FROM mail_outbox WHERE text_body != '' OR html_body != ''").Scan(ctx, &kept); err != nil || kept != 0 {
			t.Errorf("%d sent emails kept their bodies (%v)", kept, err)
		}
		driver.mu.Lock()
		defer driver.mu.Unlock()
		if len(driver.sends) != 60 {
			t.Errorf("%d of 60 emails sent", len(driver.sends))
		}
		for id, n := range driver.sends {
			if n != 1 {
				t.Errorf("email %s sent %d times", id, n)
			}
		}
	})
}
