// Package mail composes usergraph's emails, keeps them in an outbox table
// written in the same transaction as the change that causes them, and
// delivers them after commit through a driver (file, smtp or resend), with
// retries. A failing provider never fails or undoes the change itself.
package mail

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"net/url"
	"strconv"
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
	html *htmltemplate.Template
	text *texttemplate.Template
}

var parsed = func() map[string]templates {
	out := map[string]templates{}
	for name := range subjects {
		out[name] = templates{
			html: htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")),
			text: texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/"+name+".txt")),
		}
	}
	return out
}()

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
	data["Name"], data["Company"], data["AppURL"], data["Subject"] = to.Name, to.Company, c.appURL, subjects[name]
	t := parsed[name]
	var html, text bytes.Buffer
	if err := t.html.ExecuteTemplate(&html, "layout", data); err != nil {
		return Message{}, err
	}
	if err := t.text.Execute(&text, data); err != nil {
		return Message{}, err
	}
	return Message{Template: name, To: to.Email, Subject: subjects[name], Text: text.String(), HTML: html.String()}, nil
}
