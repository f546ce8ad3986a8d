package main

import (
	"bytes"
	"context"
	"fmt"
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
