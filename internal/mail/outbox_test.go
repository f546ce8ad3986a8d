package mail

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/auth"
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

func sealer(t *testing.T) *auth.Sealer {
	t.Helper()
	s, err := auth.NewSealer("a key-encryption key of 32 characters or more")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A failing email is retried after RetryBase, doubling per attempt, and
// marked FAILED after MaxAttempts; it is never tried before it is due.
func TestRetryBackoffAndMaxAttempts(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		ctx := context.Background()
		c := &clock{t: time.Now().UTC().Truncate(time.Second).Add(time.Second)} // whole seconds: databases keep microseconds
		driver := &countingDriver{sends: map[uuid.UUID]int{}, fail: true}
		o := NewOutbox(conn, driver, OutboxConfig{RetryBase: time.Minute, MaxAttempts: 4, Now: c.now, Sealer: sealer(t)}, quiet)
		if err := o.Enqueue(ctx, conn, Message{Template: "t", To: "a@b.co", Subject: "s", Text: "x", HTML: "x"}); err != nil {
			t.Fatal(err)
		}
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
		driver := &countingDriver{sends: map[uuid.UUID]int{}, took: 3 * time.Millisecond}
		seal := sealer(t)
		if err := NewOutbox(conn, driver, OutboxConfig{Sealer: seal}, quiet).Enqueue(ctx, conn, msgs...); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 {
			o := NewOutbox(conn, driver, OutboxConfig{RetryBase: time.Minute, MaxAttempts: 3, Sealer: seal}, quiet)
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

// recordingDriver keeps what it was asked to send.
type recordingDriver struct {
	mu   sync.Mutex
	sent []Envelope
}

func (d *recordingDriver) Send(_ context.Context, e Envelope) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, e)
	return nil
}

// Queued bodies are stored sealed, bound to their row, and go out as
// written; a body queued before sealing (or moved to another row) is
// handled as what it is.
func TestQueuedBodiesAreSealedAtRest(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		ctx := context.Background()
		driver := &recordingDriver{}
		o := NewOutbox(conn, driver, OutboxConfig{RetryBase: time.Minute, MaxAttempts: 3, Sealer: sealer(t)}, quiet)
		link := "https://app.example/reset-password?token=s3cret-link-token"
		if err := o.Enqueue(ctx, conn, Message{Template: "t", To: "a@b.co", Subject: "s", Text: "open " + link, HTML: "<a href=\"" + link + "\">open</a>"}); err != nil {
			t.Fatal(err)
		}
		var stored outboxRow
		if err := conn.NewSelect().Model(&stored).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored.TextBody+stored.HTMLBody, "s3cret-link-token") || !strings.HasPrefix(stored.TextBody, "gcm1:") {
			t.Errorf("stored bodies are readable: %.60q", stored.TextBody)
		}
		// An email queued before bodies were sealed still goes out as it is.
		legacy := outboxRow{ID: uuid.New(), Template: "t", Recipient: "b@b.co", Subject: "s", TextBody: "plain old", HTMLBody: "<p>plain old</p>",
			Status: StatusPending, NextAttemptAt: time.Now().UTC(), CreatedAt: time.Now().UTC()}
		if _, err := conn.NewInsert().Model(&legacy).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := o.deliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		driver.mu.Lock()
		defer driver.mu.Unlock()
		texts := map[string]string{}
		for _, e := range driver.sent {
			texts[e.To] = e.Text
		}
		if texts["a@b.co"] != "open "+link || texts["b@b.co"] != "plain old" {
			t.Errorf("sent %v", texts)
		}
	})
}
