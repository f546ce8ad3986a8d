package retention

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/testdb"
)

var policy = Policy{Sessions: 30 * 24 * time.Hour, Tokens: 7 * 24 * time.Hour, Mail: 30 * 24 * time.Hour,
	RateLimits: 48 * time.Hour, Interval: time.Hour}

func TestPurgeDeletesOnlyWhatIsPastItsRetention(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		old, recent, future := now.Add(-60*24*time.Hour), now.Add(-time.Hour), now.Add(24*time.Hour)
		user := uuid.New()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := conn.NewRaw(q, args...).Exec(ctx); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(`INSERT INTO users (id, email, email_key, mobile, first_name, last_name, role, date_joined, updated_at)
			VALUES (?, 'r@x.io', 'r@x.io', '+100000000', 'R', 'X', 'B2C_USER', ?, ?)`, user, old, old)
		// Sessions: one expired long ago (gone, with its refresh token), one revoked long ago (gone), one live.
		goneExpired, goneRevoked, live := uuid.New(), uuid.New(), uuid.New()
		exec(`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at) VALUES
			(?, ?, ?, ?, ?, NULL), (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, NULL)`,
			goneExpired, user, old, old, old, goneRevoked, user, old, old, future, old, live, user, recent, recent, future)
		exec(`INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ('h-old', ?, ?), ('h-live', ?, ?)`, goneExpired, old, live, recent)
		exec(`INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at, used_at) VALUES
			('t-old', ?, 'PASSWORD_RESET', ?, ?, NULL), ('t-live', ?, 'PASSWORD_RESET', ?, ?, NULL)`, user, old, old, user, recent, future)
		exec(`INSERT INTO mail_outbox (id, template, recipient, subject, text_body, html_body, status, next_attempt_at, created_at) VALUES
			(?, 't', 'r@x.io', 's', '', '', 'SENT', ?, ?), (?, 't', 'r@x.io', 's', 'x', 'x', 'PENDING', ?, ?)`,
			uuid.New(), old, old, uuid.New(), old, old)
		exec(`INSERT INTO rate_limits (key, window_start, hits, locks) VALUES ('old', ?, 3, 0), ('recent', ?, 1, 0)`, old, recent)
		// Sign-in challenges: expired ones go, live ones stay.
		exec(`INSERT INTO mfa_challenges (token_hash, user_id, expires_at) VALUES ('m-old', ?, ?), ('m-live', ?, ?)`, user, recent, user, future)
		exec(`INSERT INTO passkey_challenges (id, kind, user_id, challenge, session, expires_at) VALUES
			(?, 'register', ?, 'c1', '{}', ?), (?, 'signin', NULL, 'c2', '{}', ?)`, uuid.New(), user, recent, uuid.New(), future)

		p := New(conn, policy, slog.New(slog.NewTextHandler(io.Discard, nil)))
		p.now = func() time.Time { return now } // the clock moves only when the test says
		counts, ran, err := p.Once(ctx)
		if err != nil || !ran {
			t.Fatalf("purge: ran %v, %v", ran, err)
		}
		if counts != (Counts{Sessions: 2, Tokens: 1, Challenges: 2, Mail: 1, RateLimits: 1}) {
			t.Errorf("purged %+v", counts)
		}
		for table, want := range map[string]int{"sessions": 1, "refresh_tokens": 1, "one_time_tokens": 1, "mail_outbox": 1, "rate_limits": 1,
			"mfa_challenges": 1, "passkey_challenges": 1} {
			var n int
			if err := conn.NewRaw("SELECT count(*) FROM "+table).Scan(ctx, &n); err != nil || n != want {
				t.Errorf("%s: %d rows left (%v), want %d", table, n, err, want)
			}
		}
		// Within the interval the lease is taken: the next call does nothing.
		if _, ran, err := p.Once(ctx); err != nil || ran {
			t.Errorf("second purge within the interval ran: %v %v", ran, err)
		}
		p.now = func() time.Time { return now.Add(time.Hour + time.Second) }
		if _, ran, err := p.Once(ctx); err != nil || !ran {
			t.Errorf("purge after the interval: %v %v", ran, err)
		}
	})
}

// Replicas purging at once: one runs.
func TestOneReplicaPurgesEachTurn(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		var wg sync.WaitGroup
		var mu sync.Mutex
		runs := 0
		for range 6 {
			p := New(conn, policy, slog.New(slog.NewTextHandler(io.Discard, nil)))
			wg.Go(func() {
				_, ran, err := p.Once(context.Background())
				if err != nil {
					t.Error(err)
				}
				if ran {
					mu.Lock()
					runs++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if runs != 1 {
			t.Errorf("%d of 6 replicas purged in one turn, want 1", runs)
		}
	})
}

// The user counter (migration 0010) is the number of users through
// statements that add or remove several users, also while its deltas are
// folded in by a purge running beside new users.
func TestUserCounterFollowsTheUsersTable(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		ctx := context.Background()
		check := func(when string) {
			t.Helper()
			var counted int
			if err := conn.NewRaw("SELECT count(*) FROM users").Scan(ctx, &counted); err != nil {
				t.Fatal(err)
			}
			counter, err := account.UserCount(ctx, conn)
			if err != nil {
				t.Fatal(err)
			}
			if counter != counted {
				t.Errorf("%s: the counter says %d users, the table has %d", when, counter, counted)
			}
		}
		n := 0
		insert := func(k int) {
			t.Helper()
			values, args := "", []any{}
			for range k {
				n++
				if values != "" {
					values += ", "
				}
				values += "(?, ?, ?, ?, 'C', 'X', 'B2C_USER', ?, ?)"
				email := fmt.Sprintf("c%d@x.io", n)
				args = append(args, uuid.New(), email, email, fmt.Sprintf("+1555%06d", n), time.Now(), time.Now())
			}
			if _, err := conn.NewRaw(`INSERT INTO users (id, email, email_key, mobile, first_name, last_name, role, date_joined, updated_at)
				VALUES `+values, args...).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		check("empty")
		insert(3)
		insert(1)
		if _, err := conn.NewRaw("DELETE FROM users WHERE email IN ('c1@x.io', 'c4@x.io')").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		check("after inserts and a delete")
		var wg sync.WaitGroup
		wg.Go(func() {
			for range 20 {
				insert(2)
			}
		})
		p := New(conn, policy, slog.New(slog.NewTextHandler(io.Discard, nil)))
		for i := range 10 {
			p.now = func() time.Time { return time.Now().Add(time.Duration(i) * 2 * time.Hour) }
			if _, ran, err := p.Once(ctx); err != nil || !ran {
				t.Fatalf("purge %d: ran %v, %v", i, ran, err)
			}
		}
		wg.Wait()
		check("after purges beside new users")
		p.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
		if _, ran, err := p.Once(ctx); err != nil || !ran {
			t.Fatalf("last purge: ran %v, %v", ran, err)
		}
		var deltas int
		if err := conn.NewRaw("SELECT count(*) FROM user_count_deltas").Scan(ctx, &deltas); err != nil || deltas != 0 {
			t.Errorf("%d deltas left after a purge (%v), want them folded", deltas, err)
		}
		check("folded")
	})
}
