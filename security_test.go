package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

func TestSessions(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		phone := srv.Client()
		phone.Header.Set("User-Agent", "PhoneApp/1.0")
		first := mustSignIn(t, phone.register(registerInput("sess@example.com", "+4953000001")))
		laptop := srv.Client()
		laptop.Header.Set("User-Agent", "Laptop Browser")
		second := mustSignIn(t, laptop.login("sess@example.com", goodPassword))
		me := laptop.As(*second.AccessToken)

		var r sessionsResult
		me.MustData(sessionsQuery, nil, &r)
		if len(r.Me.Sessions) != 2 || !r.Me.Sessions[0].Current || r.Me.Sessions[0].UserAgent != "Laptop Browser" ||
			r.Me.Sessions[1].Current || r.Me.Sessions[1].UserAgent != "PhoneApp/1.0" || r.Me.Sessions[1].IP != "127.0.0.1" {
			t.Fatalf("sessions = %+v", r.Me.Sessions)
		}
		phoneSession := r.Me.Sessions[1].ID

		// Another user cannot end it, nor see that it exists.
		other := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("other@example.com", "+4953000002"))).AccessToken)
		var rv struct {
			RevokeSession struct {
				OK     bool        `json:"ok"`
				Errors []userError `json:"errors"`
			}
		}
		other.MustData(revokeSessionMutation, map[string]any{"id": phoneSession}, &rv)
		if rv.RevokeSession.OK || !slices.Equal(codes(rv.RevokeSession.Errors), []string{"NOT_FOUND@input.id"}) {
			t.Errorf("revoking someone else's session: %+v", rv)
		}
		// The owner ends it: its access and refresh tokens stop at once.
		me.MustData(revokeSessionMutation, map[string]any{"id": phoneSession}, &rv)
		if !rv.RevokeSession.OK {
			t.Fatalf("revokeSession = %+v", rv)
		}
		if code := srv.Client().As(*first.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("revoked session's access token: %q", code)
		}
		if !refused(srv.Client().refresh(*first.RefreshToken)) {
			t.Error("revoked session's refresh token still works")
		}
		me.MustData(sessionsQuery, nil, &r)
		if len(r.Me.Sessions) != 1 {
			t.Errorf("%d sessions listed after revoking one, want 1", len(r.Me.Sessions))
		}
		// Admins may end anyone's session.
		admin.MustData(revokeSessionMutation, map[string]any{"id": r.Me.Sessions[0].ID}, &rv)
		if !rv.RevokeSession.OK || me.meCode() != "UNAUTHENTICATED" {
			t.Errorf("admin revoking a session: %+v", rv)
		}
	})
}

