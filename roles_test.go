package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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
		// victim is a user none of the callers created; its session is the
		// one revokeSession aims at.
		victim := mustSignIn(t, srv.Client().register(registerInput("matrix-victim@corp.test", "+4935000005")))
		var victimSessions sessionsResult
		srv.Client().As(*victim.AccessToken).MustData(sessionsQuery, nil, &victimSessions)
		victimSession := victimSessions.Me.Sessions[0].ID
		// target is another user none of the callers created, for setUserActive.
		target := mustSignIn(t, srv.Client().register(registerInput("matrix-target@corp.test", "+4935000006")))
		const nf = "NOT_FOUND" // a payload error, for objects of others
		type op struct {
			name  string
			query string
			vars  func() map[string]any
			want  []string // in the order of `order`: a top-level code, a payload code, or ok
		}
		ops := []op{
			{"login", loginMutation, func() map[string]any {
				return map[string]any{"email": fmt.Sprintf("nobody%d@x.test", unique()), "password": "x"}
			},
				[]string{"INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS"}},
			{"register", registerMutation, func() map[string]any {
				i := unique()
				return map[string]any{"input": registerInput(fmt.Sprintf("reg%d@x.test", i), fmt.Sprintf("+4934%07d", i))}
			}, []string{ok, ok, ok, ok, ok, ok}},
			{"refreshToken", refreshMutation, func() map[string]any { return map[string]any{"t": "bogus"} },
				[]string{"INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN"}},
			{"logout with another user's token", logoutMutation, func() map[string]any { return map[string]any{"t": *victim.RefreshToken} },
				[]string{"INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", unath}},
			{"updateProfile", `mutation { updateProfile(input: {city: "Matrix"}) { errors { code } } }`, nil, []string{ok, ok, ok, ok, ok, unath}},
			{"removeAvatar", `mutation { removeAvatar(input: {}) { errors { code } } }`, nil, []string{ok, ok, ok, ok, ok, unath}},
			{"wallet", `{ wallet { balance } }`, nil, []string{ok, ok, ok, ok, ok, unath}},
			{"auditEvents", `{ auditEvents { totalCount } }`, nil, []string{ok, forb, ok, forb, forb, unath}},
			{"adjustWallet", adjustMutation, func() map[string]any {
				return map[string]any{"in": map[string]any{"userId": victim.User.ID, "type": "CREDIT", "amount": "1.00", "description": "m", "idempotencyKey": fmt.Sprint("m", unique())}}
			}, []string{ok, forb, forb, forb, forb, unath}},
			{"revokeSession of another user", revokeSessionMutation, func() map[string]any { return map[string]any{"id": victimSession} },
				[]string{ok, nf, nf, nf, nf, unath}},
			{"createB2BAdmin", createB2BAdminMutation, func() map[string]any {
				i := unique()
				return map[string]any{"in": map[string]any{"email": fmt.Sprintf("m%d@x.test", i), "mobile": fmt.Sprintf("+4936%07d", i), "firstName": "M", "lastName": "M"}}
			}, []string{ok, forb, forb, forb, forb, unath}},
			{"approvals", `{ approvals { totalCount } }`, nil, []string{ok, forb, forb, forb, forb, unath}},
			{"approveB2BAdmin", approveMutation, func() map[string]any { return map[string]any{"id": someID} },
				[]string{nf, forb, forb, forb, forb, unath}},
			{"rejectB2BAdmin", rejectMutation, func() map[string]any { return map[string]any{"id": someID, "reason": "no"} },
				[]string{nf, forb, forb, forb, forb, unath}},
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
				[]string{"INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN"}},
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
			{"myData", `{ myData }`, nil, []string{ok, ok, ok, ok, ok, unath}},
			{"verifyEmail", `mutation { verifyEmail(input: {token: "bogus"}) { errors { code } } }`, nil,
				[]string{"INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN"}},
			{"resendVerificationEmail", `mutation { resendVerificationEmail(input: {}) { ok errors { code } } }`, nil,
				[]string{ok, ok, ok, ok, ok, unath}},
			{"enrollTotp", `mutation($p: String!) { enrollTotp(input: {password: $p}) { secret errors { code } } }`,
				func() map[string]any { return map[string]any{"p": goodPassword} }, []string{ok, ok, ok, ok, ok, unath}},
			{"confirmTotp with a wrong code", `mutation { confirmTotp(input: {code: "12345"}) { errors { code } } }`, nil,
				[]string{"INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", unath}},
			{"verifyMfa", `mutation { verifyMfa(input: {mfaToken: "bogus", code: "123456"}) { errors { code } } }`, nil,
				[]string{"INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN", "INVALID_TOKEN"}},
			{"disableTotp with a wrong password", `mutation { disableTotp(input: {password: "wrong"}) { ok errors { code } } }`, nil,
				[]string{"INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", unath}},
			{"deleteMyAccount with a wrong password", `mutation { deleteMyAccount(input: {password: "wrong"}) { ok errors { code } } }`, nil,
				[]string{"INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", unath}},
			{"resetUserMfa", `mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { errors { code } } }`,
				func() map[string]any { return map[string]any{"id": someID} }, []string{nf, forb, forb, forb, forb, unath}},
			{"setUserActive", `mutation($id: ID!) { setUserActive(input: {userId: $id, active: true}) { errors { code } } }`,
				func() map[string]any { return map[string]any{"id": someID} }, []string{nf, forb, nf, forb, forb, unath}},
			{"setUserActive of a user another created", `mutation($id: ID!) { setUserActive(input: {userId: $id, active: false}) { errors { code } } }`,
				func() map[string]any { return map[string]any{"id": target.User.ID} }, []string{ok, forb, nf, forb, forb, unath}},
			{"deleteUser", `mutation($id: ID!) { deleteUser(input: {userId: $id}) { errors { code } } }`,
				func() map[string]any { return map[string]any{"id": someID} }, []string{nf, forb, forb, forb, forb, unath}},
		}
		// revokeSession runs last: the admin's call ends the victim's session.
		slices.SortStableFunc(ops, func(a, b op) int {
			return cmp.Compare(boolInt(a.name == "revokeSession of another user"), boolInt(b.name == "revokeSession of another user"))
		})
		for _, op := range ops {
			for i, who := range order {
				var vars map[string]any
				if op.vars != nil {
					vars = op.vars()
				}
				if got := outcome(callers[who].Do(op.query, vars)); got != op.want[i] {
					t.Errorf("%s as %s: %q, want %q", op.name, who, got, op.want[i])
				}
			}
		}
		// uploadAvatar is a multipart request.
		for i, who := range order {
			c := callers[who]
			ct, body := multipartBody(t, `{"query": "mutation($file: Upload!) { uploadAvatar(input: {file: $file}) { errors { code } } }", "variables": {"file": null}}`, pngImage(t, 4, 4))
			header := http.Header{}
			if c.Token != "" {
				header.Set("Authorization", "Bearer "+c.Token)
			}
			r, _ := postRaw(t, srv, ct, body, header)
			if want := []string{ok, ok, ok, ok, ok, unath}[i]; outcome(r) != want {
				t.Errorf("uploadAvatar as %s: %q, want %q", who, outcome(r), want)
			}
		}
		// The victim's session ended by the admin only.
		if code := srv.Client().As(*victim.AccessToken).meCode(); code != unath {
			t.Errorf("victim's session after the admin revoked it: %q", code)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// outcome is a response's top-level error code, else its first payload
// error code, else "".
func outcome(r gqlResponse) string {
	if c := r.Code(); c != "" {
		return c
	}
	var data map[string]json.RawMessage
	json.Unmarshal(r.Data, &data)
	for _, payload := range data {
		var p struct {
			Errors []userError `json:"errors"`
		}
		if json.Unmarshal(payload, &p) == nil && len(p.Errors) > 0 {
			return p.Errors[0].Code
		}
	}
	return ""
}

// Reads of other users' objects by id: who sees a user at all, and who its
// private fields (email, wallet, sessions, createdBy).
func TestReadsOfOtherUsersByID(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		boss := approvedB2BAdmin(t, srv, admin, "read-boss@corp.test", "+4933000001")
		createB2BAdmin(t, admin, "read-pending@corp.test", "+4933000002")
		pending := onboard(t, srv, "read-pending@corp.test")
		batchID := createBatch(t, boss, "Read", 10).Batch.ID
		staff := createB2BUser(t, boss, batchID, "read-staff@corp.test", "+4933000003").User.ID
		b2bUser := onboard(t, srv, "read-staff@corp.test")
		b2cSignIn := mustSignIn(t, srv.Client().register(registerInput("read-b2c@corp.test", "+4933000004")))
		b2c := srv.Client().As(*b2cSignIn.AccessToken)
		var bossMe struct{ Me struct{ ID string } }
		boss.MustData(`{ me { id } }`, nil, &bossMe)
		targets := map[string]string{"B2C user": b2cSignIn.User.ID, "B2B user": staff, "its B2B admin": bossMe.Me.ID}

		callers := []struct {
			name string
			c    *client
			sees map[string]bool // target → sees it (with its private fields)
		}{
			{"ADMIN", admin, map[string]bool{"B2C user": true, "B2B user": true, "its B2B admin": true}},
			{"approved B2B_ADMIN", boss, map[string]bool{"B2B user": true, "its B2B admin": true}}, // its user, and itself
			{"pending B2B_ADMIN", pending, map[string]bool{}},
			{"B2B_USER", b2bUser, map[string]bool{"B2B user": true}}, // itself only
			{"B2C_USER", b2c, map[string]bool{"B2C user": true}},
		}
		const q = `query($id: ID!) { user(id: $id) { id email mobile wallet { balance } sessions { id } } }`
		for _, caller := range callers {
			for target, id := range targets {
				resp := caller.c.Do(q, map[string]any{"id": id})
				var d struct {
					User *struct {
						ID, Email string
						Wallet    *struct{ Balance string }
					}
				}
				json.Unmarshal(resp.Data, &d)
				switch {
				case caller.sees[target] && (len(resp.Errors) > 0 || d.User == nil || d.User.Email == "" || d.User.Wallet == nil):
					t.Errorf("%s reading the %s: %+v %+v, want it with its private fields", caller.name, target, d.User, resp.Errors)
				case !caller.sees[target] && (d.User != nil || len(resp.Errors) > 0):
					t.Errorf("%s reading the %s: %+v %+v, want null and no error (no enumeration)", caller.name, target, d.User, resp.Errors)
				}
			}
		}
		if code := srv.Client().Do(q, map[string]any{"id": staff}).Code(); code != "UNAUTHENTICATED" {
			t.Errorf("anonymous user(id): %q", code)
		}
		// Every other path to a user follows the rule of user(id): a B2B
		// user reaches neither its creator nor its batch's other members.
		var creator struct {
			Me struct{ CreatedBy *struct{ FirstName string } }
		}
		b2bUser.MustData(`{ me { createdBy { firstName } } }`, nil, &creator)
		if creator.Me.CreatedBy != nil {
			t.Errorf("B2B user reading its creator: %+v, want null", creator.Me.CreatedBy)
		}
		for _, q := range []string{`{ me { batch { users { edges { node { email } } } } } }`, `{ me { batch { createdBy { firstName } } } }`} {
			if code := b2bUser.Do(q, nil).Code(); code != "FORBIDDEN" {
				t.Errorf("B2B user: %s: %q, want FORBIDDEN", q, code)
			}
		}
		// The admin who adjusted a wallet is not shown to the wallet's owner.
		adjust(t, admin, b2cSignIn.User.ID, "CREDIT", "1.00", "read-actor")
		var w struct {
			Wallet struct {
				Transactions struct {
					Edges []struct {
						Node struct{ Actor *struct{ ID string } }
					}
				}
			}
		}
		b2c.MustData(`{ wallet { transactions { edges { node { actor { id } } } } } }`, nil, &w)
		for _, e := range w.Wallet.Transactions.Edges {
			if e.Node.Actor != nil {
				t.Errorf("B2C user sees the admin who adjusted its wallet: %+v", e.Node.Actor)
			}
		}
		// A batch of another B2B admin is not found.
		rival := approvedB2BAdmin(t, srv, admin, "read-rival@corp.test", "+4933000005")
		var b struct{ Batch *struct{ ID string } }
		rival.MustData(`query($id: ID!) { batch(id: $id) { id } }`, map[string]any{"id": batchID}, &b)
		if b.Batch != nil {
			t.Error("a B2B admin read another B2B admin's batch")
		}
	})
}
