package mail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestComposeLinksAndEscaping(t *testing.T) {
	c := NewComposer("https://app.example.test", LinkLifetimes{Setup: 24 * time.Hour, Reset: time.Hour})
	to := Recipient{Email: "ann@example.test", Name: `Ann <script>alert(1)</script>`, Company: "Acme & Co"}
	cases := []struct {
		name    string
		compose func() (Message, error)
		subject string
		want    []string // in both bodies
	}{
		{"setup", func() (Message, error) { return c.PasswordSetup(to, "tok+/=en") }, "Set up your password",
			[]string{"https://app.example.test/setup-password?token=tok%2B%2F%3Den", "24 hours"}},
		{"reset", func() (Message, error) { return c.PasswordReset(to, "abc") }, "Reset your password",
			[]string{"https://app.example.test/reset-password?token=abc", "1 hour"}},
		{"approved", func() (Message, error) { return c.B2BAdminApproved(to) }, "",
			[]string{"https://app.example.test/login"}},
		{"rejected", func() (Message, error) { return c.B2BAdminRejected(to, "No <b>contract</b>") }, "",
			[]string{"contract"}},
	}
	for _, tc := range cases {
		m, err := tc.compose()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m.To != to.Email || m.Subject == "" || (tc.subject != "" && m.Subject != tc.subject) {
			t.Errorf("%s: to %q, subject %q", tc.name, m.To, m.Subject)
		}
		for _, want := range tc.want {
			if !strings.Contains(m.Text, want) || !strings.Contains(strings.ReplaceAll(m.HTML, "&amp;", "&"), want) {
				t.Errorf("%s: %q missing from a body", tc.name, want)
			}
		}
		// Names and reasons are data: escaped in HTML.
		if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>contract</b>") {
			t.Errorf("%s: unescaped input in the HTML body", tc.name)
		}
	}
}

func TestLifetimesInWords(t *testing.T) {
	for d, want := range map[time.Duration]string{24 * time.Hour: "24 hours", time.Hour: "1 hour", 90 * time.Minute: "90 minutes", time.Minute: "1 minute"} {
		if got := inWords(d); got != want {
			t.Errorf("inWords(%v) = %q, want %q", d, got, want)
		}
	}
}

// A folder of the app's own replaces templates by name, part by part; the
// others stay built in.
func TestTemplatesOfTheAppsOwn(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("password_reset.subject.txt", "{{.Name}}, your Acme password\n")
	write("password_reset.txt", "Hi {{.Name}}! Acme link: {{.Link}} ({{.Valid}})\n")
	write("layout.html", `{{define "layout"}}<main class="acme">{{template "content" .}}</main>{{end}}`)
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := NewComposer("https://app.example.com", LinkLifetimes{Setup: time.Hour, Reset: time.Hour, Verify: time.Hour}).WithTemplates(tpl)
	m, err := c.PasswordReset(Recipient{Email: "a@example.com", Name: "Ada"}, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Ada, your Acme password" || m.Text != "Hi Ada! Acme link: https://app.example.com/reset-password?token=tok (1 hour)\n" {
		t.Errorf("custom subject and text: %q %q", m.Subject, m.Text)
	}
	if !strings.HasPrefix(m.HTML, `<main class="acme"><h1`) || !strings.Contains(m.HTML, "Choose a new password") {
		t.Errorf("custom layout around the built-in body: %s", m.HTML)
	}
	v, err := c.EmailVerify(Recipient{Email: "a@example.com", Name: "Ada"}, "tok")
	if err != nil || v.Subject != "Confirm your email address" || !strings.Contains(v.Text, "verify-email?token=tok") {
		t.Errorf("a built-in email: %+v %v", v, err)
	}
}

// A template that does not parse, names a field its email does not have,
// or names no email stops the start: the error names the file and line.
func TestBrokenTemplatesAreRefusedWithTheirFileAndLine(t *testing.T) {
	for name, c := range map[string]struct{ file, body, want string }{
		"syntax":        {"mfa_enabled.txt", "Hello\n{{.Name}\n", "mfa_enabled.txt:2"},
		"text field":    {"mfa_disabled.txt", "Hello {{.Name}},\n{{.Nickname}}\n", "mfa_disabled.txt:2"},
		"unknown field": {"passkey_added.html", "{{define \"content\"}}\n<p>{{.PasskeyName}} {{.Device}}</p>{{end}}", "passkey_added.html:2"},
		"subject field": {"email_verify.subject.txt", "Confirm {{.Token}}", "email_verify.subject.txt:1"},
		"no such email": {"welcome.txt", "Hi", "welcome.txt names no email"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadTemplates(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.want)
		}
	}
}
