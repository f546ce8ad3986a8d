// Package mail composes usergraph's emails, keeps them in an outbox table
// written in the same transaction as the change that causes them, and
// delivers them after commit through a driver (file, smtp or resend), with
// retries. A failing provider never fails or undoes the change itself.
package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates
var templateFS embed.FS

// The emails usergraph sends; the names are also the outbox's template column.
const (
	TemplatePasswordSetup    = "password_setup"
	TemplatePasswordReset    = "password_reset"
	TemplateB2BAdminApproved = "b2b_admin_approved"
	TemplateB2BAdminRejected = "b2b_admin_rejected"
	TemplateEmailVerify      = "email_verify"
	TemplateMfaEnabled       = "mfa_enabled"
	TemplateMfaDisabled      = "mfa_disabled"
	TemplateSignInReset      = "sign_in_reset"
	TemplatePasskeyAdded     = "passkey_added"
)

var subjects = map[string]string{
	TemplatePasswordSetup:    "Set up your password",
	TemplatePasswordReset:    "Reset your password",
	TemplateB2BAdminApproved: "Your business account is approved",
	TemplateB2BAdminRejected: "Your business account was not approved",
	TemplateEmailVerify:      "Confirm your email address",
	TemplateMfaEnabled:       "Two-factor sign-in is on",
	TemplateMfaDisabled:      "Two-factor sign-in is off",
	TemplateSignInReset:      "An administrator reset how you sign in",
	TemplatePasskeyAdded:     "A passkey was added to your account",
}

type templates struct {
	subject *texttemplate.Template
	html    *htmltemplate.Template
	text    *texttemplate.Template
}

// Templates are every email's subject, text and HTML: the built-in ones,
// each of which a file in a folder of the app's own may replace.
type Templates struct{ byName map[string]templates }

// builtIn are the templates compiled into usergraph.
var builtIn *Templates

func init() {
	t, err := LoadTemplates("")
	if err != nil {
		panic(err)
	}
	builtIn = t
}

// LoadTemplates reads the templates: the built-in ones, with any of
// NAME.subject.txt, NAME.txt, NAME.html (and layout.html, which wraps every
// HTML body) in dir ("" for none) in their place. Every email is then
// composed once with sample data (Samples), with unknown fields an error,
// so a template that does not parse or names a field its email does not
// have is reported here, with its file and line, not when it is sent.
func LoadTemplates(dir string) (*Templates, error) {
	own := map[string]bool{}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, ".subject.txt"), ".txt"), ".html")
			if _, ok := subjects[base]; !ok && name != "layout.html" && !e.IsDir() && !strings.HasPrefix(name, ".") {
				return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %s names no email; the emails are %s (each NAME.subject.txt, NAME.txt, NAME.html), and layout.html",
					filepath.Join(dir, name), strings.Join(Names(), ", "))
			}
			own[name] = true
		}
	}
	// read is the file of that name, the folder's when it has one, and the
	// path errors name it by.
	read := func(name string) (string, string, error) {
		if own[name] {
			path := filepath.Join(dir, name)
			b, err := os.ReadFile(path)
			return string(b), path, err
		}
		b, err := fs.ReadFile(templateFS, "templates/"+name)
		return string(b), "templates/" + name, err
	}
	layout, layoutPath, err := read("layout.html")
	if err != nil {
		return nil, err
	}
	out := &Templates{byName: map[string]templates{}}
	for name, subject := range subjects {
		var t templates
		src, path := subject, name+".subject.txt"
		if own[path] {
			if src, path, err = read(path); err != nil {
				return nil, err
			}
		}
		if t.subject, err = texttemplate.New(path).Option("missingkey=error").Parse(strings.TrimSpace(src)); err != nil {
			return nil, err
		}
		if src, path, err = read(name + ".txt"); err == nil {
			t.text, err = texttemplate.New(path).Option("missingkey=error").Parse(src)
		}
		if err != nil {
			return nil, err
		}
		t.html, err = htmltemplate.New(layoutPath).Option("missingkey=error").Parse(layout)
		if err == nil {
			if src, path, err = read(name + ".html"); err == nil {
				_, err = t.html.New(path).Parse(src)
			}
		}
		if err != nil {
			return nil, err
		}
		out.byName[name] = t
	}
	c := Composer{appURL: "https://app.example.com", links: LinkLifetimes{Setup: 24 * time.Hour, Reset: time.Hour, Verify: 24 * time.Hour}, t: out}
	for _, name := range Names() {
		if _, err := c.Sample(name); err != nil {
			return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: the %s email: %w", name, err)
		}
	}
	return out, nil
}

// Names are the emails usergraph sends, sorted.
func Names() []string { return slices.Sorted(maps.Keys(subjects)) }

