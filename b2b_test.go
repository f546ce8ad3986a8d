package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/testdb"
)

// The whole B2B journey of the original system, end to end over HTTP.
func TestB2BJourney(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)

		// Admin creates a B2B admin: no password, pending, one setup email.
		var created struct{ CreateB2BAdmin payloadUser }
		admin.MustData(createB2BAdminMutation, map[string]any{"in": map[string]any{
			"email": "Boss@Acme.test", "mobile": "+4930123456", "firstName": "Bea", "lastName": "Boss", "companyName": " Acme Ltd ",
		}}, &created)
		boss := created.CreateB2BAdmin.User
		if boss == nil || boss.Role != "B2B_ADMIN" || boss.IsApproved || boss.IsVerified || !boss.IsActive ||
			*boss.CompanyName != "Acme Ltd" || boss.CreatedBy.Email != adminEmail || boss.Approval.Status != "PENDING" {
			t.Fatalf("created B2B admin = %+v (errors %v)", boss, codes(created.CreateB2BAdmin.Errors))
		}
		mails := srv.waitEmails("boss@acme.test", 1)
		if mails[0].Subject != "Set up your password" || !strings.Contains(mails[0].Text, "https://app.example.test/setup-password?token=") ||
			!strings.Contains(mails[0].Text, "Acme Ltd") {
			t.Errorf("setup email = %q\n%s", mails[0].Subject, mails[0].Text)
		}
		// It cannot sign in before setting a password.
		if errs := srv.Client().login("boss@acme.test", "").Errors; len(errs) == 0 {
			t.Error("login without a password succeeded")
		}

		// Setup: password rules apply; then signed in and verified.
		token := linkToken(t, mails[0], "setup-password")
		if weak := srv.Client().setupPassword(token, "acmeboss"); !slices.Equal(codes(weak.Errors), []string{"PASSWORD_TOO_SIMILAR@input.password"}) {
			t.Errorf("setup password like the email: %v", codes(weak.Errors))
		}
		setup := mustSignIn(t, srv.Client().setupPassword(token, goodPassword))
		if !setup.User.IsVerified {
			t.Error("setupPassword did not mark the email verified")
		}
		if again := srv.Client().setupPassword(token, goodPassword+"2"); !slices.Equal(codes(again.Errors), []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("setup token reused: %v", codes(again.Errors))
		}
		bossC := srv.Client().As(*setup.AccessToken)

		// Pending: self-service works, B2B operations are FORBIDDEN.
		if code := bossC.meCode(); code != "" {
			t.Errorf("pending B2B admin me: %s", code)
		}
		if code := bossC.Do(createBatchMutation, map[string]any{"name": "Early"}).Code(); code != "FORBIDDEN" {
			t.Errorf("pending B2B admin createBatch: %q, want FORBIDDEN", code)
		}

		// Admin sees it pending, approves it; the decision is recorded and emailed.
		var pending struct {
			Approvals struct {
				TotalCount int `json:"totalCount"`
				Edges      []struct {
					Node struct {
						Status string `json:"status"`
						User   struct {
							Email string `json:"email"`
						} `json:"user"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"approvals"`
		}
		admin.MustData(`{ approvals(status: PENDING) { totalCount edges { node { status user { email } } } } }`, nil, &pending)
		if pending.Approvals.TotalCount != 1 || pending.Approvals.Edges[0].Node.User.Email != "Boss@Acme.test" {
			t.Errorf("pending approvals = %+v", pending.Approvals)
		}
		ap := approve(t, admin, boss.ID)
		if ap.Approval == nil || ap.Approval.Status != "APPROVED" || ap.Approval.DecidedBy.Email != adminEmail ||
			ap.Approval.DecidedAt == nil || !ap.Approval.User.IsApproved {
			t.Fatalf("approve = %+v", ap)
		}
		if again := approve(t, admin, boss.ID); !slices.Equal(codes(again.Errors), []string{"ALREADY_DECIDED@input.userId"}) {
			t.Errorf("second approval: %v", codes(again.Errors))
		}
		approvedMail := srv.waitEmails("boss@acme.test", 2)
		if !slices.ContainsFunc(approvedMail, func(e email) bool { return e.Subject == "Your business account is approved" }) {
			t.Error("no approval email")
		}

		// Approved (same token: the role check reads the database): batches.
		b := createBatch(t, bossC, "Sales", 3)
		if b.Batch == nil || b.Batch.MaxUsers != 3 || !b.Batch.CanAddUsers || b.Batch.UserCount != 0 {
			t.Fatalf("createBatch = %+v %v", b.Batch, codes(b.Errors))
		}
		if dup := createBatch(t, bossC, "SALES", 5); !slices.Equal(codes(dup.Errors), []string{"DUPLICATE@input.name"}) {
			t.Errorf("duplicate batch name: %v", codes(dup.Errors))
		}
		batchID := b.Batch.ID

		// One user, then bulk under both policies.
		one := createB2BUser(t, bossC, batchID, "uma@acme.test", "+4930000001")
		if one.User == nil || one.User.Role != "B2B_USER" || one.User.CreatedBy.Email != "Boss@Acme.test" {
			t.Fatalf("createB2BUser = %+v %v", one.User, codes(one.Errors))
		}
		srv.waitEmails("uma@acme.test", 1)

		bad := createB2BUsers(t, bossC, batchID, "REJECT_EVERYTHING",
			row("ann@acme.test", "+4930000002"), row("not-an-email", "+4930000003"), row("UMA@acme.test", "+4930000004"))
		if bad.Count != 0 || len(bad.Results) != 3 || bad.Results[0].User != nil ||
			!slices.Equal(codes(bad.Results[1].Errors), []string{"INVALID@input.users.1.email"}) ||
			!slices.Equal(codes(bad.Results[2].Errors), []string{"DUPLICATE@input.users.2.email"}) {
			t.Fatalf("REJECT_EVERYTHING = %+v", bad)
		}
		partial := createB2BUsers(t, bossC, batchID, "REJECT_FAILED_ROWS",
			row("ann@acme.test", "+4930000002"), row("not-an-email", "+4930000003"),
			row("bob@acme.test", "+4930000005"), row("cy@acme.test", "+4930000006"))
		if partial.Count != 2 || partial.Results[0].User == nil || partial.Results[2].User == nil ||
			!slices.Equal(codes(partial.Results[3].Errors), []string{"BATCH_FULL@input.users.3"}) {
			t.Fatalf("REJECT_FAILED_ROWS = %+v", partial)
		}
		srv.waitEmails("ann@acme.test", 1)
		srv.waitEmails("bob@acme.test", 1)
		if full := createB2BUser(t, bossC, batchID, "dee@acme.test", "+4930000007"); !slices.Equal(codes(full.Errors), []string{"BATCH_FULL@input.batchId"}) {
			t.Errorf("create into a full batch: %v", codes(full.Errors))
		}
		var got struct {
			Batch struct {
				UserCount   int  `json:"userCount"`
				CanAddUsers bool `json:"canAddUsers"`
				Users       struct {
					TotalCount int `json:"totalCount"`
				} `json:"users"`
			} `json:"batch"`
		}
		bossC.MustData(`query($id: ID!) { batch(id: $id) { userCount canAddUsers users { totalCount } } }`, map[string]any{"id": batchID}, &got)
		if got.Batch.UserCount != 3 || got.Batch.CanAddUsers || got.Batch.Users.TotalCount != 3 {
			t.Errorf("full batch = %+v", got.Batch)
		}

		// Lists: the admin sees everyone; the B2B admin only the users it created.
		var all, own usersResult
		admin.MustData(usersQuery, nil, &all)
		bossC.MustData(usersQuery, nil, &own)
		if all.Users.TotalCount != 5 {
			t.Errorf("admin sees %d users, want 5: %v", all.Users.TotalCount, all.emails())
		}
		// ann and bob were created by one bulk call, possibly in the same
		// microsecond; their order is then fixed by id, so compare as a set.
		ownEmails := own.emails()
		slices.Sort(ownEmails)
		if !slices.Equal(ownEmails, []string{"ann@acme.test", "bob@acme.test", "uma@acme.test"}) || own.Users.TotalCount != 3 {
			t.Errorf("B2B admin sees %v", own.emails())
		}

		// A B2B user sets its password and sees its batch's name, but not
		// its creator or the batch's other members.
		uma := onboard(t, srv, "uma@acme.test")
		var me struct {
			Me struct {
				Batch struct {
					Name string `json:"name"`
				} `json:"batch"`
				CreatedBy *struct {
					FirstName string `json:"firstName"`
				} `json:"createdBy"`
			} `json:"me"`
		}
		// Its B2B admin is someone it may not look up by id, so on every path.
		uma.MustData(`{ me { batch { name } createdBy { firstName } } }`, nil, &me)
		if me.Me.Batch.Name != "Sales" || me.Me.CreatedBy != nil {
			t.Errorf("B2B user me = %+v, want its batch's name and no creator", me.Me)
		}
		if code := uma.Do(`{ me { batch { users { totalCount } } } }`, nil).Code(); code != "FORBIDDEN" {
			t.Errorf("B2B user listing its batch's members: %q, want FORBIDDEN", code)
		}

		// Reset: same answer for unknown emails; the link works once; all sessions end.
		for _, addr := range []string{"uma@acme.test", "nobody@acme.test"} {
			var r struct {
				RequestPasswordReset struct {
					OK     bool        `json:"ok"`
					Errors []userError `json:"errors"`
				}
			}
			srv.Client().MustData(`mutation($e: String!) { requestPasswordReset(input: {email: $e}) { ok errors { code } } }`,
				map[string]any{"e": addr}, &r)
			if !r.RequestPasswordReset.OK || len(r.RequestPasswordReset.Errors) > 0 {
				t.Errorf("requestPasswordReset(%s) = %+v", addr, r)
			}
		}
		resetMail := srv.waitEmails("uma@acme.test", 2)
		var resetToken string
		for _, e := range resetMail {
			if e.Subject == "Reset your password" {
				resetToken = linkToken(t, e, "reset-password")
			}
		}
		const resetMutation = `mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, password: $p, passwordConfirm: $p}) { ok errors { field code } } }`
		var rp struct {
			ResetPassword struct {
				OK     bool        `json:"ok"`
				Errors []userError `json:"errors"`
			}
		}
		srv.Client().MustData(resetMutation, map[string]any{"t": resetToken, "p": "brand-New-Secret-9"}, &rp)
		if !rp.ResetPassword.OK {
			t.Fatalf("resetPassword = %+v", rp)
		}
		if code := uma.meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("session after reset: %q, want UNAUTHENTICATED", code)
		}
		srv.Client().MustData(resetMutation, map[string]any{"t": resetToken, "p": "another-New-Secret-9"}, &rp)
		if !slices.Equal(codes(rp.ResetPassword.Errors), []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("reset token reused: %+v", rp)
		}
		mustSignIn(t, srv.Client().login("uma@acme.test", "brand-New-Secret-9"))

		// Change password: the old one is checked; other sessions end, this one stays.
		other := mustSignIn(t, srv.Client().login("boss@acme.test", goodPassword))
		const changeMutation = `mutation($o: String!, $n: String!) { changePassword(input: {oldPassword: $o, newPassword: $n, newPasswordConfirm: $n}) { ok errors { field code } } }`
		var cp struct {
			ChangePassword struct {
				OK     bool        `json:"ok"`
				Errors []userError `json:"errors"`
			}
		}
		bossC.MustData(changeMutation, map[string]any{"o": "wrong-old-one", "n": "fresh-Mango-77"}, &cp)
		if !slices.Equal(codes(cp.ChangePassword.Errors), []string{"INVALID_CREDENTIALS@input.oldPassword"}) {
			t.Errorf("wrong old password: %+v", cp)
		}
		bossC.MustData(changeMutation, map[string]any{"o": goodPassword, "n": "12345678"}, &cp)
		if !slices.Contains(codes(cp.ChangePassword.Errors), "PASSWORD_TOO_COMMON@input.newPassword") {
			t.Errorf("weak new password: %+v", cp)
		}
		bossC.MustData(changeMutation, map[string]any{"o": goodPassword, "n": "fresh-Mango-77"}, &cp)
		if !cp.ChangePassword.OK {
			t.Fatalf("changePassword = %+v", cp)
		}
		if code := bossC.meCode(); code != "" {
			t.Errorf("current session after changePassword: %s", code)
		}
		if code := srv.Client().As(*other.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("other session after changePassword: %q", code)
		}
		mustSignIn(t, srv.Client().login("boss@acme.test", "fresh-Mango-77"))
	})
}

