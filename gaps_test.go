package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Tests for behaviour no other test reached.

// A refresh session lives REFRESH_TOKEN_TTL from its last use: each refresh
// extends it, and past it neither its refresh nor its access tokens work.
func TestRefreshSessionExpiryAndSlidingExtension(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["REFRESH_TOKEN_TTL"] = "2h"
		srv := startServer(t, env)
		anon := srv.Client()
		p := mustSignIn(t, anon.register(registerInput("slide@example.com", "+12025550140")))
		db := srv.DB()
		expiry := func() time.Time {
			var at time.Time
			if err := db.NewRaw("SELECT expires_at FROM sessions WHERE user_id = ?", p.User.ID).Scan(context.Background(), &at); err != nil {
				t.Fatal(err)
			}
			return at
		}
		first := expiry()
		if d := time.Until(first); d < 119*time.Minute || d > 121*time.Minute {
			t.Errorf("a new session expires in %v, want REFRESH_TOKEN_TTL (2h)", d)
		}
		// Pretend an hour went by: the session now ends in one hour; a refresh slides it back to two.
		if _, err := db.NewRaw("UPDATE sessions SET expires_at = ? WHERE user_id = ?", first.Add(-time.Hour), p.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		q := mustSignIn(t, anon.refresh(*p.RefreshToken))
		if d := time.Until(expiry()); d < 119*time.Minute {
			t.Errorf("after a refresh the session expires in %v, want 2h again", d)
		}
		// Past its expiry the session is over.
		if _, err := db.NewRaw("UPDATE sessions SET expires_at = ? WHERE user_id = ?", time.Now().Add(-time.Minute).UTC(), p.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if errs := anon.refresh(*q.RefreshToken).Errors; !slices.Equal(codes(errs), []string{"INVALID_TOKEN@input.refreshToken"}) {
			t.Errorf("refresh of an expired session: %v", codes(errs))
		}
		if code := anon.As(*q.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("access token of an expired session: %q", code)
		}
	})
}

// One idempotency key sent many times at once applies once.
func TestConcurrentUseOfOneIdempotencyKey(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		id := mustSignIn(t, srv.Client().register(registerInput("idem@example.com", "+12025550141"))).User.ID
		answers := parallel(10, func(int) gqlResponse {
			return admin.DoAsync(adjustMutation, map[string]any{"in": map[string]any{
				"userId": id, "type": "CREDIT", "amount": "5.00", "description": "once", "idempotencyKey": "same-key"}})
		})
		txIDs := map[string]bool{}
		for _, a := range answers {
			var d struct{ AdjustWallet adjustPayload }
			if a.Code() != "" || decode(a, &d) != nil || d.AdjustWallet.Transaction == nil {
				t.Fatalf("adjustWallet: %+v %s", a.Errors, a.Data)
			}
			txIDs[d.AdjustWallet.Transaction.ID] = true
		}
		var w walletResult
		srv.Client().As(*mustSignIn(t, srv.Client().login("idem@example.com", goodPassword)).AccessToken).MustData(walletQuery, nil, &w)
		if len(txIDs) != 1 || w.Wallet.Balance != "1000005.00" || w.Wallet.Transactions.TotalCount != 2 {
			t.Errorf("10 concurrent uses of one key: %d transactions answered, balance %s, %d ledger entries; want 1, 1000005.00, 2 (opening + one)",
				len(txIDs), w.Wallet.Balance, w.Wallet.Transactions.TotalCount)
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
				return boss.DoAsync(`mutation($id: ID!) { updateBatch(input: {id: $id, maxUsers: 8}) { batch { maxUsers } errors { code } } }`, map[string]any{"id": batchID})
			}
			rows := make([]any, 4)
			for j := range rows {
				rows[j] = row(fmt.Sprintf("race%d-%d@corp.test", i, j), fmt.Sprintf("+49320%02d%04d", i, j))
			}
			return boss.DoAsync(createB2BUsersMutation, map[string]any{"in": map[string]any{"batchId": batchID, "users": rows, "errorPolicy": "REJECT_FAILED_ROWS"}})
		})
		for _, a := range answers {
			if a.Code() != "" {
				t.Fatalf("%+v", a.Errors)
			}
		}
		var b struct {
			Batch struct{ MaxUsers, UserCount int }
		}
		boss.MustData(`query($id: ID!) { batch(id: $id) { maxUsers userCount } }`, map[string]any{"id": batchID}, &b)
		// The shrink is refused below the users already there, or applied; either way the batch holds no more than it allows.
		if b.Batch.UserCount > b.Batch.MaxUsers || b.Batch.UserCount > 20 {
			t.Errorf("batch holds %d users with maxUsers %d", b.Batch.UserCount, b.Batch.MaxUsers)
		}
		var rows int
		if err := srv.DB().NewRaw("SELECT count(*) FROM users WHERE batch_id = ?", batchID).Scan(context.Background(), &rows); err != nil || rows != b.Batch.UserCount {
			t.Errorf("%d user rows in the batch, userCount %d (%v)", rows, b.Batch.UserCount, err)
		}
	})
}

