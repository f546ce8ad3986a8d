// Several replicas on one database behave as one server.

package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Several replicas on one database behave as one: sessions, tokens, limits
// and email are shared. Two servers run on the same database (and, for
// SQLite, the same file) with the same signing keys.
func TestReplicasShareState(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["LOGIN_MAX_FAILURES"], env["MAIL_POLL_INTERVAL"] = "2", "20ms"
		env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_MOBILE"], env["BOOTSTRAP_ADMIN_PASSWORD"] = adminEmail, "+12025550001", goodPassword
		a, b := startServer(t, env), startServer(t, env)
		onA, onB := a.Client(), b.Client()

		p := mustSignIn(t, onA.register(registerInput("replica@example.com", "+12025550138")))
		if code := onB.As(*p.AccessToken).meCode(); code != "" {
			t.Errorf("B refuses A's access token: %q", code)
		}
		q := mustSignIn(t, onB.refresh(*p.RefreshToken))
		if !refused(onA.refresh(*p.RefreshToken)) {
			t.Error("A accepted a refresh token B had rotated")
		}
		// That was reuse: the session ended on both.
		if code := onA.As(*q.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("A after reuse detected on B's rotation: %q", code)
		}
		// A lockout earned on A holds on B.
		for i := range 2 {
			onA.login("replica@example.com", fmt.Sprint("wrong-", i))
		}
		if code := loginCode(onB.Do(loginMutation, map[string]any{"email": "replica@example.com", "password": goodPassword})); code != "RATE_LIMITED" {
			t.Errorf("B after A locked the email: %s", code)
		}
		// One email, two outbox workers: delivered once.
		admin := onB.As(*mustSignIn(t, onB.login(adminEmail, goodPassword)).AccessToken)
		createB2BAdmin(t, admin, "once@corp.test", "+12025550139")
		a.waitOutboxStatus(t, "once@corp.test", "SENT")
		// SENT is final (workers send only PENDING rows): the shared mail folder holds it once.
		if got := emailsTo(readEmails(t, filepath.Join(a.dataDir, "mail")), "once@corp.test"); len(got) != 1 {
			t.Errorf("%d copies delivered of one email", len(got))
		}
	})
}
