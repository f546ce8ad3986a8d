package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/usergraph/usergraph/internal/testdb"
)

// fakeResend is a stand-in for the Resend API: it records every request and
// fails while failing() says so.
type fakeResend struct {
	*httptest.Server
	mu        sync.Mutex
	failing   func(attempt int) bool
	attempts  []resendRequest
	delivered []resendRequest
}

type resendRequest struct {
	IdempotencyKey string
	Auth           string
	Body           struct {
		From    string   `json:"from"`
		To      []string `json:"to"`
		Subject string   `json:"subject"`
		HTML    string   `json:"html"`
		Text    string   `json:"text"`
	}
}

func newFakeResend(t testing.TB, failing func(attempt int) bool) *fakeResend {
	f := &fakeResend{failing: failing}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req resendRequest
		req.IdempotencyKey, req.Auth = r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization")
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attempts = append(f.attempts, req)
		if r.Method != http.MethodPost || r.URL.Path != "/emails" {
			http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
			return
		}
		if f.failing(len(f.attempts)) {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"statusCode":503,"name":"internal_server_error","message":"try later"}`))
			return
		}
		f.delivered = append(f.delivered, req)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"email-` + strconv.Itoa(len(f.delivered)) + `"}`))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeResend) counts() (attempts, delivered int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.attempts), len(f.delivered)
}

func (f *fakeResend) waitDelivered(t *testing.T, n int) []resendRequest {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, d := f.counts(); d >= n {
			f.mu.Lock()
			defer f.mu.Unlock()
			return append([]resendRequest(nil), f.delivered...)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a, d := f.counts()
	t.Fatalf("Resend got %d attempts and %d deliveries, want %d deliveries", a, d, n)
	return nil
}

func resendEnv(f *fakeResend) map[string]string {
	return map[string]string{
		"MAIL_DRIVER": "resend", "RESEND_API_KEY": "re_test_key", "RESEND_API_URL": f.URL,
		"MAIL_FROM": "Acme Accounts <accounts@acme.test>", "MAIL_RETRY_BASE": "30ms", "MAIL_POLL_INTERVAL": "20ms",
	}
}

// A failing provider neither fails nor undoes the mutation; the email is
// retried with backoff and delivered exactly once, with one idempotency key.
func TestOutboxRetriesAFailingProvider(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		resend := newFakeResend(t, func(attempt int) bool { return attempt <= 3 })
		srv, admin := b2bServer(t, dbURL, resendEnv(resend))
		id := createB2BAdmin(t, admin, "flaky@corp.test", "+4939000001")

		var u struct {
			User *struct{ Email string } `json:"user"`
		}
		admin.MustData(`query($id: ID!) { user(id: $id) { email } }`, map[string]any{"id": id}, &u)
		if u.User == nil {
			t.Fatal("the account is missing although the provider failed")
		}
		got := resend.waitDelivered(t, 1)
		// Once the outbox records the email SENT no worker will send it
		// again (only PENDING rows are sent), so the counts are final.
		srv.waitOutboxStatus(t, "flaky@corp.test", "SENT")
		attempts, delivered := resend.counts()
		if attempts != 4 || delivered != 1 {
			t.Errorf("attempts %d, delivered %d; want 4 attempts (3 failures) and 1 delivery", attempts, delivered)
		}
		resend.mu.Lock()
		for _, a := range resend.attempts {
			if a.IdempotencyKey == "" || a.IdempotencyKey != resend.attempts[0].IdempotencyKey {
				t.Errorf("idempotency keys differ between retries: %q vs %q", a.IdempotencyKey, resend.attempts[0].IdempotencyKey)
			}
			if a.Auth != "Bearer re_test_key" {
				t.Errorf("Authorization = %q", a.Auth)
			}
		}
		resend.mu.Unlock()
		m := got[0].Body
		if len(m.To) != 1 || m.To[0] != "flaky@corp.test" || m.From != "Acme Accounts <accounts@acme.test>" ||
			!strings.Contains(m.Text, "https://app.example.test/setup-password?token=") || !strings.Contains(m.HTML, "/setup-password?token=") {
			t.Errorf("delivered email = %+v", m)
		}
	})
}