// /readyz answers 503 when the database is unreachable, and 200 again
// when it is back; /healthz stays 200 (the process is up). PostgreSQL only:
// the embedded SQLite file cannot become unreachable to the process that
// holds it open. The server reaches PostgreSQL through a TCP proxy the test
// cuts.
func TestReadyzWithTheDatabaseDown(t *testing.T) {
	dbURL := testdb.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startTCPProxy(t, u.Host)
	u.Host = proxy.addr
	srv := startServer(t, testEnv(t, u.String()))
	c := &http.Client{Timeout: 10 * time.Second}
	status := func(path string) int {
		t.Helper()
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/readyz"); got != 200 {
		t.Fatalf("/readyz = %d before", got)
	}
	proxy.cut()
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down = %d, want 503", got)
	}
	if got := status("/healthz"); got != 200 {
		t.Errorf("/healthz with the database down = %d, want 200", got)
	}
	proxy.restore(t)
	// Each failed check drops a dead pooled connection; readiness returns
	// once the pool has a live one.
	deadline := time.Now().Add(10 * time.Second)
	for status("/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz stayed 503 after the database came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tcpProxy forwards a local port to target until cut.
type tcpProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
}

// cut stops accepting and closes every forwarded connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *tcpProxy) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// decode reads a response's data into dst.
func decode(r gqlResponse, dst any) error { return json.Unmarshal(r.Data, dst) }

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

// removeAvatar takes the caller's avatar by default; admins may remove
// anyone's, others only their own (schema description of its userId).
func TestRemoveAnotherUsersAvatar(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		owner := mustSignIn(t, srv.Client().register(registerInput("pic-owner@example.com", "+4931600001")))
		me := srv.Client().As(*owner.AccessToken)
		if up, _ := me.upload("a.png", pngImage(t, 8, 8)); len(up.Errors) > 0 {
			t.Fatal(codes(up.Errors))
		}
		other := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("pic-other@example.com", "+4931600002"))).AccessToken)
		const remove = `mutation($id: ID) { removeAvatar(input: {userId: $id}) { user { profile { avatarUrl } } errors { code } } }`
		if code := other.Do(remove, map[string]any{"id": owner.User.ID}).Code(); code != "FORBIDDEN" {
			t.Errorf("a user removing another's avatar: %q, want FORBIDDEN", code)
		}
		var still struct {
			Me struct{ Profile struct{ AvatarURL *string } }
		}
		me.MustData(`{ me { profile { avatarUrl } } }`, nil, &still)
		if still.Me.Profile.AvatarURL == nil {
			t.Fatal("the refused removal removed the avatar")
		}
		var d struct{ RemoveAvatar avatarPayload }
		admin.MustData(remove, map[string]any{"id": owner.User.ID}, &d)
		if d.RemoveAvatar.User == nil || d.RemoveAvatar.User.Profile.AvatarURL != nil {
			t.Errorf("admin removing the avatar: %+v", d.RemoveAvatar)
		}
	})
}