func TestRejectB2BAdmin(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		id := createB2BAdmin(t, admin, "reject@corp.test", "+4930111111")
		rc := onboard(t, srv, "reject@corp.test")

		var d struct{ RejectB2BAdmin approvalPayload }
		admin.MustData(rejectMutation, map[string]any{"id": id, "reason": "  "}, &d)
		if !slices.Equal(codes(d.RejectB2BAdmin.Errors), []string{"REQUIRED@input.reason"}) {
			t.Errorf("reject without reason: %v", codes(d.RejectB2BAdmin.Errors))
		}
		admin.MustData(rejectMutation, map[string]any{"id": id, "reason": "Unknown company"}, &d)
		a := d.RejectB2BAdmin.Approval
		if a == nil || a.Status != "REJECTED" || *a.RejectionReason != "Unknown company" || a.DecidedBy.Email != adminEmail ||
			a.DecidedAt == nil || a.User.IsActive || a.User.IsApproved {
			t.Fatalf("reject = %+v %v", a, codes(d.RejectB2BAdmin.Errors))
		}
		if code := rc.meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("rejected admin's session: %q", code)
		}
		if errs := srv.Client().login("reject@corp.test", goodPassword).Errors; !slices.Equal(codes(errs), []string{"INVALID_CREDENTIALS@"}) {
			t.Errorf("rejected admin login: %v", codes(errs))
		}
		if again := approve(t, admin, id); !slices.Equal(codes(again.Errors), []string{"ALREADY_DECIDED@input.userId"}) {
			t.Errorf("approve after reject: %v", codes(again.Errors))
		}
		mails := srv.waitEmails("reject@corp.test", 2)
		if !slices.ContainsFunc(mails, func(e email) bool {
			return e.Subject == "Your business account was not approved" && strings.Contains(e.Text, "Reason: Unknown company")
		}) {
			t.Error("no rejection email with the reason")
		}
		if nf := approve(t, admin, "00000000-0000-0000-0000-000000000000"); !slices.Equal(codes(nf.Errors), []string{"NOT_FOUND@input.userId"}) {
			t.Errorf("approve unknown id: %v", codes(nf.Errors))
		}
	})
}

