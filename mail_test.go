package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
		_, admin := b2bServer(t, dbURL, resendEnv(resend))
		id := createB2BAdmin(t, admin, "flaky@corp.test", "+4939000001")

		var u struct {
			User *struct{ Email string } `json:"user"`
		}
		admin.MustData(`query($id: ID!) { user(id: $id) { email } }`, map[string]any{"id": id}, &u)
		if u.User == nil {
			t.Fatal("the account is missing although the provider failed")
		}
		got := resend.waitDelivered(t, 1)
		time.Sleep(300 * time.Millisecond) // several poll intervals: nothing more may be sent
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

// fakeSMTP accepts messages and keeps them.
type fakeSMTP struct {
	mu   sync.Mutex
	msgs []smtpMessage
}

type smtpMessage struct {
	From string
	To   []string
	Data string
}

type smtpSession struct {
	srv *fakeSMTP
	msg smtpMessage
}

func (f *fakeSMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: f}, nil }
func (s *smtpSession) Reset()                                   { s.msg = smtpMessage{} }
func (s *smtpSession) Logout() error                            { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.From = from
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

func TestSMTPDriver(t *testing.T) {
	fake := &fakeSMTP{}
	server := smtp.NewServer(fake)
	server.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(ln)
	t.Cleanup(func() { server.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	_, admin := b2bServer(t, "", map[string]string{
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
}
