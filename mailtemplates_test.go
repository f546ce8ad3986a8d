package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

// The app's own templates (MAIL_TEMPLATES_DIR) are used for the emails
// the server sends, previewed by `usergraph mail preview`, and a broken
// one stops the start with its file and line.
func TestEmailsInTheAppsOwnWords(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		write := func(name, body string) {
			t.Helper()
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("password_reset.subject.txt", "Acme: a new password for {{.Name}}")
		write("password_reset.txt", "Acme here, {{.Name}}. Choose a new password: {{.Link}}\n")
		write("password_reset.html", `{{define "content"}}<p class="acme">Acme here, {{.Name}}: <a href="{{.Link}}">new password</a></p>{{end}}`)
		env := testEnv(t, dbURL)
		env["MAIL_TEMPLATES_DIR"] = dir
		srv := startServer(t, env)
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("words@example.com", "+4915140000001")))
		var d struct{ RequestPasswordReset struct{ Ok bool } }
		anon.MustData(`mutation { requestPasswordReset(input: {email: "words@example.com"}) { ok } }`, nil, &d)
		var reset email
		for _, e := range srv.waitEmails("words@example.com", 2) {
			if strings.Contains(e.Text, "reset-password") {
				reset = e
			}
		}
		if reset.Subject != "Acme: a new password for Ann Lee" || !strings.HasPrefix(reset.Text, "Acme here, Ann Lee. Choose a new password: ") ||
			!strings.Contains(reset.HTML, `<p class="acme">Acme here, Ann Lee:`) {
			t.Errorf("the reset email: %+v", reset)
		}
		linkToken(t, reset, "reset-password") // the link works as the built-in one's

		out, err := usergraphCmd(t, env, "", "mail", "preview", "password_reset")
		if err != nil || !strings.HasPrefix(out, "Subject: Acme: a new password for Ada Lovelace\n\nAcme here, Ada Lovelace.") {
			t.Errorf("mail preview: %v\n%s", err, out)
		}
		page := filepath.Join(t.TempDir(), "reset.html")
		if _, err := usergraphCmd(t, env, "", "mail", "preview", "--html", "--out", page, "password_reset"); err != nil {
			t.Fatal(err)
		}
		if html, _ := os.ReadFile(page); !strings.Contains(string(html), `<p class="acme">`) || !strings.HasPrefix(string(html), "<!DOCTYPE html>") {
			t.Errorf("mail preview --html --out: %s", html)
		}

		write("mfa_enabled.txt", "Hello {{.Name}},\ntwo-factor sign-in is on, {{.Nickname}}.\n")
		if _, err := usergraphCmd(t, env, "", "serve"); err == nil || !strings.Contains(err.Error(), "mfa_enabled.txt:2") || !strings.Contains(err.Error(), "Nickname") {
			t.Errorf("a start with a template naming an unknown field: %v, want its file and line", err)
		}
	})
}
