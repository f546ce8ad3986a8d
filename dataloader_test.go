package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/uptrace/bun/extra/bunotel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/testdb"
)

// queryCounter counts the SQL statements a request runs: the spans of its
// trace that are statements. bun's tracing hook records its queries and a
// db.Stmt records its own (the hot statements, prepared on PostgreSQL),
// so both dialects count alike.
type queryCounter struct {
	rec     *tracetest.SpanRecorder
	queries []string // the last request's, for a failure message
}

// countingServer runs usergraph in-process (the same handler as serve,
// traced into a recorder) and counts the SQL statements of each request.
func countingServer(t *testing.T, dbURL string) (*testServer, *client, *queryCounter) {
	env := testEnv(t, dbURL)
	// Every resolver of a page registers its keys within a second, however
	// slow the race detector and parallel tests make it, so no batch splits
	// and the count is exact (the default window is 5 ms).
	env["GRAPHQL_BATCH_WINDOW"] = "1s"
	env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_MOBILE"], env["BOOTSTRAP_ADMIN_PASSWORD"] = adminEmail, "+12025550001", goodPassword
	cfg, err := config.Load(func(k string) string { return env[k] }, env["ENV_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(ctx, cfg, log, log)
	if err != nil {
		t.Fatal(err)
	}
	counter := &queryCounter{rec: tracetest.NewSpanRecorder()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(counter.rec))
	// As sqlTracing, but with the values written in: lists_test.go explains the list's SQL.
	a.db.AddQueryHook(bunotel.NewQueryHook(bunotel.WithTracerProvider(tp), bunotel.WithFormattedQueries(true)))
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		a.outbox.Run(ctx)
	}()
	hs := httptest.NewServer(traceHTTP(tp, a.handler(cfg, log, a.newMetrics())))
	t.Cleanup(func() { // stop the worker before closing the database it uses
		hs.Close()
		cancel()
		<-workerDone
		a.db.Close()
	})
	if _, err := a.accounts.EnsureBootstrapAdmin(ctx, bootstrapInput(cfg)); err != nil {
		t.Fatal(err)
	}
	srv := &testServer{t: t, URL: hs.URL, dataDir: cfg.DataDir, env: env}
	admin := srv.Client().As(*mustSignIn(t, srv.Client().login(adminEmail, goodPassword)).AccessToken)
	return srv, admin, counter
}

// queriesFor runs q as c and returns how many SQL statements it took.
func queriesFor(t *testing.T, c *client, counter *queryCounter, q string, vars map[string]any, dst any) int64 {
	t.Helper()
	counter.rec.Reset()
	c.MustData(q, vars, dst)
	var request trace.TraceID
	for _, s := range counter.rec.Ended() {
		if s.Name() == "POST /graphql" {
			request = s.SpanContext().TraceID()
		}
	}
	if !request.IsValid() {
		t.Fatal("the request left no trace")
	}
	counter.queries = nil
	for _, s := range counter.rec.Ended() {
		if s.SpanContext().TraceID() != request {
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == "db.statement" {
				counter.queries = append(counter.queries, kv.Value.AsString())
			}
		}
	}
	return int64(len(counter.queries))
}

// A list of users with their related objects costs a fixed number of SQL
// queries, whatever the page size: related rows load in batches. (The issue
// names users(first: 50); the test compares 40 and 63 users so that both
// pages contain every kind of related object.)
func TestUsersListHasNoNPlusOne(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin, counter := countingServer(t, dbURL)

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
			wallet { balance } sessions { id }
		} } } }`
		count := func(n int) int64 {
			var d struct {
				Users struct {
					Edges []struct {
						Node struct {
							Email     string
							CreatedBy *struct{ Email string }
							Batch     *struct{ UserCount int }
							Wallet    *struct{ Balance string }
						}
					} `json:"edges"`
				} `json:"users"`
			}
			queries := queriesFor(t, admin, counter, q, map[string]any{"n": n}, &d)
			if len(d.Users.Edges) != n {
				t.Fatalf("got %d users, want %d", len(d.Users.Edges), n)
			}
			// The related objects are there, not just counted.
			for _, e := range d.Users.Edges {
				u := e.Node
				if (strings.HasPrefix(u.Email, "n0-") || strings.HasPrefix(u.Email, "n1-")) &&
					(u.CreatedBy == nil || u.Batch == nil || u.Batch.UserCount != 30) || u.Wallet == nil || u.Wallet.Balance != "1000000.00" {
					t.Fatalf("user %s came back without its related objects: %+v", u.Email, u)
				}
			}
			return queries
		}
		// Newest first: both pages hold B2B users of both batches and a B2B
		// admin, so they need the same related objects; the second has 63 users.
		// One query per loader (7) and the request's own session check and
		// list make 9 (BENCHMARKS.md). One query per row in any relation would
		// add 40 and 63.
		small, large := count(40), count(63)
		if small != 9 || large != 9 {
			t.Errorf("users(first: 63) ran %d queries and users(first: 40) %d; want 9 each, whatever the page size\n%s",
				large, small, strings.Join(counter.queries, "\n"))
		}
	})
}

// Batches with the first page of their users: a fixed number of queries
// whatever the number of batches, and the same users as each batch's own list.
func TestBatchesWithUsersHaveNoNPlusOne(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin, counter := countingServer(t, dbURL)
		boss := approvedB2BAdmin(t, srv, admin, "bn@corp.test", "+4946000001")
		for i := range 8 {
			batchID := createBatch(t, boss, fmt.Sprintf("B%d", i), 50).Batch.ID
			rows := make([]map[string]any, i) // batch i has i users
			for j := range rows {
				rows[j] = row(fmt.Sprintf("b%d-%d@corp.test", i, j), fmt.Sprintf("+49461%02d%04d", i, j))
			}
			if len(rows) > 0 {
				if res := createB2BUsers(t, boss, batchID, "REJECT_EVERYTHING", rows...); res.Count != i {
					t.Fatalf("seed batch %d: %d users created, %+v", i, res.Count, res.Errors)
				}
			}
		}
		const q = `query($n: Int) { batches(first: $n) { edges { node { id name userCount
			users(first: 3) { totalCount pageInfo { hasNextPage endCursor } edges { node { email } } } } } } }`
		type result struct {
			Batches struct {
				Edges []struct {
					Node struct {
						ID        string `json:"id"`
						Name      string `json:"name"`
						UserCount int    `json:"userCount"`
						Users     struct {
							TotalCount int      `json:"totalCount"`
							PageInfo   pageInfo `json:"pageInfo"`
							emailEdges
						} `json:"users"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"batches"`
		}
		var few, all result
		small := queriesFor(t, boss, counter, q, map[string]any{"n": 2}, &few)
		large := queriesFor(t, boss, counter, q, map[string]any{"n": 8}, &all)
		if len(few.Batches.Edges) != 2 || len(all.Batches.Edges) != 8 {
			t.Fatalf("listed %d and %d batches, want 2 and 8", len(few.Batches.Edges), len(all.Batches.Edges))
		}
		// The session check, the list, the user counts, and the first pages
		// of users (their counts and their rows): 5, whatever the number.
		if small != 5 || large != 5 {
			t.Errorf("8 batches with users took %d queries, 2 batches %d: want 5 each\n%s", large, small, strings.Join(counter.queries, "\n"))
		}
		for _, e := range all.Batches.Edges {
			b := e.Node
			// Another path to the same users: the user list filtered by batch
			// (the account service, not the batch loader), newest first as well.
			const byFilter = `query($id: ID!) { users(first: 100, filter: {batchId: $id}) { edges { node { email } } } }`
			var own struct {
				Users emailEdges `json:"users"`
			}
			boss.MustData(byFilter, map[string]any{"id": b.ID}, &own)
			want, got := own.Users.emails(), b.Users.emails()
			var seeded int
			fmt.Sscanf(b.Name, "B%d", &seeded)
			if b.UserCount != seeded || len(want) != seeded {
				t.Errorf("batch %s: userCount %d, %d users listed, want %d seeded", b.Name, b.UserCount, len(want), seeded)
			}
			n := b.UserCount
			if b.Users.TotalCount != n || len(got) != min(n, 3) || b.Users.PageInfo.HasNextPage != (n > 3) || !slices.Equal(got, want[:len(got)]) {
				t.Errorf("batch %s: %d users, page %v (total %d, next %v), want the first of %v",
					b.Name, n, got, b.Users.TotalCount, b.Users.PageInfo.HasNextPage, want)
			}
			if n > 3 { // the next page continues where the batched one ended
				const batchUsers = `query($id: ID!, $after: String) { batch(id: $id) { users(first: 100, after: $after) { edges { node { email } } } } }`
				var next struct {
					Batch struct {
						Users emailEdges `json:"users"`
					} `json:"batch"`
				}
				boss.MustData(batchUsers, map[string]any{"id": b.ID, "after": *b.Users.PageInfo.EndCursor}, &next)
				rest := next.Batch.Users.emails()
				if !slices.Equal(append(got, rest...), want) {
					t.Errorf("batch %s: first page %v + next %v, want %v", b.Name, got, rest, want)
				}
			}
		}
	})
}

// emailEdges is a connection of users of which only emails were asked.
type emailEdges struct {
	Edges []struct {
		Node struct{ Email string } `json:"node"`
	} `json:"edges"`
}

func (e emailEdges) emails() []string {
	var out []string
	for _, edge := range e.Edges {
		out = append(out, edge.Node.Email)
	}
	return out
}
