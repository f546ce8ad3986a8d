package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Tests for claims README.md and BENCHMARKS.md make that no other test checks.

// A failed sign-in costs one argon2id computation whatever the reason, so
// its cost does not tell whether the email has an account.
func TestFailedLoginsCostOneHashEach(t *testing.T) {
	eachDialect(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("known@example.com", "+12025550130")))
		gone := mustSignIn(t, anon.register(registerInput("gone@example.com", "+12025550131")))
		if _, err := srv.DB().NewRaw("UPDATE users SET is_active = ? WHERE id = ?", false, gone.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		createB2BAdmin(t, admin, "invited@corp.test", "+12025550132") // no password yet
		for _, tc := range []struct{ name, email, password string }{
			{"unknown email", "nobody@example.com", goodPassword},
			{"wrong password", "known@example.com", goodPassword + "!"},
			{"deactivated account", "gone@example.com", goodPassword},
			{"no password set yet", "invited@corp.test", goodPassword},
			{"right password", "known@example.com", goodPassword},
		} {
			before := srv.hashesComputed()
			anon.login(tc.email, tc.password)
			if n := srv.hashesComputed() - before; n != 1 {
				t.Errorf("%s: %d argon2id computations, want 1", tc.name, n)
			}
		}
	})
}

// requestPasswordReset answers no sooner than 250 ms, whether or not the
// email exists. (A lower bound the server enforces: it cannot pass falsely.)
func TestPasswordResetRequestFloor(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("floor@example.com", "+12025550133")))
		for _, email := range []string{"floor@example.com", "nobody@example.com"} {
			start := time.Now()
			anon.Do(requestResetMutation, map[string]any{"e": email})
			if took := time.Since(start); took < 250*time.Millisecond {
				t.Errorf("requestPasswordReset(%s) answered after %v, before the 250 ms floor", email, took)
			}
		}
	})
}

// Refresh tokens are stored only as their SHA-256, never as themselves.
func TestRefreshTokensAreStoredAsSHA256(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		p := mustSignIn(t, srv.Client().register(registerInput("hash@example.com", "+12025550134")))
		var stored []string
		if err := srv.DB().NewRaw("SELECT token_hash FROM refresh_tokens").Scan(context.Background(), &stored); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(*p.RefreshToken))
		if len(stored) != 1 || stored[0] != hex.EncodeToString(sum[:]) {
			t.Errorf("stored %v, want only the SHA-256 of the token", stored)
		}
		var leaked int
		if err := srv.DB().NewRaw("SELECT count(*) FROM refresh_tokens WHERE token_hash = ?", *p.RefreshToken).Scan(context.Background(), &leaked); err != nil || leaked != 0 {
			t.Errorf("the token itself is stored (%d rows, %v)", leaked, err)
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

// The bootstrap settings create an admin only when no active admin exists.
func TestBootstrapAdminOnlyWithoutAnActiveAdmin(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_MOBILE"], env["BOOTSTRAP_ADMIN_PASSWORD"] = "first@example.com", "+12025550136", goodPassword
		srv := startServer(t, env)
		srv.Stop()
		// The same database, other bootstrap settings: an active admin exists, so none is created.
		env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_MOBILE"] = "second@example.com", "+12025550137"
		srv = startServer(t, env)
		admins := func() []string {
			var emails []string
			if err := srv.DB().NewRaw("SELECT email FROM users WHERE role = 'ADMIN' ORDER BY email").Scan(context.Background(), &emails); err != nil {
				t.Fatal(err)
			}
			return emails
		}
		if got := admins(); strings.Join(got, ",") != "first@example.com" {
			t.Errorf("admins after a restart with other bootstrap settings: %v", got)
		}
		// With the only admin deactivated, the next start creates the bootstrap admin.
		srv.Stop()
		if _, err := srv.DB().NewRaw("UPDATE users SET is_active = ? WHERE role = 'ADMIN'", false).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv = startServer(t, env)
		if got := admins(); strings.Join(got, ",") != "first@example.com,second@example.com" {
			t.Errorf("admins after a start with no active admin: %v", got)
		}
	})
}

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
		if errs := onA.refresh(*p.RefreshToken).Errors; len(errs) == 0 {
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

// No usable secret at rest: after the setup and reset flows, with their
// emails delivered, no table holds a token from any email (one-time tokens
// are stored as hashes, delivered bodies are dropped).
func TestNoTokenFromAnyEmailIsInTheDatabase(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		createB2BAdmin(t, admin, "rest@corp.test", "+4931800001")
		setup := linkToken(t, srv.waitEmails("rest@corp.test", 1)[0], "setup-password")
		mustSignIn(t, anon.setupPassword(setup, goodPassword))
		anon.Do(requestResetMutation, map[string]any{"e": "rest@corp.test"}) // this link stays unused
		var tokens []string
		for _, m := range srv.waitEmails("rest@corp.test", 2) {
			for _, path := range []string{"setup-password", "reset-password"} {
				if strings.Contains(m.Text, path) {
					tokens = append(tokens, linkToken(t, m, path))
				}
			}
		}
		if len(tokens) != 2 {
			t.Fatalf("found %d links", len(tokens))
		}
		db := srv.DB()
		var pending int
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if err := db.NewRaw("SELECT count(*) FROM mail_outbox WHERE status = 'PENDING'").Scan(context.Background(), &pending); err != nil {
				t.Fatal(err)
			}
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d emails still pending", pending)
			}
		}
		var tables []string
		q := "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
		if dbURL == "" {
			q = "SELECT name FROM sqlite_master WHERE type = 'table'"
		}
		if err := db.NewRaw(q).Scan(context.Background(), &tables); err != nil {
			t.Fatal(err)
		}
		rows := 0
		for _, table := range tables {
			var dump []map[string]any
			if err := db.NewRaw("SELECT * FROM "+table).Scan(context.Background(), &dump); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			for _, row := range dump {
				rows++
				for col, v := range row {
					text := fmt.Sprint(v)
					if b, ok := v.([]byte); ok {
						text = string(b)
					}
					for _, tok := range tokens {
						if strings.Contains(text, tok) {
							t.Errorf("%s.%s holds a token from an email", table, col)
						}
					}
				}
			}
		}
		if len(tables) < 8 || rows < 10 {
			t.Fatalf("dumped %d rows of %d tables", rows, len(tables))
		}
	})
}

// Files the server writes are its own: 0600 in a 0700 data folder.
func TestDataFilesArePrivate(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		createB2BAdmin(t, admin, "files@corp.test", "+4931900001")
		srv.waitEmails("files@corp.test", 1)
		me := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("files@example.com", "+4931900002"))).AccessToken)
		if up, _ := me.upload("a.png", pngImage(t, 4, 4)); len(up.Errors) > 0 {
			t.Fatal(codes(up.Errors))
		}
		checked := 0
		err := filepath.WalkDir(srv.dataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if perm := info.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s is %v: others may read it", path, perm)
			}
			checked++
			return nil
		})
		if err != nil || checked < 6 {
			t.Errorf("walked %d files (%v)", checked, err)
		}
	})
}
