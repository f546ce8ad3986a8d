package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

// usergraphCmd runs usergraph's run with args, only the settings in env
// (a closed environment) and stdin as its standard input, and returns what
// it printed.
func usergraphCmd(t testing.TB, env map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out syncBuffer
	err := run(context.Background(), append([]string{"usergraph"}, args...), func(k string) string { return env[k] },
		strings.NewReader(stdin), &out, &out)
	if err != nil { // as main reports it
		fmt.Fprintln(&out, "usergraph:", err)
	}
	return out.String(), err
}

func TestCreateSuperuserThenLogin(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		args := []string{"createsuperuser", "--email", "Root@Example.com", "--mobile", "+12025550199",
			"--first-name", "Ada", "--last-name", "King", "--password-stdin"}

		out, err := usergraphCmd(t, env, "password\n", args...)
		if err == nil || !strings.Contains(out, "This password is too common.") {
			t.Fatalf("weak password: err %v, output %q; want refusal with the reason", err, out)
		}
		out, err = usergraphCmd(t, env, "", "createsuperuser", "--email", "x@example.com", "--mobile", "+12025550198")
		if err == nil || !strings.Contains(out, "--password-stdin") {
			t.Errorf("no terminal and no --password-stdin: err %v, output %q", err, out)
		}

		out, err = usergraphCmd(t, env, goodPassword+"\n", args...)
		if err != nil || !strings.Contains(out, "administrator Root@Example.com created") {
			t.Fatalf("createsuperuser: %v\n%s", err, out)
		}
		out, err = usergraphCmd(t, env, goodPassword+"\n", args...)
		if err == nil || !strings.Contains(out, "already exists") {
			t.Errorf("second createsuperuser with the same email: err %v, output %q", err, out)
		}

		srv := startServer(t, env)
		p := mustSignIn(t, srv.Client().login("root@example.com", goodPassword))
		if p.User.Role != "ADMIN" {
			t.Errorf("role = %s, want ADMIN", p.User.Role)
		}
	})
}

func TestBootstrapAdmin(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["BOOTSTRAP_ADMIN_EMAIL"] = "boot@example.com"
		env["BOOTSTRAP_ADMIN_MOBILE"] = "+12025550197"
		env["BOOTSTRAP_ADMIN_PASSWORD"] = goodPassword
		srv := startServer(t, env)
		p := mustSignIn(t, srv.Client().login("boot@example.com", goodPassword))
		if p.User.Role != "ADMIN" {
			t.Errorf("bootstrap admin role = %s", p.User.Role)
		}
	})
}

func TestMigrateCommand(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		getenv := func(k string) string { return env[k] }
		runCmd := func(args ...string) string {
			var out bytes.Buffer
			if err := run(context.Background(), append([]string{"usergraph"}, args...), getenv, strings.NewReader(""), &out, &out); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out.String())
			}
			return out.String()
		}
		if out := runCmd("migrate", "status"); !strings.Contains(out, "0001_accounts") || !strings.Contains(out, "pending") {
			t.Errorf("status before up: %q", out)
		}
		if out := runCmd("migrate", "up"); !strings.Contains(out, "up 0001_accounts") {
			t.Errorf("up: %q", out)
		}
		if out := runCmd("migrate", "status"); strings.Contains(out, "pending") || !strings.Contains(out, "applied") {
			t.Errorf("status after up: %q", out)
		}
		if out := runCmd("migrate", "up"); !strings.Contains(out, "nothing to do") {
			t.Errorf("second up: %q", out)
		}
		if out := runCmd("migrate", "down"); !strings.Contains(out, "down 0001_accounts") {
			t.Errorf("down: %q", out)
		}
		var out bytes.Buffer
		if err := run(context.Background(), []string{"usergraph", "migrate", "sideways"}, getenv, strings.NewReader(""), &out, &out); err == nil {
			t.Error("migrate sideways accepted")
		}
	})
}