// Changing or resetting a password voids every outstanding setup and reset
// link of the user.
func TestPasswordChangesVoidOutstandingLinks(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		const reset = `mutation($t: String!) { resetPassword(input: {token: $t, password: "grape-Harbor-31", passwordConfirm: "grape-Harbor-31"}) { ok errors { field code } } }`
		resetCodes := func(token string) []string {
			var r struct {
				ResetPassword struct{ Errors []userError }
			}
			anon.MustData(reset, map[string]any{"t": token}, &r)
			return codes(r.ResetPassword.Errors)
		}
		latestLink := func(addr, path string, n int) string {
			mails := srv.waitEmails(addr, n)
			return linkToken(t, mails[len(mails)-1], path)
		}

		// A reset link sent before changePassword no longer works after it.
		p := mustSignIn(t, anon.register(registerInput("voids@example.com", "+4931700001")))
		anon.Do(requestResetMutation, map[string]any{"e": "voids@example.com"})
		link := latestLink("voids@example.com", "reset-password", 2) // after the confirmation email
		var cp struct{ ChangePassword struct{ OK bool } }
		anon.As(*p.AccessToken).MustData(`mutation { changePassword(input: {oldPassword: "`+goodPassword+`", newPassword: "plum-Orbit-88", newPasswordConfirm: "plum-Orbit-88"}) { ok } }`, nil, &cp)
		if !cp.ChangePassword.OK {
			t.Fatal("changePassword failed")
		}
		if got := resetCodes(link); !slices.Equal(got, []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("reset link after changePassword: %v, want INVALID_TOKEN", got)
		}

		// A setup link does not outlive a password set through a reset link.
		createB2BAdmin(t, admin, "voids-b2b@corp.test", "+4931700002")
		setup := latestLink("voids-b2b@corp.test", "setup-password", 1)
		anon.Do(requestResetMutation, map[string]any{"e": "voids-b2b@corp.test"})
		if got := resetCodes(latestLink("voids-b2b@corp.test", "reset-password", 2)); len(got) != 0 {
			t.Fatalf("reset: %v", got)
		}
		if p := anon.setupPassword(setup, goodPassword); !slices.Equal(codes(p.Errors), []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("setup link after a reset: %v, want INVALID_TOKEN", codes(p.Errors))
		}
	})
}

