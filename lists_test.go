package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/testdb"
)

// Every users() page is an index range on PostgreSQL, whatever its order
// or filter, and a search can use the trigram index: the SQL that
// internal/account writes must match the expressions migration 0007
// indexes, or a million-user list falls back to reading every row
// (BENCHMARKS.md). The test captures the SQL a real request runs and asks
// PostgreSQL for its plan with sequential scans (and sorts, for orders)
// priced out, so only a matching index gives a plan without them. It also
// shows that a page that does not select totalCount counts nothing, and
// that the whole directory's totalCount counts no rows.
func TestUserListsAreIndexRanges(t *testing.T) {
	dbURL := testdb.Postgres(t)
	srv, admin, counter := countingServer(t, dbURL)
	boss := approvedB2BAdmin(t, srv, admin, "lists@corp.test", "+4939000077")
	batchID := createBatch(t, boss, "Team", 100).Batch.ID
	if res := createB2BUsers(t, boss, batchID, "REJECT_EVERYTHING", row("lee.one@corp.test", "+4939100001"), row("ann.two@corp.test", "+4939100002")); res.Count != 2 {
		t.Fatalf("seed: %+v", res.Errors)
	}
	var first struct {
		Users struct{ Edges []struct{ Cursor string } }
	}
	admin.MustData(`{ users(first: 1) { edges { cursor } } }`, nil, &first)
	var me struct{ Me struct{ ID string } }
	boss.MustData(`{ me { id } }`, nil, &me)

	conn, err := db.Open(context.Background(), dbURL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// plan explains sql with the given planner methods switched off.
	plan := func(sql string, off ...string) string {
		t.Helper()
		ctx := context.Background()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for _, m := range off {
			if _, err := tx.ExecContext(ctx, "SET LOCAL enable_"+m+" = off"); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.QueryContext(ctx, "EXPLAIN "+sql)
		if err != nil {
			t.Fatalf("explain %s: %v", sql, err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, line)
		}
		return strings.Join(lines, "\n")
	}

	const list = `query($f: UserFilter, $o: UserOrder, $a: String) {
		users(first: 20, filter: $f, orderBy: $o, after: $a) { edges { node { id } } } }`
	for _, c := range []struct {
		name  string
		vars  map[string]any
		index string
		off   []string // planner methods priced out
	}{
		{"newest first", nil, "users_date_joined_idx", []string{"seqscan", "sort"}},
		{"oldest first", map[string]any{"o": map[string]any{"direction": "ASC"}}, "users_date_joined_idx", []string{"seqscan", "sort"}},
		{"after a cursor", map[string]any{"a": first.Users.Edges[0].Cursor}, "users_date_joined_idx", []string{"seqscan", "sort"}},
		{"by last login", map[string]any{"o": map[string]any{"field": "LAST_LOGIN"}}, "users_last_login_idx", []string{"seqscan", "sort"}},
		{"by last login, after a cursor", map[string]any{"o": map[string]any{"field": "LAST_LOGIN"}, "a": first.Users.Edges[0].Cursor}, "users_last_login_idx", []string{"seqscan", "sort"}},
		{"by email", map[string]any{"o": map[string]any{"field": "EMAIL", "direction": "ASC"}}, "users_email_order_idx", []string{"seqscan", "sort"}},
		{"one batch", map[string]any{"f": map[string]any{"batchId": batchID}}, "users_batch_idx", []string{"seqscan", "sort"}},
		{"one role", map[string]any{"f": map[string]any{"role": "B2B_USER"}}, "users_role_joined_idx", []string{"seqscan", "sort"}},
		{"created by", map[string]any{"f": map[string]any{"createdById": me.Me.ID}}, "users_created_by_idx", []string{"seqscan", "sort"}},
		// Only the trigram index can take a substring search as a condition.
		{"search", map[string]any{"f": map[string]any{"search": "lee tw"}}, "users_search_trgm_idx", []string{"seqscan", "indexscan"}},
		{"search an email", map[string]any{"f": map[string]any{"search": "Lee.One@corp.test"}}, "users_search_trgm_idx", []string{"seqscan", "indexscan"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d struct {
				Users struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			queriesFor(t, admin, counter, list, c.vars, &d)
			var listSQL string
			for _, q := range counter.queries {
				if strings.Contains(strings.ToLower(q), "count(") {
					t.Errorf("a page without totalCount counted: %s", q)
				}
				if strings.Contains(q, `FROM "users" AS "u"`) && strings.Contains(q, "ORDER BY") {
					listSQL = q
				}
			}
			if listSQL == "" {
				t.Fatalf("no users list query among %q", counter.queries)
			}
			p := plan(listSQL, c.off...)
			if !strings.Contains(p, c.index) || strings.Contains(p, "Seq Scan") || (len(c.off) > 1 && c.off[1] == "sort" && strings.Contains(p, "Sort")) {
				t.Errorf("plan does not read %s in order:\n%s\nfor %s", c.index, p, listSQL)
			}
		})
	}

	// A search for an address looks the index up by its local part but
	// matches the whole word, like any other search.
	for search, want := range map[string]int{"Lee.One@corp.test": 1, "e.one@corp": 1, "lee.one@corp.tesx": 0, "corp.test": 3} {
		var d struct {
			Users struct {
				Edges []struct{ Node struct{ Email string } }
			}
		}
		admin.MustData(`query($s: String) { users(filter: {search: $s}) { edges { node { email } } } }`, map[string]any{"s": search}, &d)
		if len(d.Users.Edges) != want {
			t.Errorf("search %q found %v, want %d users", search, d.Users.Edges, want)
		}
	}

	// Selecting totalCount for the whole directory reads the user counter
	// (migration 0010) and counts no rows; with a filter it counts once.
	counts := func(q string) (total, counted int) {
		var d struct{ Users struct{ TotalCount int } }
		queriesFor(t, admin, counter, q, nil, &d)
		for _, q := range counter.queries {
			if strings.Contains(strings.ToLower(q), "count(") {
				counted++
			}
		}
		return d.Users.TotalCount, counted
	}
	// The bootstrap admin, the B2B admin and its two users.
	if total, counted := counts(`{ users(first: 5) { totalCount } }`); total != 4 || counted != 0 {
		t.Errorf("whole directory: totalCount = %d with %d count queries; want 4 with none", total, counted)
	}
	if total, counted := counts(`{ users(first: 5, filter: {role: B2B_USER}) { totalCount } }`); total != 2 || counted != 1 {
		t.Errorf("filtered: totalCount = %d with %d count queries; want 2 with 1", total, counted)
	}
}

// Connections: default page 20, at most 100 (schema descriptions).
func TestPageSizeDefaultAndBound(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		boss := approvedB2BAdmin(t, srv, admin, "pages@corp.test", "+4931500000")
		batchID := createBatch(t, boss, "Pages", 30).Batch.ID
		rows := make([]map[string]any, 25)
		for i := range rows {
			rows[i] = row(fmt.Sprintf("p%02d@corp.test", i), fmt.Sprintf("+493151%05d", i))
		}
		if res := createB2BUsers(t, boss, batchID, "REJECT_EVERYTHING", rows...); res.Count != 25 {
			t.Fatalf("seeded %d", res.Count)
		}
		for _, tc := range []struct {
			first any
			want  int
		}{{nil, 20}, {100, 25}, {3, 3}} {
			var r usersResult
			boss.MustData(usersQuery, map[string]any{"first": tc.first}, &r)
			if len(r.Users.Edges) != tc.want || r.Users.TotalCount != 25 {
				t.Errorf("first %v: %d users of %d, want %d", tc.first, len(r.Users.Edges), r.Users.TotalCount, tc.want)
			}
		}
		for _, first := range []int{101, -1} {
			if code := boss.Do(usersQuery, map[string]any{"first": first}).Code(); code != "BAD_REQUEST" {
				t.Errorf("first %d: %q, want BAD_REQUEST", first, code)
			}
		}
	})
}
