package mail

import (
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