// Emails queued while the provider is down are delivered after a restart.
func TestOutboxResumesAfterRestart(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		down := newFakeResend(t, func(int) bool { return true })
		env := resendEnv(down)
		env["MAIL_RETRY_BASE"] = "10ms"
		srv, admin := b2bServer(t, dbURL, env)
		createB2BAdmin(t, admin, "later@corp.test", "+4939000002")
		deadline := time.Now().Add(10 * time.Second)
		for a, _ := down.counts(); a == 0 && time.Now().Before(deadline); a, _ = down.counts() {
			time.Sleep(10 * time.Millisecond)
		}
		srv.Stop()

		up := newFakeResend(t, func(int) bool { return false })
		restarted := map[string]string{}
		for k, v := range srv.env {
			restarted[k] = v
		}
		restarted["RESEND_API_URL"] = up.URL
		startServer(t, restarted)
		got := up.waitDelivered(t, 1)
		if got[0].Body.To[0] != "later@corp.test" {
			t.Errorf("delivered to %v", got[0].Body.To)
		}
		if a, d := down.counts(); a == 0 || d != 0 {
			t.Errorf("the down provider saw %d attempts, %d deliveries", a, d)
		}
	})
}

// fakeSMTP accepts messages and keeps them, with how they arrived.
type fakeSMTP struct {
	mu   sync.Mutex
	msgs []smtpMessage
	// password, when set, is required (AUTH PLAIN as "mailer").
	password string
	// authed records that a client sent the right credentials.
	authed bool
}

type smtpMessage struct {
	From     string
	To       []string
	Data     string
	TLS      bool   // sent after STARTTLS
	AuthUser string // who authenticated, if anyone
}

type smtpSession struct {
	srv  *fakeSMTP
	conn *smtp.Conn
	user string
	msg  smtpMessage
}

func (f *fakeSMTP) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{srv: f, conn: c}, nil
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != "mailer" || password != s.srv.password {
			return errors.New("bad credentials")
		}
		s.user = username
		s.srv.mu.Lock()
		s.srv.authed = true
		s.srv.mu.Unlock()
		return nil
	}), nil
}
func (s *smtpSession) Reset()        { s.msg = smtpMessage{} }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.password != "" && s.user == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.msg.From, s.msg.TLS, s.msg.AuthUser = from, isTLS, s.user
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.msg.Data = string(b)
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.msg)
	s.srv.mu.Unlock()
	return err
}

// startFakeSMTP serves fake on a free port, offering STARTTLS with cert
// when given, and returns the port.
func startFakeSMTP(t *testing.T, fake *fakeSMTP, cert *tls.Certificate) string {
	server := smtp.NewServer(fake)
	server.Domain = "localhost"
	if cert != nil {
		server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(ln)
	t.Cleanup(func() { server.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// testCA makes a CA and a certificate it signs for 127.0.0.1; it returns the
// server certificate and the path of the CA's PEM file.
func testCA(t *testing.T) (tls.Certificate, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "usergraph test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	return tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}, path
}

// The default SMTP policy: STARTTLS required, certificate verified (here
// against SMTP_CA_FILE), then AUTH; the message arrives as MIME with both parts.
func TestSMTPDriverWithSTARTTLSAndAuth(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		cert, caFile := testCA(t)
		fake := &fakeSMTP{password: "relay-secret"}
		port := startFakeSMTP(t, fake, &cert)
		_, admin := b2bServer(t, dbURL, map[string]string{
			"MAIL_DRIVER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_CA_FILE": caFile,
			"SMTP_USERNAME": "mailer", "SMTP_PASSWORD": "relay-secret", "MAIL_FROM": "accounts@acme.test", "MAIL_POLL_INTERVAL": "20ms",
		})
		createB2BAdmin(t, admin, "tls@corp.test", "+4939000004")
		m := fake.wait(t)
		if !m.TLS || m.AuthUser != "mailer" || m.To[0] != "tls@corp.test" || !strings.Contains(m.Data, "Subject: Set up your password") {
			t.Errorf("message: TLS %v, auth %q, to %v", m.TLS, m.AuthUser, m.To)
		}
	})
}

// Mandatory STARTTLS refuses a server that does not offer it: nothing is
// sent in the clear, and the email stays in the outbox for a retry. The
// same server gets the email when the policy allows plaintext, so the
// refusal is the policy's.
func TestSMTPDriverRefusesPlaintextByDefault(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		fake := &fakeSMTP{}
		port := startFakeSMTP(t, fake, nil)
		srv, admin := b2bServer(t, dbURL, map[string]string{
			"MAIL_DRIVER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "MAIL_POLL_INTERVAL": "20ms",
		})
		createB2BAdmin(t, admin, "plain@corp.test", "+4939000005")
		if lastError := srv.waitFailedAttempt(t, "plain@corp.test"); !strings.Contains(strings.ToLower(lastError), "starttls") {
			t.Errorf("the failed attempt says %q, want a STARTTLS refusal", lastError)
		}
		fake.mu.Lock()
		received := len(fake.msgs)
		fake.mu.Unlock()
		if received != 0 {
			t.Errorf("%d messages received in the clear", received)
		}

		fresh := dbURL // a database of its own, so the first email is not retried there
		if dbURL != "" {
			fresh = testdb.Postgres(t)
		}
		_, admin = b2bServer(t, fresh, map[string]string{
			"MAIL_DRIVER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "MAIL_POLL_INTERVAL": "20ms", "SMTP_TLS": "opportunistic",
		})
		createB2BAdmin(t, admin, "plain2@corp.test", "+4939000006")
		if m := fake.wait(t); m.TLS || m.To[0] != "plain2@corp.test" {
			t.Errorf("with SMTP_TLS=opportunistic: TLS %v, to %v", m.TLS, m.To)
		}
	})
}

