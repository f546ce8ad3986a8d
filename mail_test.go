package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/mail/mailtest"
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

// The SMTP settings reach the driver: with MAIL_DRIVER=smtp, an invitation
// goes through the outbox to the SMTP server over STARTTLS, verified
// against SMTP_CA_FILE, with AUTH. (internal/mail tests the driver's
// policies: plaintext refused, untrusted certificates refused.)
func TestEmailsGoOutThroughSMTPSettings(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		cert, _, caFile := mailtest.CA(t)
		server := mailtest.StartSMTP(t, "relay-secret", &cert)
		_, admin := b2bServer(t, dbURL, map[string]string{
			"MAIL_DRIVER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.Port, "SMTP_CA_FILE": caFile,
			"SMTP_USERNAME": "mailer", "SMTP_PASSWORD": "relay-secret", "MAIL_FROM": "accounts@acme.test", "MAIL_POLL_INTERVAL": "20ms",
		})
		createB2BAdmin(t, admin, "tls@corp.test", "+4939000004")
		m := server.Wait(t)
		if !m.TLS || m.AuthUser != "mailer" || m.From != "accounts@acme.test" || len(m.To) != 1 || m.To[0] != "tls@corp.test" ||
			!strings.Contains(m.Data, "Subject: Set up your password") {
			t.Errorf("message: TLS %v, auth %q, from %s to %v", m.TLS, m.AuthUser, m.From, m.To)
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
