package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/resend/resend-go/v2"
	gomail "github.com/wneessen/go-mail"
)

// Envelope is one outbox email ready to go.
type Envelope struct {
	ID        uuid.UUID
	From      string
	CreatedAt time.Time
	Message
}

// Driver delivers an email. Send may be called again for the same envelope
// (after a crash between sending and recording it); drivers use the ID to
// make that harmless where the provider allows.
type Driver interface {
	Send(ctx context.Context, e Envelope) error
}

// mimeMessage builds the standard MIME message (text and HTML alternatives).
func mimeMessage(e Envelope) (*gomail.Msg, error) {
	m := gomail.NewMsg()
	if err := m.From(e.From); err != nil {
		return nil, fmt.Errorf("MAIL_FROM: %w", err)
	}
	if err := m.To(e.To); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(e.ID.String() + "@usergraph")
	m.SetDateWithValue(e.CreatedAt)
	m.SetBodyString(gomail.TypeTextPlain, e.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	return m, nil
}

// FileDriver writes each email as a .eml file into a directory, for
// development and tests: open it in a mail client or read the link.
type FileDriver struct{ Dir string }

// Send writes the message; the file name holds the outbox ID, so sending the
// same envelope twice leaves one file.
func (d FileDriver) Send(_ context.Context, e Envelope) error {
	m, err := mimeMessage(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%s-%s.eml", e.CreatedAt.UTC().Format("20060102T150405.000Z"), e.Template, e.ID)
	tmp := filepath.Join(d.Dir, "."+name+".tmp")
	if err := m.WriteToFile(tmp); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d.Dir, name))
}

// SMTPConfig configures SMTPDriver.
type SMTPConfig struct {
	Host, Username, Password string
	Port                     int
	// TLS is "mandatory" (STARTTLS required), "opportunistic" or "none".
	TLS string
	// RootCAs, when set, are the CAs trusted for the server's certificate
	// instead of the system's.
	RootCAs *x509.CertPool
}

// SMTPDriver sends through an SMTP server with STARTTLS.
type SMTPDriver struct{ client *gomail.Client }

// NewSMTPDriver returns a driver for the server in c.
func NewSMTPDriver(c SMTPConfig) (*SMTPDriver, error) {
	policy := map[string]gomail.TLSPolicy{
		"mandatory": gomail.TLSMandatory, "opportunistic": gomail.TLSOpportunistic, "none": gomail.NoTLS,
	}[c.TLS]
	opts := []gomail.Option{gomail.WithPort(c.Port), gomail.WithTLSPolicy(policy), gomail.WithTimeout(30 * time.Second)}
	if c.RootCAs != nil {
		opts = append(opts, gomail.WithTLSConfig(&tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}))
	}
	if c.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return nil, err
	}
	return &SMTPDriver{client: client}, nil
}

// Send delivers one message over a new connection.
func (d *SMTPDriver) Send(ctx context.Context, e Envelope) error {
	m, err := mimeMessage(e)
	if err != nil {
		return err
	}
	return d.client.DialAndSendWithContext(ctx, m)
}

// ResendDriver sends through the Resend API.
type ResendDriver struct{ client *resend.Client }

// NewResendDriver returns a driver using apiKey; baseURL, when set, replaces
// Resend's API address (tests point it at a fake server).
func NewResendDriver(apiKey, baseURL string) (*ResendDriver, error) {
	client := resend.NewClient(apiKey)
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil {
			return nil, err
		}
		if u.Path == "" || u.Path[len(u.Path)-1] != '/' {
			u.Path += "/"
		}
		client.BaseURL = u
	}
	return &ResendDriver{client: client}, nil
}

// Send posts the email with the outbox ID as idempotency key, so a retry
// after an unrecorded success is not delivered twice.
func (d *ResendDriver) Send(ctx context.Context, e Envelope) error {
	_, err := d.client.Emails.SendWithOptions(ctx, &resend.SendEmailRequest{
		From: e.From, To: []string{e.To}, Subject: e.Subject, Text: e.Text, Html: e.HTML,
	}, &resend.SendEmailOptions{IdempotencyKey: "usergraph-" + e.ID.String()})
	return err
}

// ErrUnknownDriver is returned for a MAIL_DRIVER that is not file, smtp or resend.
var ErrUnknownDriver = errors.New("unknown mail driver")