// CORS answers only the configured origins (none by default), GraphQL
// answers are never cached, and HOST binds one address.
func TestBrowserFacingHeaders(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		preflight := func(srv *testServer, origin string) string {
			req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/graphql", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "content-type")
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.Header.Get("Access-Control-Allow-Origin")
		}
		env := testEnv(t, dbURL)
		env["HOST"] = "127.0.0.1"
		closed := startServer(t, env)
		if got := preflight(closed, "https://evil.example"); got != "" {
			t.Errorf("no CORS_ALLOWED_ORIGINS, yet %q was allowed", got)
		}
		resp, err := httpClient.Post(closed.URL+"/graphql", "application/json", strings.NewReader(`{"query":"{ __typename }"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GraphQL answer Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
		}

		env = testEnv(t, dbURL)
		env["CORS_ALLOWED_ORIGINS"] = "https://app.example.com"
		open := startServer(t, env)
		if got := preflight(open, "https://app.example.com"); got != "https://app.example.com" {
			t.Errorf("configured origin: %q", got)
		}
		if got := preflight(open, "https://evil.example"); got != "" {
			t.Errorf("another origin: %q", got)
		}
	})
}

// Control characters and oversized searches are refused with a clear error,
// never an INTERNAL one (PostgreSQL cannot store NUL).
func TestControlCharactersAndLongSearches(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		in := registerInput("nul@example.com", "+4932000001")
		in["firstName"] = "Ann\x00"
		var reg struct{ Register authPayload }
		anon.MustData(registerMutation, map[string]any{"input": in}, &reg)
		if !slices.Equal(codes(reg.Register.Errors), []string{"INVALID@input.firstName"}) {
			t.Errorf("register with a NUL in a name: %v", codes(reg.Register.Errors))
		}
		for i := range 7 { // and on to the lockout, which records the email
			want := "INVALID_CREDENTIALS"
			if i >= 5 {
				want = "RATE_LIMITED"
			}
			if code := loginCode(anon.Do(loginMutation, map[string]any{"email": "nul\x00@example.com", "password": "x"})); code != want {
				t.Errorf("login %d with a NUL in the email: %s, want %s", i+1, code, want)
			}
		}
		if code := anon.Do(requestResetMutation, map[string]any{"e": "nul\x00@example.com"}).Code(); code != "" {
			t.Errorf("reset request with a NUL: %s", code)
		}
		for name, search := range map[string]string{"NUL": "ann\x00", "3,000 words": strings.Repeat("lee ", 3000), "a 500-letter word": strings.Repeat("a", 500)} {
			if code := admin.Do(usersQuery, map[string]any{"f": map[string]any{"search": search}}).Code(); code != "BAD_REQUEST" {
				t.Errorf("users search with %s: %q, want BAD_REQUEST", name, code)
			}
		}
		id := mustSignIn(t, anon.register(registerInput("nul2@example.com", "+4932000002"))).User.ID
		if p := adjust(t, admin, id, "CREDIT", "1.00", "key\x00"); !slices.Equal(codes(p.Errors), []string{"INVALID@input.idempotencyKey"}) {
			t.Errorf("adjustWallet with a NUL in the key: %v", codes(p.Errors))
		}
	})
}

// Bulk creation does not tell a B2B admin whether an address has an account
// elsewhere: a neutral row error, an audit event, and a limit on such calls.
func TestBulkCreationDoesNotRevealOtherAccounts(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
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
		// Twenty such calls an hour; the next is refused whole.
		for range 18 {
			createB2BUsers(t, boss, batchID, "REJECT_FAILED_ROWS", row("someone@example.com", "+4932100007"))
		}
		resp := boss.Do(createB2BUsersMutation, map[string]any{"in": map[string]any{"batchId": batchID,
			"users": []any{row("someone@example.com", "+4932100008")}}})
		if resp.Code() != "RATE_LIMITED" {
			t.Errorf("the 21st probing call: %q, want RATE_LIMITED", resp.Code())
		}
	})
}

// Look-alike and invisible characters cannot register an address that
// would shadow another, and a domain's Unicode and ASCII forms are one address.
func TestLookAlikeEmailsAreRefused(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		for i, email := range []string{"\u212aate@example.com", "ｋate@example.com", "аnn@example.com", "an\u200bn@example.com"} {
			got := anon.register(registerInput(email, fmt.Sprintf("+49322000%02d", i)))
			if !slices.Equal(codes(got.Errors), []string{"INVALID@input.email"}) {
				t.Errorf("register %q: %v, want INVALID", email, codes(got.Errors))
			}
		}
		mustSignIn(t, anon.register(registerInput("ann@bücher.example", "+4932200010")))
		if got := anon.register(registerInput("ann@xn--bcher-kva.example", "+4932200011")); !slices.Equal(codes(got.Errors), []string{"DUPLICATE@input.email"}) {
			t.Errorf("the same address with an ASCII domain: %v, want DUPLICATE", codes(got.Errors))
		}
		mustSignIn(t, anon.login("ANN@BÜCHER.example", goodPassword))
	})
}

// One phone number has one form (E.164): written three ways, it registers once.
func TestMobileNumbersAreStoredInOneForm(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		p := mustSignIn(t, anon.register(registerInput("phone1@example.com", "+49 (151) 234-5678")))
		var me struct{ Me struct{ Mobile string } }
		anon.As(*p.AccessToken).MustData(`{ me { mobile } }`, nil, &me)
		if me.Me.Mobile != "+491512345678" {
			t.Errorf("stored mobile %q, want +491512345678", me.Me.Mobile)
		}
		for i, same := range []string{"0049 151 2345678", "+491512345678"} {
			got := anon.register(registerInput(fmt.Sprintf("phone%d@example.com", i+2), same))
			if !slices.Equal(codes(got.Errors), []string{"DUPLICATE@input.mobile"}) {
				t.Errorf("%q again: %v, want DUPLICATE", same, codes(got.Errors))
			}
		}
	})
}

// Accounts stored before emails were keyed by their ASCII domain and mobiles
// kept in E.164 are brought to those forms once, at the next start.
func TestStoredContactsAreNormalizedOnce(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		srv := startServer(t, env)
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("old@bücher.example", "+4915120000001")))
		mustSignIn(t, anon.register(registerInput("taken@example.com", "+4915120000002")))
		srv.Stop()
		db := srv.DB()
		ctx := context.Background()
		// As an earlier release stored them: the Unicode domain in the key, a mobile without +.
		for _, q := range []string{
			"UPDATE users SET email_key = 'old@bücher.example', mobile = '4915120000001' WHERE email = 'old@bücher.example'",
			"UPDATE users SET mobile = '004915120000002' WHERE email = 'taken@example.com'",
			"DELETE FROM job_leases",
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		srv = startServer(t, env)
		var rows []struct {
			EmailKey string `bun:"email_key"`
			Mobile   string `bun:"mobile"`
		}
		if err := db.NewRaw("SELECT email_key, mobile FROM users WHERE email IN ('old@bücher.example', 'taken@example.com') ORDER BY email").Scan(ctx, &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].EmailKey != "old@xn--bcher-kva.example" || rows[0].Mobile != "+4915120000001" || rows[1].Mobile != "+4915120000002" {
			t.Errorf("after the start: %+v", rows)
		}
		// The sign-in that looks the email up by its new key works.
		mustSignIn(t, srv.Client().login("OLD@BÜCHER.example", goodPassword))
	})
}