// Concurrent creates never overfill a batch, on either database.
func TestBatchCapacityUnderConcurrency(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		boss := approvedB2BAdmin(t, srv, admin, "cap@corp.test", "+4930222222")
		batchID := createBatch(t, boss, "Tight", 5).Batch.ID
		const attempts = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		outcomes := map[string]int{}
		for i := range attempts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var d struct{ CreateB2BUser payloadUser }
				resp := boss.DoAsync(createB2BUserMutation, map[string]any{"in": map[string]any{
					"batchId": batchID, "email": fmt.Sprintf("c%d@corp.test", i), "mobile": fmt.Sprintf("+49303%06d", i),
					"firstName": "C", "lastName": "C",
				}})
				key := resp.Code()
				if key == "" {
					_ = json.Unmarshal(resp.Data, &d)
					key = "created"
					if len(d.CreateB2BUser.Errors) > 0 {
						key = d.CreateB2BUser.Errors[0].Code
					}
				}
				mu.Lock()
				outcomes[key]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if outcomes["created"] != 5 || outcomes["BATCH_FULL"] != attempts-5 {
			t.Errorf("outcomes = %v, want 5 created and %d BATCH_FULL", outcomes, attempts-5)
		}
		var got struct {
			Batch struct {
				UserCount int `json:"userCount"`
			} `json:"batch"`
		}
		boss.MustData(`query($id: ID!) { batch(id: $id) { userCount } }`, map[string]any{"id": batchID}, &got)
		if got.Batch.UserCount != 5 {
			t.Errorf("userCount = %d, want 5", got.Batch.UserCount)
		}
	})
}

