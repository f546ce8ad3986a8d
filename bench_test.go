package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/page"
	"github.com/usergraph/usergraph/internal/seed"
	"github.com/usergraph/usergraph/internal/testdb"
)

// Benchmarks drive the real server over HTTP; see BENCHMARKS.md for the
// command and the figures. They run on SQLite, and on PostgreSQL when
// TEST_DATABASE_URL is set.
func benchServers(b *testing.B, f func(b *testing.B, srv *testServer, admin *client)) {
	for _, d := range testdb.Dialects() {
		b.Run(d.Name, func(b *testing.B) {
			env := map[string]string{"LOGIN_MAX_FAILURES": "100000000", "RATE_LIMIT_PER_IP_PER_MINUTE": "100000000", "REFRESH_PER_IP_PER_MINUTE": "100000000",
				"MAIL_POLL_INTERVAL": "1h", "LOG_LEVEL": "error"}
			srv, admin := b2bServer(b, d.URL(b), env)
			f(b, srv, admin)
		})
	}
}

// Wrong email and wrong password must cost about the same (no user
// enumeration by timing); both cost about what a successful login does.
func BenchmarkLogin(b *testing.B) {
	benchServers(b, func(b *testing.B, srv *testServer, _ *client) {
		c := srv.Client()
		mustSignIn(b, c.register(registerInput("bench@example.com", "+4960000001")))
		for _, tc := range []struct{ name, email, password, want string }{
			{"success", "bench@example.com", goodPassword, "OK"},
			{"wrong-password", "bench@example.com", "not-the-password", "INVALID_CREDENTIALS"},
			{"unknown-email", "nobody@example.com", goodPassword, "INVALID_CREDENTIALS"},
		} {
			b.Run(tc.name, func(b *testing.B) {
				for b.Loop() {
					if got := loginCode(c.Do(loginMutation, map[string]any{"email": tc.email, "password": tc.password})); got != tc.want {
						b.Fatalf("login answered %s, want %s", got, tc.want)
					}
				}
			})
		}
	})
}

// The floor that hides whether an email exists. Each request names another
// address (the per-email limit would otherwise answer first), and the
// existing ones are checked to have queued their email.
func BenchmarkRequestPasswordReset(b *testing.B) {
	benchServers(b, func(b *testing.B, srv *testServer, _ *client) {
		c := srv.Client()
		const accounts = 40
		for i := range accounts {
			mustSignIn(b, c.register(registerInput(fmt.Sprintf("reset%d@example.com", i), fmt.Sprintf("+49600100%03d", i))))
		}
		for _, kind := range []string{"existing", "unknown"} {
			b.Run(kind, func(b *testing.B) {
				n := 0
				for b.Loop() {
					email := fmt.Sprintf("nobody%d@example.com", n)
					if kind == "existing" {
						email = fmt.Sprintf("reset%d@example.com", n%accounts)
					}
					var d struct {
						RequestPasswordReset struct{ OK bool } `json:"requestPasswordReset"`
					}
					c.MustData(requestResetMutation, map[string]any{"e": email}, &d)
					if !d.RequestPasswordReset.OK {
						b.Fatal("requestPasswordReset did not answer ok")
					}
					n++
				}
				if kind == "existing" && n <= 3*accounts {
					if queued := srv.outboxCount("@example.com"); queued < min(n, accounts) {
						b.Fatalf("%d requests for existing accounts queued %d emails", n, queued)
					}
				}
			})
		}
	})
}

// One session chaining its refresh tokens: the address's count, then the
// rotation (one statement on PostgreSQL) and a new access token.
func BenchmarkRefreshToken(b *testing.B) {
	benchServers(b, func(b *testing.B, srv *testServer, _ *client) {
		c := srv.Client()
		token := *mustSignIn(b, c.register(registerInput("refresh@example.com", "+4960000002"))).RefreshToken
		for b.Loop() {
			p := c.refresh(token)
			if len(p.Errors) > 0 || p.RefreshToken == nil {
				b.Fatalf("refresh answered %+v", p.Errors)
			}
			token = *p.RefreshToken
		}
	})
}

// An authenticated query: token verification plus the session check.
func BenchmarkMe(b *testing.B) {
	benchServers(b, func(b *testing.B, _ *testServer, admin *client) {
		for b.Loop() {
			var d struct{ Me struct{ Email string } }
			admin.MustData(`{ me { id email } }`, nil, &d)
			if d.Me.Email != adminEmail {
				b.Fatalf("me = %+v", d.Me)
			}
		}
	})
}

