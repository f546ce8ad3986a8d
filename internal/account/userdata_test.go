package account

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/passkeytest"
	"github.com/usergraph/usergraph/internal/testdb"
	"github.com/usergraph/usergraph/internal/userdata"
)

// Every table of the migrated schema that refers to users (or to a table
// that does) is declared by exactly one package, and every declared table
// exists: a new table holding user data fails here until someone decides
// what erasure and export do with it.
func TestEveryTableReferringToUsersIsDeclared(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		declared := map[string]userdata.Table{}
		for _, h := range f.s.UserData() {
			for _, tbl := range h.UserTables() {
				if _, twice := declared[tbl.Name]; twice {
					t.Errorf("%s is declared twice", tbl.Name)
				}
				declared[tbl.Name] = tbl
				if tbl.Erasure != userdata.Delete && tbl.Reason == "" || tbl.Export == nil && tbl.Reason == "" {
					t.Errorf("%s: kept or not exported without a reason", tbl.Name)
				}
			}
		}
		refs := foreignKeys(t, f)
		if len(refs) < 10 {
			t.Fatalf("only %d foreign keys read: %v", len(refs), refs)
		}
		tables := map[string]bool{}
		for _, r := range refs {
			tables[r.from], tables[r.to] = true, true
		}
		// Tables referring to users, or to a declared table, hold user data.
		for changed := true; changed; {
			changed = false
			for _, r := range refs {
				if _, ok := declared[r.to]; (r.to == "users" || ok) && r.from != r.to {
					if _, ok := declared[r.from]; !ok {
						t.Errorf("%s refers to %s but no package declares what erasure and export do with it (package userdata)", r.from, r.to)
						declared[r.from] = userdata.Table{Name: r.from}
						changed = true
					}
				}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(declared)) {
			if !tableExists(t, f, name) {
				t.Errorf("%s is declared but not in the schema", name)
			}
		}
	})
}

type reference struct{ from, to string }

func foreignKeys(t *testing.T, f *fixture) []reference {
	t.Helper()
	q := `SELECT m.name AS "from", p."table" AS "to" FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS p WHERE m.type = 'table'`
	if db.IsPostgres(f.db) {
		q = `SELECT c.conrelid::regclass::text AS "from", c.confrelid::regclass::text AS "to" FROM pg_constraint AS c
WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`
	}
	var rows []struct {
		From string `bun:"from"`
		To   string `bun:"to"`
	}
	if err := f.db.NewRaw(q).Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	out := make([]reference, len(rows))
	for i, r := range rows {
		out[i] = reference{r.From, r.To}
	}
	return out
}

func tableExists(t *testing.T, f *fixture, name string) bool {
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if db.IsPostgres(f.db) {
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
	}
	return f.count(q, name) == 1
}

// Erasure leaves nothing that signs the person in or names them: no
// sessions (with their addresses and user agents) or refresh tokens, no
// links or unsent emails, no second factor, no counters named after them;
// the row stays, anonymised, and the email is free again.
func TestErasureLeavesNothingThatSignsInOrNames(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		dev := passkeytest.New(rpID, rpOrigin)
		u, ctx := f.addPasskey("erase@example.com", "+12025550109", dev)                  // a session, a passkey, emails pending
		if _, _, err := f.s.StartPasskeySignIn(f.anon, "erase@example.com"); err != nil { // a challenge bound to the email
			t.Fatal(err)
		}
		if _, err := f.s.EnrollTotp(ctx, password, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Login(f.anon, "erase@example.com", "wrong-password"); codeOf(err) == "" { // a counter
			t.Fatal("a wrong password signed in")
		}
		if err := f.s.RequestPasswordReset(f.anon, "erase@example.com"); err != nil { // a link, an email, a counter
			t.Fatal(err)
		}
		sessions := []string{}
		if err := f.db.NewSelect().Model((*Session)(nil)).Column("id").Where("user_id = ?", u.ID).Scan(context.Background(), &sessions); err != nil || len(sessions) == 0 {
			t.Fatalf("before erasure: sessions %v %v", sessions, err)
		}
		if err := f.s.DeleteMyAccount(ctx, password); err != nil {
			t.Fatal(err)
		}
		for what, query := range map[string]string{
			"sessions":         "SELECT count(*) FROM sessions WHERE user_id = ?",
			"one-time tokens":  "SELECT count(*) FROM one_time_tokens WHERE user_id = ?",
			"authenticators":   "SELECT count(*) FROM totp_secrets WHERE user_id = ?",
			"recovery codes":   "SELECT count(*) FROM recovery_codes WHERE user_id = ?",
			"mfa challenges":   "SELECT count(*) FROM mfa_challenges WHERE user_id = ?",
			"passkeys":         "SELECT count(*) FROM passkeys WHERE user_id = ?",
			"counters by id":   "SELECT count(*) FROM rate_limits WHERE key LIKE '%' || ?",
			"names or contact": "SELECT count(*) FROM users WHERE id = ? AND (first_name <> '' OR last_name <> '' OR email LIKE '%example.com' OR password_hash IS NOT NULL OR is_active)",
		} {
			if n := f.count(query, u.ID.String()); n != 0 {
				t.Errorf("after erasure: %d %s left", n, what)
			}
		}
		if n := f.count("SELECT count(*) FROM refresh_tokens WHERE session_id IN (?)", bun.List(sessions)); n != 0 {
			t.Errorf("after erasure: %d refresh tokens left", n)
		}
		if n := f.count("SELECT count(*) FROM passkey_challenges"); n != 0 {
			t.Errorf("after erasure: %d passkey challenges left", n)
		}
		if n := f.count("SELECT count(*) FROM mail_outbox WHERE recipient = ?", "erase@example.com"); n != 0 {
			t.Errorf("after erasure: %d emails to the address left", n)
		}
		if n := f.count("SELECT count(*) FROM rate_limits WHERE key LIKE ?", "%erase@example.com"); n != 0 {
			t.Errorf("after erasure: %d counters named after the email left", n)
		}
		if n := f.count("SELECT count(*) FROM audit_events WHERE details LIKE ?", "%erase@example.com%"); n != 0 {
			t.Errorf("after erasure: %d audit events name the email", n)
		}
		if n := f.count("SELECT count(*) FROM audit_events WHERE ip <> '' OR user_agent <> ''"); n != 0 {
			t.Errorf("after erasure: %d audit events keep where the person's requests came from", n)
		}
		// The address is free again.
		f.register("erase@example.com", "+12025550109")
	})
}