func TestBulkCreateLimitsAndDuplicates(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		// A 1,000-row call takes about 0.2 s, but 5 to 10 s under the race
		// detector on a slow CI machine: the 10 s default stopped one there.
		// This test is about limits and duplicates, not the deadline.
		srv, admin := b2bServer(t, dbURL, map[string]string{"REQUEST_TIMEOUT": "60s"})
		boss := approvedB2BAdmin(t, srv, admin, "bulk@corp.test", "+4930333333")
		batchID := createBatch(t, boss, "Big", 1000).Batch.ID

		// Duplicates inside one call are caught too.
		dup := createB2BUsers(t, boss, batchID, "REJECT_FAILED_ROWS",
			row("same@corp.test", "+4931000001"), row("SAME@corp.test", "+4931000002"), row("other@corp.test", "+4931000001"))
		if dup.Count != 1 || !slices.Equal(codes(dup.Results[1].Errors), []string{"DUPLICATE@input.users.1.email"}) ||
			!slices.Equal(codes(dup.Results[2].Errors), []string{"DUPLICATE@input.users.2.mobile"}) {
			t.Errorf("in-call duplicates = %+v", dup)
		}

		// 1000 rows in one call; 1001 are refused.
		rows := make([]map[string]any, 1000)
		for i := range rows {
			rows[i] = row(fmt.Sprintf("p%04d@corp.test", i), fmt.Sprintf("+4932%07d", i))
		}
		start := time.Now()
		big := createB2BUsers(t, boss, batchID, "REJECT_EVERYTHING", rows...)
		if big.Count != 999 && big.Count != 0 {
			t.Fatalf("1000 rows: count %d", big.Count)
		}
		// The batch had 1 user, so the 1000th row does not fit: all-or-nothing creates none.
		if big.Count != 0 || !slices.Equal(codes(big.Results[999].Errors), []string{"BATCH_FULL@input.users.999"}) {
			t.Errorf("1000 rows into 999 free seats, REJECT_EVERYTHING: count %d, last row %v", big.Count, codes(big.Results[999].Errors))
		}
		big = createB2BUsers(t, boss, batchID, "REJECT_FAILED_ROWS", rows...)
		if big.Count != 999 {
			t.Errorf("REJECT_FAILED_ROWS: count %d, want 999", big.Count)
		}
		t.Logf("1000-row createB2BUsers (twice) took %v", time.Since(start))
		rows = append(rows, row("x@corp.test", "+4933000000"))
		if over := createB2BUsers(t, boss, batchID, "REJECT_EVERYTHING", rows...); !slices.Equal(codes(over.Errors), []string{"INVALID@input.users"}) {
			t.Errorf("1001 rows: %v", codes(over.Errors))
		}
		// Another admin's batch is NOT_FOUND, not FORBIDDEN: it does not leak that it exists.
		other := approvedB2BAdmin(t, srv, admin, "other@corp2.test", "+4930444444")
		if nf := createB2BUsers(t, other, batchID, "REJECT_EVERYTHING", row("z@corp2.test", "+4934000000")); !slices.Equal(codes(nf.Errors), []string{"NOT_FOUND@input.batchId"}) {
			t.Errorf("bulk into another admin's batch: %v", codes(nf.Errors))
		}
	})
}