// seed fills an empty database with accounts people can sign in to and an
// admin can list and search; it refuses a database that has users unless
// told to append.
func TestSeedCommand(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_MOBILE"], env["BOOTSTRAP_ADMIN_PASSWORD"] = adminEmail, "+12025550001", goodPassword
		out, err := usergraphCmd(t, env, "", "seed", "--users", "230", "--batches", "10", "--sessions", "40", "--password", goodPassword)
		if err != nil || !strings.Contains(out, "seeded 230 users, 10 batches, 40 sessions") || !strings.Contains(out, "230 of 230 users") {
			t.Fatalf("seed: %v\n%s", err, out)
		}
		srv := startServer(t, env) // adds the bootstrap admin: the database is no longer empty
		if out, err := usergraphCmd(t, env, "", "seed", "--users", "5"); err == nil || !strings.Contains(out, "--append") {
			t.Errorf("seed into a database with users: err %v, output %q", err, out)
		}
		if out, err := usergraphCmd(t, env, "", "seed", "--users", "20", "--append", "--password", goodPassword); err != nil {
			t.Fatalf("seed --append: %v\n%s", err, out)
		}

		admin := srv.Client().As(*mustSignIn(t, srv.Client().login(adminEmail, goodPassword)).AccessToken)
		var d struct {
			All, B2BAdmins, B2BUsers struct {
				TotalCount int
				Edges      []struct {
					Node struct{ Email, Mobile, FirstName string }
				}
			}
			Batches struct{ TotalCount int }
		}
		admin.MustData(`{
			all: users(first: 100) { totalCount edges { node { email mobile firstName } } }
			b2bAdmins: users(first: 1, filter: {role: B2B_ADMIN}) { totalCount edges { node { email mobile firstName } } }
			b2bUsers: users(first: 1, filter: {role: B2B_USER}) { totalCount }
			batches(first: 1) { totalCount }
		}`, nil, &d)
		// 250 seeded and the bootstrap admin; a tenth as many B2B admins as
		// batches; a fifth of the other first-run users in batches.
		if d.All.TotalCount != 251 || d.B2BAdmins.TotalCount != 1 || d.B2BUsers.TotalCount != 45 || d.Batches.TotalCount != 10 {
			t.Errorf("counts: all %d, B2B admins %d, B2B users %d, batches %d; want 251, 1, 45, 10",
				d.All.TotalCount, d.B2BAdmins.TotalCount, d.B2BUsers.TotalCount, d.Batches.TotalCount)
		}
		emails := map[string]bool{}
		for _, e := range d.All.Edges {
			if e.Node.Email == adminEmail {
				continue
			}
			if emails[e.Node.Email] || !strings.HasPrefix(e.Node.Mobile, "+49151") || e.Node.FirstName == "" {
				t.Fatalf("seeded user %+v: duplicate email, or not a realistic account", e.Node)
			}
			emails[e.Node.Email] = true
		}
		// Seeded accounts sign in with the password given, with their wallet.
		boss := srv.Client().As(*mustSignIn(t, srv.Client().login(d.B2BAdmins.Edges[0].Node.Email, goodPassword)).AccessToken)
		var mine struct {
			Me    struct{ Wallet struct{ Balance string } }
			Users struct{ TotalCount int }
		}
		boss.MustData(`{ me { wallet { balance } } users(first: 1) { totalCount } }`, nil, &mine)
		if mine.Me.Wallet.Balance != "1000000.00" || mine.Users.TotalCount != 45 {
			t.Errorf("the seeded B2B admin sees wallet %q and %d users; want 1000000.00 and its 45 staff", mine.Me.Wallet.Balance, mine.Users.TotalCount)
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

// Every command reads only its own flags, prints them for --help (exit 0,
// nothing started), and refuses unknown flags and stray arguments; the
// version names the commit; a data folder that cannot be written is named
// with its setting.
func TestEveryCommandKnowsItsFlags(t *testing.T) {
	env := testEnv(t, "")
	for name := range commands {
		args := strings.Fields(name)
		out, err := usergraphCmd(t, env, "", append(args, "--help")...)
		if err != nil || !strings.HasPrefix(out, "usage: usergraph "+name) {
			t.Errorf("%s --help: %v\n%s", name, err, out)
		}
		if strings.Contains(out, "listening") {
			t.Errorf("%s --help started a server", name)
		}
		if _, err := usergraphCmd(t, env, "", append(args, "--nope")...); err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -nope") {
			t.Errorf("%s --nope: %v, want an unknown-flag error", name, err)
		}
	}
	if out, _ := usergraphCmd(t, env, "", "keys", "rotate", "--help"); strings.Contains(out, "older-than") {
		t.Errorf("keys rotate --help shows prune's flag:\n%s", out)
	}
	if out, _ := usergraphCmd(t, env, "", "keys", "prune", "--help"); !strings.Contains(out, "-older-than") {
		t.Errorf("keys prune --help does not show --older-than:\n%s", out)
	}
	if _, err := usergraphCmd(t, env, "", "serve", "extra"); err == nil {
		t.Error("serve took a stray argument")
	}
	if out, err := usergraphCmd(t, env, "", "--help"); err != nil || !strings.Contains(out, "keys prune") {
		t.Errorf("--help: %v\n%s", err, out)
	}
	if out, err := usergraphCmd(t, env, "", "version"); err != nil || !regexp.MustCompile(`^usergraph \S+ \(commit \S+, go1\.\d+`).MatchString(out) {
		t.Errorf("version: %v %q", err, out)
	}
	blocked := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env["DATA_DIR"] = filepath.Join(blocked, "data")
	if _, err := usergraphCmd(t, env, "", "serve"); err == nil || !strings.Contains(err.Error(), "DATA_DIR="+env["DATA_DIR"]) {
		t.Errorf("an unusable data folder: %v, want an error naming DATA_DIR and its path", err)
	}
}
