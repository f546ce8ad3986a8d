package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/testdb"
)

func TestUsersFiltersOrderAndPages(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		boss := approvedB2BAdmin(t, srv, admin, "lister@corp.test", "+4940000001")
		rival := approvedB2BAdmin(t, srv, admin, "rival@corp.test", "+4940000002")
		sales := createBatch(t, boss, "Sales", 50).Batch.ID
		ops := createBatch(t, boss, "Ops", 50).Batch.ID
		rivalBatch := createBatch(t, rival, "Sales", 50).Batch.ID // same name, other owner: allowed
		for i, name := range []string{"Zoe Quinn", "Adam Quinn", "Mia Stone", "Liam Stone", "Ava Brook"} {
			batchID := sales
			if i >= 3 {
				batchID = ops
			}
			in := map[string]any{"batchId": batchID, "email": fmt.Sprintf("%s@corp.test", slug(name)),
				"mobile": fmt.Sprintf("+494100000%d", i), "firstName": name[:3], "lastName": name[4:]}
			var d struct{ CreateB2BUser payloadUser }
			boss.MustData(createB2BUserMutation, map[string]any{"in": in}, &d)
			if d.CreateB2BUser.User == nil {
				t.Fatalf("create %s: %v", name, codes(d.CreateB2BUser.Errors))
			}
		}
		createB2BUser(t, rival, rivalBatch, "foreign@rival.test", "+4942000000")
		onboard(t, srv, "liam.stone@corp.test") // gives Liam a lastLogin
		// A pending B2B admin (not approved) and a rejected one (not approved, inactive).
		createB2BAdmin(t, admin, "pending@corp.test", "+4940000003")
		rejected := createB2BAdmin(t, admin, "rejected@corp.test", "+4940000004")
		admin.MustData(rejectMutation, map[string]any{"id": rejected, "reason": "No contract"}, &struct{}{})

		list := func(c *client, vars map[string]any) usersResult {
			var r usersResult
			c.MustData(usersQuery, vars, &r)
			return r
		}
		// A B2B admin sees only the users it created, whatever the filter says.
		if got := list(boss, nil).emails(); len(got) != 5 || slices.Contains(got, "foreign@rival.test") {
			t.Errorf("boss sees %v", got)
		}
		if got := list(rival, map[string]any{"f": map[string]any{"batchId": sales}}).emails(); len(got) != 0 {
			t.Errorf("rival filtering on boss's batch sees %v", got)
		}
		// Filters.
		cases := []struct {
			name string
			f    map[string]any
			want []string
		}{
			{"search every word", map[string]any{"search": "quinn ZO"}, []string{"zoe.quinn@corp.test"}},
			{"search mobile", map[string]any{"search": "+4941000004"}, []string{"ava.brook@corp.test"}},
			{"search wildcard is literal", map[string]any{"search": "%"}, nil},
			{"batch", map[string]any{"batchId": ops}, []string{"ava.brook@corp.test", "liam.stone@corp.test"}},
			{"role", map[string]any{"role": "B2B_ADMIN"}, []string{"rejected@corp.test", "pending@corp.test", "rival@corp.test", "lister@corp.test"}},
			{"approved b2b admins", map[string]any{"role": "B2B_ADMIN", "isApproved": true, "createdById": nil}, []string{"rival@corp.test", "lister@corp.test"}},
			{"unapproved b2b admins", map[string]any{"role": "B2B_ADMIN", "isApproved": false}, []string{"rejected@corp.test", "pending@corp.test"}},
			{"inactive", map[string]any{"isActive": false}, []string{"rejected@corp.test"}},
			{"active and unapproved", map[string]any{"isActive": true, "isApproved": false}, []string{"pending@corp.test"}},
		}
		for _, tc := range cases {
			if got := list(admin, map[string]any{"f": tc.f}).emails(); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
		// Orders, against expectations computed here from the rows' values.
		created := []string{"ava.brook@corp.test", "liam.stone@corp.test", "mia.stone@corp.test", "adam.quinn@corp.test", "zoe.quinn@corp.test"}
		if got := list(boss, nil).emails(); !slices.Equal(got, created) {
			t.Errorf("default order (newest first) = %v, want %v", got, created)
		}
		byEmail := slices.Sorted(slices.Values(created))
		if got := list(boss, map[string]any{"o": map[string]any{"field": "EMAIL", "direction": "ASC"}}).emails(); !slices.Equal(got, byEmail) {
			t.Errorf("EMAIL ASC = %v, want %v", got, byEmail)
		}
		all := list(admin, map[string]any{"first": 100}).Users.Edges
		type node = struct {
			ID, Email string
			LastLogin time.Time
			Joined    time.Time
		}
		nodes := make([]node, len(all))
		for i, e := range all {
			nodes[i] = node{ID: e.Node.ID, Email: e.Node.Email, Joined: e.Node.DateJoined}
			if e.Node.LastLogin != nil {
				nodes[i].LastLogin = *e.Node.LastLogin
			}
		}
		expect := func(cmp func(a, b node) int) []string {
			sorted := slices.Clone(nodes)
			slices.SortFunc(sorted, func(a, b node) int {
				if c := cmp(a, b); c != 0 {
					return c
				}
				return strings.Compare(a.ID, b.ID)
			})
			out := make([]string, len(sorted))
			for i, n := range sorted {
				out[i] = n.Email
			}
			return out
		}
		reverse := func(s []string) []string { slices.Reverse(s); return s }
		orders := []struct {
			order map[string]any
			want  []string
		}{
			{nil, reverse(expect(func(a, b node) int { return a.Joined.Compare(b.Joined) }))},
			{map[string]any{"field": "EMAIL", "direction": "DESC"}, reverse(expect(func(a, b node) int { return strings.Compare(a.Email, b.Email) }))},
			{map[string]any{"field": "LAST_LOGIN", "direction": "ASC"}, expect(func(a, b node) int { return a.LastLogin.Compare(b.LastLogin) })},
			{map[string]any{"field": "LAST_LOGIN", "direction": "DESC"}, reverse(expect(func(a, b node) int { return a.LastLogin.Compare(b.LastLogin) }))},
		}
		// Pages of 2 walk every user once, in the expected order.
		for _, o := range orders {
			if whole := list(admin, map[string]any{"o": o.order, "first": 100}).emails(); !slices.Equal(whole, o.want) {
				t.Errorf("order %v: %v, want %v", o.order, whole, o.want)
			}
			var walked []string
			var after any
			for range 20 {
				r := list(admin, map[string]any{"o": o.order, "first": 2, "after": after})
				walked = append(walked, r.emails()...)
				if r.Users.TotalCount != len(o.want) {
					t.Fatalf("totalCount %d on a page, want %d", r.Users.TotalCount, len(o.want))
				}
				if !r.Users.PageInfo.HasNextPage {
					break
				}
				after = *r.Users.PageInfo.EndCursor
			}
			if !slices.Equal(walked, o.want) {
				t.Errorf("order %v: pages %v, want %v", o.order, walked, o.want)
			}
		}
		if code := admin.Do(usersQuery, map[string]any{"first": 101}).Code(); code != "BAD_REQUEST" {
			t.Errorf("first: 101: %q, want BAD_REQUEST", code)
		}
		if code := admin.Do(usersQuery, map[string]any{"after": "garbage"}).Code(); code != "BAD_REQUEST" {
			t.Errorf("bad cursor: %q, want BAD_REQUEST", code)
		}

		// user(id): admins anyone, B2B admins their own users, others themselves.
		ids := map[string]string{}
		for _, e := range list(admin, map[string]any{"first": 100}).Users.Edges {
			ids[e.Node.Email] = e.Node.ID
		}
		see := func(c *client, email string) bool {
			var d struct {
				User *struct{ ID string } `json:"user"`
			}
			c.MustData(`query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": ids[email]}, &d)
			return d.User != nil
		}
		if !see(admin, "foreign@rival.test") || !see(boss, "zoe.quinn@corp.test") || see(boss, "foreign@rival.test") || see(boss, "rival@corp.test") {
			t.Error("user(id) visibility is wrong for admin or B2B admin")
		}
	})
}

// Search folds letter case beyond ASCII on both databases.
func TestUserSearchIsUnicodeAware(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		mustSignIn(t, srv.Client().register(map[string]any{"email": "elise@example.com", "mobile": "+4945000001",
			"firstName": "Élise", "lastName": "Ünal", "password": goodPassword, "passwordConfirm": goodPassword}))
		for _, q := range []string{"élise", "ÉLISE ünal", "ÜNAL"} {
			var r usersResult
			admin.MustData(usersQuery, map[string]any{"f": map[string]any{"search": q}}, &r)
			if !slices.Equal(r.emails(), []string{"elise@example.com"}) {
				t.Errorf("search %q: %v", q, r.emails())
			}
		}
	})
}

func slug(name string) string {
	out := []rune{}
	for _, r := range name {
		switch {
		case r == ' ':
			out = append(out, '.')
		case r >= 'A' && r <= 'Z':
			out = append(out, r+'a'-'A')
		default:
			out = append(out, r)
		}
	}
	return string(out)
}