func TestBatchRules(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		boss := approvedB2BAdmin(t, srv, admin, "rules@corp.test", "+4944000001")
		rival := approvedB2BAdmin(t, srv, admin, "rules-rival@corp.test", "+4944000002")
		batchID := createBatch(t, boss, "Rules", 2).Batch.ID
		createB2BUser(t, boss, batchID, "r1@corp.test", "+4944000003")
		createB2BUser(t, boss, batchID, "r2@corp.test", "+4944000004")

		const update = `mutation($in: UpdateBatchInput!) { updateBatch(input: $in) { batch { name maxUsers isActive canAddUsers } errors { field code } } }`
		type updateResult struct {
			UpdateBatch batchPayload `json:"updateBatch"`
		}
		var r updateResult
		// Another B2B admin's batch does not exist for it: not readable, not changeable, not fillable.
		rival.MustData(update, map[string]any{"in": map[string]any{"id": batchID, "name": "Mine"}}, &r)
		if !slices.Equal(codes(r.UpdateBatch.Errors), []string{"NOT_FOUND@input.id"}) {
			t.Errorf("rival updateBatch: %v", codes(r.UpdateBatch.Errors))
		}
		if nf := createB2BUser(t, rival, batchID, "r9@corp.test", "+4944000009"); !slices.Equal(codes(nf.Errors), []string{"NOT_FOUND@input.batchId"}) {
			t.Errorf("rival createB2BUser: %v", codes(nf.Errors))
		}
		if resp := rival.Do(`query($id: ID!) { batch(id: $id) { id } }`, map[string]any{"id": batchID}); !bytes.Contains(resp.Data, []byte(`"batch":null`)) {
			t.Errorf("rival batch(id): %s", resp.Data)
		}
		// Capacity cannot drop below the active users.
		boss.MustData(update, map[string]any{"in": map[string]any{"id": batchID, "maxUsers": 1}}, &r)
		if !slices.Equal(codes(r.UpdateBatch.Errors), []string{"INVALID@input.maxUsers"}) {
			t.Errorf("maxUsers below the user count: %v", codes(r.UpdateBatch.Errors))
		}
		// Deactivated: no users can be added until reactivated.
		boss.MustData(update, map[string]any{"in": map[string]any{"id": batchID, "isActive": false, "maxUsers": 5}}, &r)
		if b := r.UpdateBatch.Batch; b == nil || b.IsActive || b.CanAddUsers || b.MaxUsers != 5 || b.Name != "Rules" {
			t.Fatalf("deactivate = %+v %v", b, codes(r.UpdateBatch.Errors))
		}
		if in := createB2BUser(t, boss, batchID, "r3@corp.test", "+4944000005"); !slices.Equal(codes(in.Errors), []string{"BATCH_INACTIVE@input.batchId"}) {
			t.Errorf("create into an inactive batch: %v", codes(in.Errors))
		}
		// Admins change any batch.
		admin.MustData(update, map[string]any{"in": map[string]any{"id": batchID, "isActive": true}}, &r)
		if b := r.UpdateBatch.Batch; b == nil || !b.IsActive || !b.CanAddUsers {
			t.Errorf("admin reactivates = %+v %v", b, codes(r.UpdateBatch.Errors))
		}
		if ok := createB2BUser(t, boss, batchID, "r3@corp.test", "+4944000005"); ok.User == nil {
			t.Errorf("create after reactivation: %v", codes(ok.Errors))
		}
		// Batches search and scoping.
		createBatch(t, boss, "Night Shift", 3)
		var list struct {
			Batches struct {
				TotalCount int `json:"totalCount"`
				Edges      []struct {
					Node struct{ Name string } `json:"node"`
				} `json:"edges"`
			} `json:"batches"`
		}
		boss.MustData(`{ batches(search: "shift") { totalCount edges { node { name } } } }`, nil, &list)
		if list.Batches.TotalCount != 1 || list.Batches.Edges[0].Node.Name != "Night Shift" {
			t.Errorf("batches(search) = %+v", list.Batches)
		}
		rival.MustData(`{ batches { totalCount } }`, nil, &list)
		if list.Batches.TotalCount != 0 {
			t.Errorf("rival sees %d batches", list.Batches.TotalCount)
		}
		admin.MustData(`{ batches { totalCount } }`, nil, &list)
		if list.Batches.TotalCount != 2 {
			t.Errorf("admin sees %d batches, want 2", list.Batches.TotalCount)
		}
	})
}