// users(first: 50) with related objects through the data loaders.
func BenchmarkUsersList50(b *testing.B) {
	benchServers(b, func(b *testing.B, srv *testServer, admin *client) {
		boss := approvedB2BAdmin(b, srv, admin, "lb@corp.test", "+4960000003")
		batchID := createBatch(b, boss, "L", 100).Batch.ID
		rows := make([]map[string]any, 60)
		for i := range rows {
			rows[i] = row(fmt.Sprintf("l%02d@corp.test", i), fmt.Sprintf("+496100%05d", i))
		}
		if res := createB2BUsers(b, boss, batchID, "REJECT_EVERYTHING", rows...); res.Count != len(rows) {
			b.Fatalf("seeded %d users", res.Count)
		}
		const q = `{ users(first: 50) { totalCount edges { node { id email createdBy { email } batch { name userCount } approval { status } wallet { balance } } } } }`
		for b.Loop() {
			var r usersResult
			admin.MustData(q, nil, &r)
			if len(r.Users.Edges) != 50 || r.Users.TotalCount < 60 {
				b.Fatalf("users(first: 50) listed %d of %d", len(r.Users.Edges), r.Users.TotalCount)
			}
		}
	})
}

// One createB2BUsers call with 1000 rows: users, tokens, emails, wallets,
// ledger entries and audit events in one transaction.
func BenchmarkCreateB2BUsers1000(b *testing.B) {
	benchServers(b, func(b *testing.B, srv *testServer, admin *client) {
		boss := approvedB2BAdmin(b, srv, admin, "cb@corp.test", "+4960000004")
		n := 0
		for b.Loop() {
			batchID := createBatch(b, boss, fmt.Sprintf("C%d", n), 1000).Batch.ID
			rows := make([]map[string]any, 1000)
			for i := range rows {
				rows[i] = row(fmt.Sprintf("c%d-%04d@corp.test", n, i), fmt.Sprintf("+49%02d%09d", n%100, i))
			}
			if res := createB2BUsers(b, boss, batchID, "REJECT_EVERYTHING", rows...); res.Count != 1000 {
				b.Fatalf("created %d", res.Count)
			}
			n++
		}
	})
}

// adjustWallet on one wallet, one request at a time.
func BenchmarkAdjustWallet(b *testing.B) {
	benchServers(b, func(b *testing.B, srv *testServer, admin *client) {
		id := mustSignIn(b, srv.Client().register(registerInput("w@example.com", "+4960000005"))).User.ID
		i := 0
		for b.Loop() {
			if p := adjust(b, admin, id, "CREDIT", "1.00", fmt.Sprintf("b-%d", i)); p.Transaction == nil || len(p.Errors) > 0 {
				b.Fatalf("adjustWallet: %+v", p.Errors)
			}
			i++
		}
	})
}

// The users-list SQL alone (the service, no HTTP or GraphQL), as an admin
// over 20,000 seeded users: each order and filter of bench/run.sh. With a
// million users on PostgreSQL the same pages are index ranges too
// (TestUserListsAreIndexRanges); bench/run.sh measures them there.
func BenchmarkUsersListSQL(b *testing.B) {
	for _, d := range testdb.Dialects() {
		b.Run(d.Name, func(b *testing.B) {
			env := testEnv(b, d.URL(b))
			env["LOG_LEVEL"] = "error"
			cfg, err := config.Load(func(k string) string { return env[k] }, env["ENV_FILE"])
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			a, err := newApp(ctx, cfg, log, log)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { a.db.Close() })
			if err := seed.Run(ctx, a.db, seed.Options{Users: 20_000, Batches: 20, PasswordHash: "x", Seed: 1}); err != nil {
				b.Fatal(err)
			}
			var batchID uuid.UUID
			if err := a.db.NewSelect().Table("batches").Column("id").Limit(1).Scan(ctx, &batchID); err != nil {
				b.Fatal(err)
			}
			ctx = auth.WithViewer(ctx, auth.Viewer{UserID: uuid.New(), Role: auth.RoleAdmin})
			lee, rare := "lee", "10007@"
			for _, c := range []struct {
				name   string
				filter account.UserFilter
				order  account.UserOrder
			}{
				{"newest", account.UserFilter{}, account.UserOrder{}},
				{"search-lee", account.UserFilter{Search: &lee}, account.UserOrder{}},
				{"search-rare", account.UserFilter{Search: &rare}, account.UserOrder{}},
				{"batch", account.UserFilter{BatchID: &batchID}, account.UserOrder{}},
				{"last-login", account.UserFilter{}, account.UserOrder{Field: account.OrderLastLogin}},
				{"email", account.UserFilter{}, account.UserOrder{Field: account.OrderEmail, Asc: true}},
			} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						p, err := a.accounts.Users(ctx, c.filter, c.order, page.Args{})
						if err != nil || len(p.Items) == 0 {
							b.Fatalf("%d users, %v", len(p.Items), err)
						}
					}
				})
			}
		})
	}
}
