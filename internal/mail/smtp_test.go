package mail_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/mail"
	"github.com/usergraph/usergraph/internal/mail/mailtest"
)

func envelope(to string) mail.Envelope {
	return mail.Envelope{ID: uuid.New(), From: "accounts@acme.test", CreatedAt: time.Now(),
		Message: mail.Message{Template: "password_setup", To: to, Subject: "Set up your password", Text: "text part", HTML: "<p>html part</p>"}}
}

func smtpDriver(t *testing.T, c mail.SMTPConfig) *mail.SMTPDriver {
	t.Helper()
	d, err := mail.NewSMTPDriver(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The default policy: STARTTLS required, the certificate verified against
// the configured CA, then AUTH; the message is MIME with both parts.
func TestSMTPDriverWithSTARTTLSAndAuth(t *testing.T) {
	cert, pool, _ := mailtest.CA(t)
	server := mailtest.StartSMTP(t, "relay-secret", &cert)
	port, _ := strconv.Atoi(server.Port)
	d := smtpDriver(t, mail.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "mandatory", RootCAs: pool,
		Username: "mailer", Password: "relay-secret"})
	if err := d.Send(context.Background(), envelope("tls@corp.test")); err != nil {
		t.Fatal(err)
	}
	m := server.Wait(t)
	if !m.TLS || m.AuthUser != "mailer" || m.From != "accounts@acme.test" || len(m.To) != 1 || m.To[0] != "tls@corp.test" ||
		!strings.Contains(m.Data, "Subject: Set up your password") || !strings.Contains(m.Data, "multipart/alternative") ||
		!strings.Contains(m.Data, "text part") || !strings.Contains(m.Data, "html part") {
		t.Errorf("message: TLS %v, auth %q, from %s to %v:\n%.600s", m.TLS, m.AuthUser, m.From, m.To, m.Data)
	}
}

// Mandatory STARTTLS refuses a server that does not offer it: nothing goes
// in the clear. The same server gets the message when the policy allows
// plaintext, so the refusal is the policy's.
func TestSMTPDriverRefusesPlaintextByDefault(t *testing.T) {
	server := mailtest.StartSMTP(t, "", nil)
	port, _ := strconv.Atoi(server.Port)
	err := smtpDriver(t, mail.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "mandatory"}).Send(context.Background(), envelope("plain@corp.test"))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "starttls") {
		t.Errorf("mandatory STARTTLS to a plaintext server: %v, want a STARTTLS refusal", err)
	}
	if n := len(server.Messages()); n != 0 {
		t.Errorf("%d messages received in the clear", n)
	}
	if err := smtpDriver(t, mail.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "opportunistic"}).Send(context.Background(), envelope("plain2@corp.test")); err != nil {
		t.Fatal(err)
	}
	if m := server.Wait(t); m.TLS || m.To[0] != "plain2@corp.test" {
		t.Errorf("opportunistic: TLS %v, to %v", m.TLS, m.To)
	}
}

// A server whose certificate is not trusted (its private CA not
// configured) gets nothing, not even the credentials.
func TestSMTPDriverRefusesAnUntrustedCertificate(t *testing.T) {
	cert, _, _ := mailtest.CA(t)
	server := mailtest.StartSMTP(t, "relay-secret", &cert)
	port, _ := strconv.Atoi(server.Port)
	d := smtpDriver(t, mail.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "mandatory", Username: "mailer", Password: "relay-secret"})
	if err := d.Send(context.Background(), envelope("untrusted@corp.test")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate: %v, want a certificate error", err)
	}
	if len(server.Messages()) != 0 || server.Authenticated() {
		t.Errorf("an untrusted server got %d messages (authenticated: %v)", len(server.Messages()), server.Authenticated())
	}
}