// Bulk creates racing each other and a batch update that shrinks the batch
// never overfill it.
func TestBulkCreatesAndBatchUpdatesRacing(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		boss := approvedB2BAdmin(t, srv, admin, "race-boss@corp.test", "+4932000001")
		batchID := createBatch(t, boss, "Race", 20).Batch.ID
		answers := parallel(6, func(i int) gqlResponse {
			if i == 5 { // shrink the batch while the bulk creates run
				return boss.DoAsync(`mutation($id: ID!) { updateBatch(input: {id: $id, maxUsers: 8}) { batch { maxUsers } errors { field code } } }`, map[string]any{"id": batchID})
			}
			rows := make([]any, 4)
			for j := range rows {
				rows[j] = row(fmt.Sprintf("race%d-%d@corp.test", i, j), fmt.Sprintf("+49320%02d%04d", i, j))
			}
			return boss.DoAsync(createB2BUsersMutation, map[string]any{"in": map[string]any{"batchId": batchID, "users": rows, "errorPolicy": "REJECT_FAILED_ROWS"}})
		})
		created, shrunk := 0, false
		for i, a := range answers {
			if a.Code() != "" {
				t.Fatalf("%+v", a.Errors)
			}
			if i == 5 {
				var u struct{ UpdateBatch struct{ Errors []userError } }
				if err := decode(a, &u); err != nil {
					t.Fatal(err)
				}
				shrunk = len(u.UpdateBatch.Errors) == 0
				if !shrunk && !slices.Equal(codes(u.UpdateBatch.Errors), []string{"INVALID@input.maxUsers"}) {
					t.Errorf("the shrink was refused with %v, want INVALID maxUsers (more users than 8)", codes(u.UpdateBatch.Errors))
				}
				continue
			}
			var d struct{ CreateB2BUsers struct{ Count int } }
			if err := decode(a, &d); err != nil {
				t.Fatal(err)
			}
			created += d.CreateB2BUsers.Count
		}
		var b struct {
			Batch struct{ MaxUsers, UserCount int }
		}
		boss.MustData(`query($id: ID!) { batch(id: $id) { maxUsers userCount } }`, map[string]any{"id": batchID}, &b)
		// The shrink applied (then the batch holds at most 8) or was refused
		// because more were there already (then at most 20); the count is
		// what the creations reported, never more than the batch allows.
		wantMax := 20
		if shrunk {
			wantMax = 8
		}
		if b.Batch.MaxUsers != wantMax || b.Batch.UserCount != created || created > wantMax {
			t.Errorf("batch holds %d users (creations reported %d), maxUsers %d; want maxUsers %d and no more users than it",
				b.Batch.UserCount, created, b.Batch.MaxUsers, wantMax)
		}
		var rows int
		if err := srv.DB().NewRaw("SELECT count(*) FROM users WHERE batch_id = ?", batchID).Scan(context.Background(), &rows); err != nil || rows != b.Batch.UserCount {
			t.Errorf("%d user rows in the batch, userCount %d (%v)", rows, b.Batch.UserCount, err)
		}
	})
}