func TestAuditLog(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		secLog := filepath.Join(t.TempDir(), "security.log")
		srv, admin := b2bServer(t, dbURL, map[string]string{"SECURITY_LOG": secLog, "LOGIN_MAX_FAILURES": "2"})
		anon := srv.Client()
		anon.Header.Set("User-Agent", "AuditTest/2")

		// A journey touching every kind of event.
		p := mustSignIn(t, anon.register(registerInput("aud@example.com", "+4954000001")))
		me := anon.As(*p.AccessToken)
		anon.login("aud@example.com", "wrong-password-1")
		anon.login("aud@example.com", "wrong-password-2") // second failure: locked out
		anon.login("ghost@example.com", "whatever-pass")
		second := mustSignIn(t, srv.Client().register(registerInput("aud2@example.com", "+4954000002")))
		mustSignIn(t, anon.refresh(*second.RefreshToken))
		anon.refresh(*second.RefreshToken) // reuse
		me.Do(`mutation { changePassword(input: {oldPassword: "`+goodPassword+`", newPassword: "plum-Orbit-88", newPasswordConfirm: "plum-Orbit-88"}) { ok } }`, nil)
		me.Do(`mutation { updateProfile(input: {city: "Oslo"}) { errors { code } } }`, nil)
		me.upload("a.png", pngImage(t, 8, 8))
		adjust(t, admin, p.User.ID, "CREDIT", "10.00", "audit-1")
		var sess sessionsResult
		me.MustData(sessionsQuery, nil, &sess)
		boss := approvedB2BAdmin(t, srv, admin, "audboss@corp.test", "+4954000003")
		batchID := createBatch(t, boss, "Audit", 5).Batch.ID
		boss.Do(`mutation($id: ID!) { updateBatch(input: {id: $id, maxUsers: 6}) { errors { code } } }`, map[string]any{"id": batchID})
		createB2BUser(t, boss, batchID, "audstaff@corp.test", "+4954000004")
		onboard(t, srv, "audstaff@corp.test")
		anon.Do(requestResetMutation, map[string]any{"e": "audstaff@corp.test"})
		for _, m := range srv.waitEmails("audstaff@corp.test", 2) {
			if m.Subject == "Reset your password" {
				anon.Do(`mutation($t: String!) { resetPassword(input: {token: $t, password: "kiwi-Lagoon-64", passwordConfirm: "kiwi-Lagoon-64"}) { ok } }`,
					map[string]any{"t": linkToken(t, m, "reset-password")})
			}
		}
		other := mustSignIn(t, srv.Client().login("aud2@example.com", goodPassword))
		var theirs struct {
			User struct {
				Sessions []struct{ ID string } `json:"sessions"`
			} `json:"user"`
		}
		admin.MustData(`query($id: ID!) { user(id: $id) { sessions { id } } }`, map[string]any{"id": other.User.ID}, &theirs)
		for _, x := range theirs.User.Sessions {
			admin.Do(revokeSessionMutation, map[string]any{"id": x.ID})
		}
		if code := srv.Client().As(*other.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("revoked session still works: %q", code)
		}
		reject := createB2BAdmin(t, admin, "audrej@corp.test", "+4954000005")
		admin.Do(rejectMutation, map[string]any{"id": reject, "reason": "No contract"})
		me.Do(logoutMutation, map[string]any{"t": *p.RefreshToken})

		var all auditResult
		admin.MustData(auditQuery, map[string]any{"first": 100}, &all)
		want := []string{"ACCOUNT_CREATED", "LOGIN_SUCCEEDED", "LOGIN_FAILED", "LOGIN_LOCKED_OUT", "REFRESH_TOKEN_REUSED",
			"PASSWORD_CHANGED", "PROFILE_UPDATED", "AVATAR_CHANGED", "WALLET_ADJUSTED", "B2B_ADMIN_APPROVED", "B2B_ADMIN_REJECTED",
			"PASSWORD_SET", "BATCH_CREATED", "BATCH_UPDATED", "PASSWORD_RESET_REQUESTED", "PASSWORD_RESET", "SESSION_REVOKED",
			"LOGGED_OUT"}
		for _, a := range want {
			if !slices.Contains(all.actions(), a) {
				t.Errorf("no %s event in %v", a, all.actions())
			}
		}
		// Filter, and what an event carries.
		var failed auditResult
		admin.MustData(auditQuery, map[string]any{"f": map[string]any{"action": "LOGIN_FAILED"}}, &failed)
		if failed.AuditEvents.TotalCount != 3 {
			t.Errorf("%d LOGIN_FAILED events, want 3", failed.AuditEvents.TotalCount)
		}
		for _, e := range failed.AuditEvents.Edges {
			if e.Node.IP != "127.0.0.1" || e.Node.UserAgent != "AuditTest/2" || !strings.Contains(e.Node.Details, "reason") {
				t.Errorf("LOGIN_FAILED event = %+v", e.Node)
			}
		}
		// Target and time filters.
		var about auditResult
		admin.MustData(auditQuery, map[string]any{"f": map[string]any{"targetId": p.User.ID, "since": "2000-01-01T00:00:00Z"}, "first": 100}, &about)
		aboutFirst := 0
		for _, e := range all.AuditEvents.Edges {
			if e.Node.Target != nil && e.Node.Target.Email == "aud@example.com" {
				aboutFirst++
			}
		}
		if all.AuditEvents.TotalCount > 100 || about.AuditEvents.TotalCount != aboutFirst || aboutFirst < 8 {
			t.Errorf("targetId filter: %d events about the first user, the whole log has %d (of %d)",
				about.AuditEvents.TotalCount, aboutFirst, all.AuditEvents.TotalCount)
		}
		for _, e := range about.AuditEvents.Edges {
			if e.Node.Target == nil || e.Node.Target.Email != "aud@example.com" {
				t.Errorf("targetId filter returned an event about %+v", e.Node.Target)
			}
		}
		var none auditResult
		admin.MustData(auditQuery, map[string]any{"f": map[string]any{"until": "2000-01-01T00:00:00Z"}}, &none)
		if none.AuditEvents.TotalCount != 0 {
			t.Errorf("%d events before 2000", none.AuditEvents.TotalCount)
		}

		// A B2B admin sees only events about the users it created.
		var own auditResult
		boss.MustData(auditQuery, map[string]any{"first": 100}, &own)
		// Its user was created, set its password (signing in), and reset it.
		if got, want := slices.Sorted(slices.Values(own.actions())), []string{"ACCOUNT_CREATED", "LOGIN_SUCCEEDED",
			"PASSWORD_RESET", "PASSWORD_RESET_REQUESTED", "PASSWORD_SET"}; !slices.Equal(got, want) {
			t.Errorf("B2B admin sees events %v, want exactly those about its user: %v", got, want)
		}
		for _, e := range own.AuditEvents.Edges {
			if e.Node.Target == nil || e.Node.Target.Email != "audstaff@corp.test" {
				t.Errorf("B2B admin sees an event about %+v", e.Node.Target)
			}
			if e.Node.IP != "" || e.Node.UserAgent != "" {
				t.Errorf("B2B admin sees where an event came from: %q %q", e.Node.IP, e.Node.UserAgent)
			}
		}
		// A B2C user with a live session may not read it.
		b2c := srv.Client().As(*mustSignIn(t, srv.Client().login("aud2@example.com", goodPassword)).AccessToken)
		if code := b2c.meCode(); code != "" {
			t.Fatalf("B2C session does not work: %q", code)
		}
		if code := b2c.Do(auditQuery, nil).Code(); code != "FORBIDDEN" {
			t.Errorf("B2C user reading the audit log: %q, want FORBIDDEN", code)
		}

		// The security log has the events and no secret.
		srv.Stop()
		raw, err := os.ReadFile(secLog)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		for _, a := range want {
			if !strings.Contains(text, `"action":"`+a+`"`) {
				t.Errorf("security log has no %s", a)
			}
		}
		for _, secret := range []string{goodPassword, "plum-Orbit-88", "wrong-password-1", *p.RefreshToken, *p.AccessToken, *second.RefreshToken} {
			if strings.Contains(text, secret) || strings.Contains(srv.Stderr.String(), secret) {
				t.Errorf("a secret (%.6s…) appears in the logs", secret)
			}
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

// An audit event is written in the transaction of the change it records:
// when the transaction fails after both were written, neither remains.
// PostgreSQL: a deferred trigger refuses the change at COMMIT, after the
// event was inserted. SQLite (one writer at a time): a trigger refuses the
// event, so the change must roll back with it.
func TestAuditEventsShareTheChangesTransaction(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		me := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("atomic@example.com", "+12025550135"))).AccessToken)
		db := srv.DB()
		trigger := []string{
			`CREATE FUNCTION refuse_change() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql`,
			`CREATE CONSTRAINT TRIGGER refuse_atlantis AFTER UPDATE ON users DEFERRABLE INITIALLY DEFERRED
			 FOR EACH ROW WHEN (NEW.city = 'Atlantis') EXECUTE FUNCTION refuse_change()`,
		}
		if dbURL == "" {
			trigger = []string{`CREATE TRIGGER refuse_profile BEFORE INSERT ON audit_events WHEN NEW.action = 'PROFILE_UPDATED' BEGIN SELECT RAISE(ABORT, 'refused'); END`}
		}
		for _, stmt := range trigger {
			if _, err := db.ExecContext(context.Background(), stmt); err != nil {
				t.Fatal(err)
			}
		}
		if code := me.Do(`mutation { updateProfile(input: {city: "Atlantis"}) { errors { code } } }`, nil).Code(); code != "INTERNAL" {
			t.Errorf("updateProfile whose transaction fails: %q, want INTERNAL", code)
		}
		var city string
		var events int
		if err := db.NewRaw("SELECT city FROM users WHERE email_key = ?", "atomic@example.com").Scan(context.Background(), &city); err != nil {
			t.Fatal(err)
		}
		if err := db.NewRaw("SELECT count(*) FROM audit_events WHERE action = 'PROFILE_UPDATED'").Scan(context.Background(), &events); err != nil {
			t.Fatal(err)
		}
		if city == "Atlantis" || events != 0 {
			t.Errorf("after the failed transaction: city %q, %d PROFILE_UPDATED events; want neither", city, events)
		}
	})
}