// A server whose certificate the client does not trust (no SMTP_CA_FILE for
// its private CA) gets nothing.
func TestSMTPDriverRefusesAnUntrustedCertificate(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		cert, _ := testCA(t)
		fake := &fakeSMTP{password: "relay-secret"}
		port := startFakeSMTP(t, fake, &cert)
		srv, admin := b2bServer(t, dbURL, map[string]string{
			"MAIL_DRIVER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port,
			"SMTP_USERNAME": "mailer", "SMTP_PASSWORD": "relay-secret", "MAIL_POLL_INTERVAL": "20ms",
		})
		createB2BAdmin(t, admin, "untrusted@corp.test", "+4939000007")
		if lastError := srv.waitFailedAttempt(t, "untrusted@corp.test"); !strings.Contains(lastError, "certificate") {
			t.Errorf("the failed attempt says %q, want a certificate error", lastError)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if len(fake.msgs) != 0 || fake.authed {
			t.Errorf("an untrusted server got %d messages (authenticated: %v)", len(fake.msgs), fake.authed)
		}
	})
}

// waitFailedAttempt waits until the outbox records a failed delivery to
// addr and returns its error.
func (s *testServer) waitFailedAttempt(t *testing.T, addr string) string {
	t.Helper()
	db := s.DB()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var row struct {
			Attempts  int     `bun:"attempts"`
			LastError *string `bun:"last_error"`
		}
		err := db.NewRaw("SELECT attempts, last_error FROM mail_outbox WHERE recipient LIKE ?", "%"+addr+"%").Scan(context.Background(), &row)
		if err == nil && row.Attempts > 0 && row.LastError != nil {
			return *row.LastError
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no failed delivery to %s recorded", addr)
	return ""
}

func (f *fakeSMTP) wait(t *testing.T) smtpMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		if len(f.msgs) > 0 {
			defer f.mu.Unlock()
			return f.msgs[0]
		}
		f.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the SMTP server received no message")
	return smtpMessage{}
}

func TestSMTPDriver(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		fake := &fakeSMTP{}
		port := startFakeSMTP(t, fake, nil)
		_, admin := b2bServer(t, dbURL, map[string]string{
			"MAIL_DRIVER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_TLS": "opportunistic",
			"MAIL_FROM": "accounts@acme.test", "MAIL_POLL_INTERVAL": "20ms",
		})
		createB2BAdmin(t, admin, "smtp@corp.test", "+4939000003")
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			fake.mu.Lock()
			n := len(fake.msgs)
			fake.mu.Unlock()
			if n > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if len(fake.msgs) != 1 {
			t.Fatalf("SMTP server got %d messages, want 1", len(fake.msgs))
		}
		m := fake.msgs[0]
		if m.From != "accounts@acme.test" || len(m.To) != 1 || m.To[0] != "smtp@corp.test" ||
			!strings.Contains(m.Data, "Subject: Set up your password") || !strings.Contains(m.Data, "multipart/alternative") {
			t.Errorf("SMTP message from %s to %v:\n%.600s", m.From, m.To, m.Data)
		}
	})
}

// waitOutboxStatus waits until the outbox row for addr has status.
func (s *testServer) waitOutboxStatus(t *testing.T, addr, status string) {
	t.Helper()
	db := s.DB()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got string
		err := db.NewRaw("SELECT status FROM mail_outbox WHERE recipient LIKE ?", "%"+addr+"%").Scan(context.Background(), &got)
		if err == nil && got == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the email to %s is %q, want %s (%v)", addr, got, status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