// Bulk creation does not tell a B2B admin whether an address has an account
// elsewhere: a neutral row error, an audit event, and a limit on such calls.
func TestBulkCreationDoesNotRevealOtherAccounts(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, map[string]string{"BULK_PROBES_PER_HOUR": "3"})
		mustSignIn(t, srv.Client().register(registerInput("someone@example.com", "+4932100001")))
		boss := approvedB2BAdmin(t, srv, admin, "prober@corp.test", "+4932100002")
		batchID := createBatch(t, boss, "Probe", 100).Batch.ID
		createB2BUser(t, boss, batchID, "mine@corp.test", "+4932100003")

		res := createB2BUsers(t, boss, batchID, "REJECT_FAILED_ROWS",
			row("someone@example.com", "+4932100004"), // an account outside the caller's users
			row("mine@corp.test", "+4932100005"),      // one of its own users
			row("fresh@corp.test", "+4932100006"))
		if got := codes(res.Results[0].Errors); !slices.Equal(got, []string{"INVALID@input.users.0"}) {
			t.Errorf("someone else's email: %v, want a neutral INVALID on the row", got)
		}
		if got := codes(res.Results[1].Errors); !slices.Equal(got, []string{"DUPLICATE@input.users.1.email"}) {
			t.Errorf("its own user's email: %v, want DUPLICATE", got)
		}
		if res.Count != 1 {
			t.Errorf("created %d, want 1", res.Count)
		}
		var events int
		if err := srv.DB().NewRaw("SELECT count(*) FROM audit_events WHERE action = 'ADDRESSES_ELSEWHERE'").Scan(context.Background(), &events); err != nil || events != 1 {
			t.Errorf("%d ADDRESSES_ELSEWHERE events (%v), want 1", events, err)
		}
		// createB2BUser answers the same way (and counts as such a call).
		var one struct{ CreateB2BUser payloadUser }
		boss.MustData(createB2BUserMutation, map[string]any{"in": map[string]any{"batchId": batchID, "email": "someone@example.com",
			"mobile": "+4932100009", "firstName": "S", "lastName": "O"}}, &one)
		if got := codes(one.CreateB2BUser.Errors); !slices.Equal(got, []string{"INVALID@"}) {
			t.Errorf("createB2BUser with someone else's email: %v, want a neutral INVALID", got)
		}
		// BULK_PROBES_PER_HOUR such calls an hour; the next is refused whole.
		for range 1 {
			createB2BUsers(t, boss, batchID, "REJECT_FAILED_ROWS", row("someone@example.com", "+4932100007"))
		}
		resp := boss.Do(createB2BUsersMutation, map[string]any{"in": map[string]any{"batchId": batchID,
			"users": []any{row("someone@example.com", "+4932100008")}}})
		if resp.Code() != "RATE_LIMITED" {
			t.Errorf("the 4th probing call with BULK_PROBES_PER_HOUR=3: %q, want RATE_LIMITED", resp.Code())
		}
	})
}
