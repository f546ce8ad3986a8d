package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/httpserver"
	"github.com/usergraph/usergraph/internal/testdb"
)

// queryCounter counts the SQL statements bun runs.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}
func (c *queryCounter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if !strings.Contains(e.Query, "mail_outbox") { // the delivery worker runs beside the request
		c.n.Add(1)
	}
}

// A list of users with their related objects costs a fixed number of SQL
// queries, whatever the page size: related rows load in batches. (The issue
// names users(first: 50); the test compares 40 and 63 users so that both
// pages contain every kind of related object.)
func TestUsersListHasNoNPlusOne(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_MOBILE"], env["BOOTSTRAP_ADMIN_PASSWORD"] = adminEmail, "+10000000001", goodPassword
		cfg, err := config.Load(func(k string) string { return env[k] }, env["ENV_FILE"])
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		a, err := newApp(ctx, cfg, log, log)
		if err != nil {
			t.Fatal(err)
		}
		workerDone := make(chan struct{})
		go func() {
			defer close(workerDone)
			a.outbox.Run(ctx)
		}()
		defer func() { // stop the worker before closing the database it uses
			cancel()
			<-workerDone
			a.db.Close()
		}()
		if _, err := a.accounts.EnsureBootstrapAdmin(ctx, bootstrapInput(cfg)); err != nil {
			t.Fatal(err)
		}
		counter := &queryCounter{}
		a.db.AddQueryHook(counter)
		hs := httptest.NewServer(httpserver.NewServer(httpserver.Deps{
			Config: cfg, Log: log, DB: a.db, Accounts: a.accounts, Batches: a.batches, Wallets: a.wallets,
			Audit: a.audit, Media: a.media, Tokens: a.tokens, Keys: a.keys, SchemaSDL: schemaSDL,
		}))
		defer hs.Close()
		srv := &testServer{t: t, URL: hs.URL, dataDir: cfg.DataDir, env: env}
		admin := srv.Client().As(*mustSignIn(t, srv.Client().login(adminEmail, goodPassword)).AccessToken)

		// Two B2B admins with a batch each, 30 users per batch.
		for i := range 2 {
			boss := approvedB2BAdmin(t, srv, admin, fmt.Sprintf("nplus%d@corp.test", i), fmt.Sprintf("+493900001%d", i))
			batchID := createBatch(t, boss, "Team", 100).Batch.ID
			rows := make([]map[string]any, 30)
			for j := range rows {
				rows[j] = row(fmt.Sprintf("n%d-%02d@corp.test", i, j), fmt.Sprintf("+49391%d%05d", i, j))
			}
			if res := createB2BUsers(t, boss, batchID, "REJECT_EVERYTHING", rows...); res.Count != 30 {
				t.Fatalf("seed: %+v", res.Errors)
			}
		}
		const q = `query($n: Int) { users(first: $n) { totalCount edges { node {
			id email createdBy { id email } batch { id name userCount canAddUsers createdBy { email } } approval { status decidedBy { email } }
		} } } }`
		queriesFor := func(n int) int64 {
			var d struct {
				Users struct {
					Edges []any `json:"edges"`
				} `json:"users"`
			}
			counter.n.Store(0)
			admin.MustData(q, map[string]any{"n": n}, &d)
			if len(d.Users.Edges) != n {
				t.Fatalf("got %d users, want %d", len(d.Users.Edges), n)
			}
			return counter.n.Load()
		}
		// Newest first: both pages hold B2B users of both batches and a B2B
		// admin, so they need the same related objects; the second has 63 users.
		// One query per loader is typical (7 in all). A loader batch can split
		// in two when the machine is so busy that some resolvers start after
		// the loader's 5 ms window; that is a query more, not one per row. One
		// query per row would be 40 and 63 queries more.
		small, large := queriesFor(40), queriesFor(63)
		t.Logf("users(first: 40): %d queries; users(first: 63): %d queries", small, large)
		if small > 12 || large > 12 {
			t.Errorf("users(first: 63) ran %d queries and users(first: 40) %d; want at most 12 each, whatever the page size", large, small)
		}
	})
}
