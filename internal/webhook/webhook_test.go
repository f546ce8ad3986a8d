package webhook_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/testdb"
	"github.com/usergraph/usergraph/internal/webhook"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver verifies every request with the Standard Webhooks library and
// answers failFirst failures per webhook-id before accepting it.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	tries     map[string]int
	accepted  []string // payloads, once per webhook-id
	bad       int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	wh, _ := standardwebhooks.NewWebhook(secret)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := wh.Verify(body, req.Header); err != nil {
		r.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := req.Header.Get("webhook-id")
	r.tries[id]++
	if r.tries[id] <= r.failFirst {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	if r.tries[id] == r.failFirst+1 {
		r.accepted = append(r.accepted, string(body))
	}
	w.WriteHeader(http.StatusNoContent)
}

func setup(t *testing.T, dbURL string, rcv *receiver, cfg webhook.Config) (*bun.DB, *audit.Log, *webhook.Hooks) {
	t.Helper()
	conn := testdb.Open(t, dbURL)
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	for i := range cfg.Endpoints {
		cfg.Endpoints[i].URL = srv.URL
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	log := slog.New(slog.DiscardHandler)
	hooks, err := webhook.New(conn, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	a := audit.New(conn, log)
	a.SetSink(hooks)
	return conn, a, hooks
}

// newUser adds a user row for events to be about.
func newUser(t *testing.T, conn *bun.DB) uuid.UUID {
	t.Helper()
	id := uuid.New()
	now := time.Now().UTC()
	_, err := conn.NewRaw(`INSERT INTO users (id, email, email_key, mobile, first_name, last_name, role, date_joined, updated_at)
VALUES (?, ?, ?, '', 'Ada', 'L', 'B2C_USER', ?, ?)`, id, id.String()+"@example.com", id.String()+"@example.com", now, now).Exec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// An event is queued with its change: one that rolls back sends nothing;
// one that commits is delivered, signed, at least once and de-duplicable,
// through failures; events an endpoint did not ask for never go to it.
func TestEventsGoWithTheirChange(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		rcv := &receiver{failFirst: 2, tries: map[string]int{}}
		conn, a, hooks := setup(t, dbURL, rcv, webhook.Config{MaxAttempts: 5, RetryBase: 10 * time.Millisecond, AllowLocal: true,
			Endpoints: []webhook.Endpoint{{ID: "crm", Secret: secret, Events: []string{"user.created", "user.deleted"}}}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() { hooks.Run(ctx); close(done) }()
		user := newUser(t, conn)
		rolledBack := errors.New("the change failed after its audit event")
		err := db.InTx(ctx, conn, func(ctx context.Context, tx bun.Tx) error {
			if err := a.Record(ctx, tx, audit.Entry{Action: audit.AccountCreated, Target: &user}); err != nil {
				return err
			}
			return rolledBack
		})
		if !errors.Is(err, rolledBack) {
			t.Fatal(err)
		}
		err = db.InTx(ctx, conn, func(ctx context.Context, tx bun.Tx) error {
			return a.Record(ctx, tx, audit.Entry{Action: audit.AccountCreated, Target: &user, Details: map[string]any{"role": "B2C_USER", "email": "x@example.com"}},
				audit.Entry{Action: audit.LoginSucceeded, Target: &user}) // not asked for
		})
		if err != nil {
			t.Fatal(err)
		}
		// Done when every queued delivery was accepted: the rolled-back
		// change and the event the endpoint did not ask for queued none.
		waitFor(t, "the deliveries accepted", func() bool {
			var queued, open int
			err := conn.NewRaw("SELECT count(*), count(CASE WHEN status <> 'DELIVERED' THEN 1 END) FROM webhook_deliveries").Scan(ctx, &queued, &open)
			return err == nil && queued > 0 && open == 0
		})
		cancel()
		<-done
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if len(rcv.accepted) != 1 || rcv.bad != 0 {
			t.Fatalf("accepted %v (%d badly signed), want the committed user.created once", rcv.accepted, rcv.bad)
		}
		got := rcv.accepted[0]
		if !strings.Contains(got, `"type":"user.created"`) || !strings.Contains(got, `"userId":"`+user.String()+`"`) ||
			!strings.Contains(got, `"role":"B2C_USER"`) || strings.Contains(got, "x@example.com") {
			t.Errorf("payload %s: want the type, the user id and the facts, no email", got)
		}
		for id, n := range rcv.tries {
			if n != 3 {
				t.Errorf("delivery %s tried %d times, want 3 (two refused, then accepted)", id, n)
			}
		}
	})
}

// A receiver that never accepts: the delivery is DEAD after the last
// attempt, and listed as such.
func TestDeliveriesDieAfterTheLastAttempt(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		rcv := &receiver{failFirst: 1000, tries: map[string]int{}}
		conn, a, hooks := setup(t, dbURL, rcv, webhook.Config{MaxAttempts: 3, RetryBase: 10 * time.Millisecond, AllowLocal: true,
			Endpoints: []webhook.Endpoint{{ID: "down", Secret: secret}}})
		var outcomes []string
		var mu sync.Mutex
		hooks.Outcome = func(_, outcome string) { mu.Lock(); outcomes = append(outcomes, outcome); mu.Unlock() }
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go hooks.Run(ctx)
		user := newUser(t, conn)
		if err := a.Record(ctx, conn, audit.Entry{Action: audit.AccountDeleted, Target: &user}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the delivery dead", func() bool {
			var n int
			err := conn.NewRaw("SELECT count(*) FROM webhook_deliveries WHERE status = 'DEAD'").Scan(ctx, &n)
			return err == nil && n == 1
		})
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(outcomes, ",") != "failed,failed,dead" {
			t.Errorf("outcomes %v", outcomes)
		}
	})
}

// Endpoints on this machine or link-local addresses (cloud metadata) are
// refused unless WEBHOOK_ALLOW_LOCAL, whatever name leads there.
func TestLocalTargetsAreRefused(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		rcv := &receiver{tries: map[string]int{}}
		conn, a, hooks := setup(t, dbURL, rcv, webhook.Config{MaxAttempts: 1, RetryBase: time.Hour,
			Endpoints: []webhook.Endpoint{{ID: "local", Secret: secret}}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go hooks.Run(ctx)
		user := newUser(t, conn)
		if err := a.Record(ctx, conn, audit.Entry{Action: audit.AccountDeleted, Target: &user}); err != nil {
			t.Fatal(err)
		}
		var lastError *string
		waitFor(t, "the local delivery refused", func() bool {
			err := conn.NewRaw("SELECT last_error FROM webhook_deliveries WHERE status = 'DEAD'").Scan(ctx, &lastError)
			return err == nil && lastError != nil
		})
		if !strings.Contains(*lastError, "WEBHOOK_ALLOW_LOCAL") {
			t.Errorf("last error %q", *lastError)
		}
		if len(rcv.tries) != 0 {
			t.Errorf("the local receiver got %d requests", len(rcv.tries))
		}
	})
}

// Bad endpoint settings stop the start.
func TestEndpointSettingsAreChecked(t *testing.T) {
	for what, e := range map[string]webhook.Endpoint{
		"no whsec_":     {ID: "a", URL: "https://x.example", Secret: "plain"},
		"not base64":    {ID: "a", URL: "https://x.example", Secret: "whsec_???"},
		"unknown event": {ID: "a", URL: "https://x.example", Secret: secret, Events: []string{"user.exploded"}},
		"not http":      {ID: "a", URL: "ftp://x.example", Secret: secret},
	} {
		if _, err := webhook.New(nil, webhook.Config{Endpoints: []webhook.Endpoint{e}}, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
}

// waitFor polls cond until it holds; the test fails after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Rows already delivered never fill a worker's batch: after more than a
// batch (20) of them, a new event is still delivered.
func TestDeliveredRowsDoNotHoldUpNewOnes(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		rcv := &receiver{tries: map[string]int{}}
		conn, a, hooks := setup(t, dbURL, rcv, webhook.Config{MaxAttempts: 3, RetryBase: 10 * time.Millisecond, AllowLocal: true,
			Endpoints: []webhook.Endpoint{{ID: "crm", Secret: secret}}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go hooks.Run(ctx)
		user := newUser(t, conn)
		delivered := func(want int) func() bool {
			return func() bool {
				var n int
				err := conn.NewRaw("SELECT count(*) FROM webhook_deliveries WHERE status = 'DELIVERED'").Scan(ctx, &n)
				return err == nil && n == want
			}
		}
		for range 25 {
			if err := a.Record(ctx, conn, audit.Entry{Action: audit.AccountDeleted, Target: &user}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "25 deliveries", delivered(25))
		if err := a.Record(ctx, conn, audit.Entry{Action: audit.AccountDeleted, Target: &user}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the 26th delivery", delivered(26))
	})
}
