package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Every field that returns a User or a Batch, read by every kind of caller:
// a related user is there only for those who may look it up by id, a
// batch's members and owner only for those who manage it.
func TestEveryPathToAUserOrABatch(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		bossA := approvedB2BAdmin(t, srv, admin, "pathA@corp.test", "+4933100001")
		bossB := approvedB2BAdmin(t, srv, admin, "pathB@corp.test", "+4933100002")
		batchA := createBatch(t, bossA, "A", 10).Batch.ID
		createBatch(t, bossB, "B", 10)
		userAID := createB2BUser(t, bossA, batchA, "path-user@corp.test", "+4933100003").User.ID
		userA := onboard(t, srv, "path-user@corp.test")
		createB2BAdmin(t, admin, "path-pending@corp.test", "+4933100004")
		pending := onboard(t, srv, "path-pending@corp.test")
		c := mustSignIn(t, srv.Client().register(registerInput("path-b2c@example.com", "+4933100005")))
		b2c := srv.Client().As(*c.AccessToken)
		adjust(t, admin, c.User.ID, "CREDIT", "1.00", "path") // entries and events whose actor is the admin
		adjust(t, admin, userAID, "CREDIT", "1.00", "path-a")

		callers := []struct {
			name string
			c    *client
		}{{"ADMIN", admin}, {"B2B_ADMIN A", bossA}, {"B2B_ADMIN B", bossB}, {"pending B2B_ADMIN", pending}, {"B2B_USER of A", userA}, {"B2C_USER", b2c}}
		const (
			shown  = "shown" // the object is there
			null   = "null"  // null, no error
			forbid = "FORBIDDEN"
			nf     = "NOT_FOUND"
		)
		paths := []struct {
			name, query string
			vars        map[string]any
			at          string   // dotted path in data to the object
			want        []string // per caller, in the order above
		}{
			{"user(id) of A's user", `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": userAID}, "user",
				[]string{shown, shown, null, null, shown, null}},
			{"user(id).createdBy (A)", `query($id: ID!) { user(id: $id) { createdBy { id } } }`, map[string]any{"id": userAID}, "user.createdBy",
				[]string{shown, shown, null, null, null, null}},
			{"me.createdBy (B2B admins': the admin; A's user: A)", `{ me { createdBy { id } } }`, nil, "me.createdBy",
				[]string{null, null, null, null, null, null}},
			{"me.batch", `{ me { batch { name } } }`, nil, "me.batch",
				[]string{null, null, null, null, shown, null}},
			{"me.batch.users", `{ me { batch { users { totalCount } } } }`, nil, "me.batch.users",
				[]string{null, null, null, null, forbid, null}},
			{"me.batch.createdBy", `{ me { batch { createdBy { id } } } }`, nil, "me.batch.createdBy",
				[]string{null, null, null, null, forbid, null}},
			{"batch(id) A", `query($id: ID!) { batch(id: $id) { id } }`, map[string]any{"id": batchA}, "batch",
				[]string{shown, shown, null, forbid, forbid, forbid}},
			{"batch(id).users", `query($id: ID!) { batch(id: $id) { users { edges { node { id } } } } }`, map[string]any{"id": batchA}, "batch.users",
				[]string{shown, shown, null, forbid, forbid, forbid}},
			{"batches.createdBy", `{ batches { edges { node { createdBy { id } } } } }`, nil, "batches.edges.0.node.createdBy",
				[]string{shown, shown, shown, forbid, forbid, forbid}},
			{"users.createdBy", `{ users(filter: {role: B2B_USER}) { edges { node { createdBy { id } } } } }`, nil, "users.edges.0.node.createdBy",
				[]string{shown, shown, null, forbid, forbid, forbid}},
			{"approvals.user", `{ approvals { edges { node { user { id } decidedBy { id } } } } }`, nil, "approvals.edges.0.node.user",
				[]string{shown, forbid, forbid, forbid, forbid, forbid}},
			{"me.approval.decidedBy (the admin)", `{ me { approval { decidedBy { id } } } }`, nil, "me.approval.decidedBy",
				[]string{null, null, null, null, null, null}},
			{"auditEvents.actor (the admin)", `{ auditEvents(filter: {action: WALLET_ADJUSTED}) { edges { node { actor { id } } } } }`, nil, "auditEvents.edges.0.node.actor",
				[]string{shown, null, null, forbid, forbid, forbid}},
			{"auditEvents.target (A's user)", `query($id: ID!) { auditEvents(filter: {targetId: $id}) { edges { node { target { id } } } } }`, map[string]any{"id": userAID}, "auditEvents.edges.0.node.target",
				[]string{shown, shown, null, forbid, forbid, forbid}},
			{"wallet.transactions.actor (the admin)", `{ wallet { transactions { edges { node { actor { id } } } } } }`, nil, "wallet.transactions.edges.0.node.actor",
				[]string{null, null, null, null, null, null}},
		}
		for _, p := range paths {
			for i, caller := range callers {
				got := outcomeAt(caller.c.Do(p.query, p.vars), p.at)
				if got != p.want[i] {
					t.Errorf("%s as %s: %s, want %s", p.name, caller.name, got, p.want[i])
				}
			}
		}
	})
}

// outcomeAt says what a response holds at a dotted data path: "shown",
// "null" (missing or null anywhere on the way), or the first error's code.
func outcomeAt(r gqlResponse, at string) string {
	if c := r.Code(); c != "" {
		return c
	}
	var v any
	json.Unmarshal(r.Data, &v)
	for _, step := range strings.Split(at, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[step]
		case []any:
			i := 0
			for _, ch := range step {
				i = i*10 + int(ch-'0')
			}
			if i >= len(x) {
				return "null"
			}
			v = x[i]
		default:
			return "null"
		}
	}
	if v == nil {
		return "null"
	}
	return "shown"
}