// Sample composes the email name with sample data, as LoadTemplates checks
// it and `usergraph mail preview` shows it.
func (c Composer) Sample(name string) (Message, error) {
	to := Recipient{Email: "ada@example.com", Name: "Ada Lovelace", Company: "Analytical Engines Ltd"}
	const token = "sample-token"
	switch name {
	case TemplatePasswordSetup:
		return c.PasswordSetup(to, token)
	case TemplatePasswordReset:
		return c.PasswordReset(to, token)
	case TemplateEmailVerify:
		return c.EmailVerify(to, token)
	case TemplateB2BAdminApproved:
		return c.B2BAdminApproved(to)
	case TemplateB2BAdminRejected:
		return c.B2BAdminRejected(to, "The company could not be verified.")
	case TemplateMfaEnabled:
		return c.MfaEnabled(to)
	case TemplateMfaDisabled:
		return c.MfaDisabled(to)
	case TemplateSignInReset:
		return c.SignInReset(to, true, 2)
	case TemplatePasskeyAdded:
		return c.PasskeyAdded(to, "MacBook")
	}
	return Message{}, fmt.Errorf("no email is named %q; the emails are %s", name, strings.Join(Names(), ", "))
}

// Message is one composed email.
type Message struct {
	Template string
	To       string
	Subject  string
	Text     string
	HTML     string
}

// Composer builds messages whose links point at the single-page app.
type Composer struct {
	appURL string
	links  LinkLifetimes
	t      *Templates // nil: the built-in ones
}

// WithTemplates returns c composing with t (LoadTemplates).
func (c Composer) WithTemplates(t *Templates) Composer {
	c.t = t
	return c
}

// LinkLifetimes are how long emailed links work; the emails say so.
type LinkLifetimes struct{ Setup, Reset, Verify time.Duration }

// NewComposer returns a Composer for the app at appURL (no trailing slash)
// whose emails state links' lifetimes.
func NewComposer(appURL string, links LinkLifetimes) Composer {
	return Composer{appURL: appURL, links: links}
}

// Recipient is who an email is about and to.
type Recipient struct {
	Email   string
	Name    string
	Company string
}

// PasswordSetup invites a new account to choose its first password (24 h link).
func (c Composer) PasswordSetup(to Recipient, token string) (Message, error) {
	return c.compose(TemplatePasswordSetup, to, map[string]any{"Link": c.link("/setup-password", token), "Valid": inWords(c.links.Setup)})
}

// PasswordReset sends a password-reset link (1 h).
func (c Composer) PasswordReset(to Recipient, token string) (Message, error) {
	return c.compose(TemplatePasswordReset, to, map[string]any{"Link": c.link("/reset-password", token), "Valid": inWords(c.links.Reset)})
}

// EmailVerify asks a new account to confirm its address (24 h link).
func (c Composer) EmailVerify(to Recipient, token string) (Message, error) {
	return c.compose(TemplateEmailVerify, to, map[string]any{"Link": c.link("/verify-email", token), "Valid": inWords(c.links.Verify)})
}

// B2BAdminApproved tells a B2B admin it may now act.
func (c Composer) B2BAdminApproved(to Recipient) (Message, error) {
	return c.compose(TemplateB2BAdminApproved, to, map[string]any{"Link": c.appURL + "/login"})
}

// B2BAdminRejected tells a B2B admin its account was rejected, and why.
func (c Composer) B2BAdminRejected(to Recipient, reason string) (Message, error) {
	return c.compose(TemplateB2BAdminRejected, to, map[string]any{"Reason": reason})
}

// MfaEnabled tells the owner that two-factor sign-in was turned on, so a
// stranger who did it with a stolen session does not go unnoticed.
func (c Composer) MfaEnabled(to Recipient) (Message, error) {
	return c.compose(TemplateMfaEnabled, to, map[string]any{})
}

// MfaDisabled tells the owner that two-factor sign-in was turned off, by
// itself or by an administrator.
func (c Composer) MfaDisabled(to Recipient) (Message, error) {
	return c.compose(TemplateMfaDisabled, to, map[string]any{})
}

// SignInReset tells a user an administrator turned two-factor sign-in off
// (totp) and removed passkeys (how many) for them (resetUserMfa).
func (c Composer) SignInReset(to Recipient, totp bool, passkeys int) (Message, error) {
	return c.compose(TemplateSignInReset, to, map[string]any{"Totp": totp, "Passkeys": passkeys})
}

// PasskeyAdded tells a user a passkey was added to their account.
func (c Composer) PasskeyAdded(to Recipient, passkeyName string) (Message, error) {
	return c.compose(TemplatePasskeyAdded, to, map[string]any{"PasskeyName": passkeyName})
}

// inWords says a lifetime as an email would: "24 hours", "1 hour", "90 minutes".
func inWords(d time.Duration) string {
	n, unit := int(d/time.Minute), "minute"
	if d%time.Hour == 0 {
		n, unit = int(d/time.Hour), "hour"
	}
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func (c Composer) link(path, token string) string {
	return c.appURL + path + "?token=" + url.QueryEscape(token)
}

func (c Composer) compose(name string, to Recipient, data map[string]any) (Message, error) {
	data["Name"], data["Company"], data["AppURL"] = to.Name, to.Company, c.appURL
	all := c.t
	if all == nil {
		all = builtIn
	}
	t := all.byName[name]
	var subject, html, text bytes.Buffer
	if err := t.subject.Execute(&subject, data); err != nil {
		return Message{}, err
	}
	data["Subject"] = strings.TrimSpace(subject.String())
	if err := t.html.ExecuteTemplate(&html, "layout", data); err != nil {
		return Message{}, err
	}
	if err := t.text.Execute(&text, data); err != nil {
		return Message{}, err
	}
	return Message{Template: name, To: to.Email, Subject: data["Subject"].(string), Text: text.String(), HTML: html.String()}, nil
}
