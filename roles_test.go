package main

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Every operation of the B2B issue, for every kind of caller: allowed (no
// top-level error; the payload may still carry user errors), FORBIDDEN or
// UNAUTHENTICATED.
func TestRoleOperationMatrix(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		boss := approvedB2BAdmin(t, srv, admin, "matrix-boss@corp.test", "+4935000001")
		createB2BAdmin(t, admin, "matrix-pending@corp.test", "+4935000002")
		pending := onboard(t, srv, "matrix-pending@corp.test")
		batchID := createBatch(t, boss, "Matrix", 500).Batch.ID
		createB2BUser(t, boss, batchID, "matrix-user@corp.test", "+4935000003")
		b2bUser := onboard(t, srv, "matrix-user@corp.test")
		b2c := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("matrix-b2c@corp.test", "+4935000004"))).AccessToken)
		callers := map[string]*client{
			"ADMIN": admin, "pending B2B_ADMIN": pending, "approved B2B_ADMIN": boss,
			"B2B_USER": b2bUser, "B2C_USER": b2c, "anonymous": srv.Client(),
		}
		order := []string{"ADMIN", "pending B2B_ADMIN", "approved B2B_ADMIN", "B2B_USER", "B2C_USER", "anonymous"}

		var n atomic.Int64
		unique := func() int64 { return n.Add(1) }
		const (
			ok    = ""
			forb  = "FORBIDDEN"
			unath = "UNAUTHENTICATED"
		)
		someID := "7f1f3c1e-1111-4222-8333-944445555666"
		ops := []struct {
			name  string
			query string
			vars  func() map[string]any
			want  []string // in the order of `order`
		}{
			{"createB2BAdmin", createB2BAdminMutation, func() map[string]any {
				i := unique()
				return map[string]any{"in": map[string]any{"email": fmt.Sprintf("m%d@x.test", i), "mobile": fmt.Sprintf("+4936%07d", i), "firstName": "M", "lastName": "M"}}
			}, []string{ok, forb, forb, forb, forb, unath}},
			{"approvals", `{ approvals { totalCount } }`, nil, []string{ok, forb, forb, forb, forb, unath}},
			{"approveB2BAdmin", approveMutation, func() map[string]any { return map[string]any{"id": someID} },
				[]string{ok, forb, forb, forb, forb, unath}},
			{"rejectB2BAdmin", rejectMutation, func() map[string]any { return map[string]any{"id": someID, "reason": "no"} },
				[]string{ok, forb, forb, forb, forb, unath}},
			{"createBatch", createBatchMutation, func() map[string]any { return map[string]any{"name": fmt.Sprintf("b%d", unique())} },
				[]string{forb, forb, ok, forb, forb, unath}},
			{"updateBatch", `mutation($id: ID!) { updateBatch(input: {id: $id, description: "changed"}) { batch { id } errors { code } } }`,
				func() map[string]any { return map[string]any{"id": batchID} }, []string{ok, forb, ok, forb, forb, unath}},
			{"batch", `query($id: ID!) { batch(id: $id) { id } }`, func() map[string]any { return map[string]any{"id": batchID} },
				[]string{ok, forb, ok, forb, forb, unath}},
			{"batches", `{ batches { totalCount } }`, nil, []string{ok, forb, ok, forb, forb, unath}},
			{"createB2BUser", createB2BUserMutation, func() map[string]any {
				i := unique()
				return map[string]any{"in": map[string]any{"batchId": batchID, "email": fmt.Sprintf("u%d@x.test", i), "mobile": fmt.Sprintf("+4937%07d", i), "firstName": "U", "lastName": "U"}}
			}, []string{forb, forb, ok, forb, forb, unath}},
			{"createB2BUsers", createB2BUsersMutation, func() map[string]any {
				i := unique()
				return map[string]any{"in": map[string]any{"batchId": batchID, "users": []any{row(fmt.Sprintf("r%d@x.test", i), fmt.Sprintf("+4938%07d", i))}}}
			}, []string{forb, forb, ok, forb, forb, unath}},
			{"setupPassword", setupPasswordMutation, func() map[string]any { return map[string]any{"t": "bogus", "p": goodPassword, "c": goodPassword} },
				[]string{ok, ok, ok, ok, ok, ok}},
			{"requestPasswordReset", `mutation($e: String!) { requestPasswordReset(input: {email: $e}) { ok } }`,
				func() map[string]any { return map[string]any{"e": fmt.Sprintf("nobody%d@x.test", unique())} }, []string{ok, ok, ok, ok, ok, ok}},
			{"resetPassword", `mutation { resetPassword(input: {token: "bogus", password: "x", passwordConfirm: "x"}) { ok } }`, nil,
				[]string{ok, ok, ok, ok, ok, ok}},
			{"changePassword", `mutation { changePassword(input: {oldPassword: "wrong", newPassword: "x", newPasswordConfirm: "x"}) { ok } }`, nil,
				[]string{ok, ok, ok, ok, ok, unath}},
			{"users", `{ users { totalCount } }`, nil, []string{ok, forb, ok, forb, forb, unath}},
			{"user", `query($id: ID!) { user(id: $id) { id } }`, func() map[string]any { return map[string]any{"id": someID} },
				[]string{ok, ok, ok, ok, ok, unath}},
			{"me", `{ me { id } }`, nil, []string{ok, ok, ok, ok, ok, unath}},
		}
		for _, op := range ops {
			for i, who := range order {
				var vars map[string]any
				if op.vars != nil {
					vars = op.vars()
				}
				if got := callers[who].Do(op.query, vars).Code(); got != op.want[i] {
					t.Errorf("%s as %s: code %q, want %q", op.name, who, got, op.want[i])
				}
			}
		}
	})
}
