package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/usergraph/usergraph/internal/passkeytest"
	"github.com/usergraph/usergraph/internal/testdb"
	"github.com/usergraph/usergraph/internal/webhook"
)

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// backend is the app's backend: it verifies each request with the
// Standard Webhooks library, refuses the first two attempts of each
// delivery, and keeps what it accepted once per webhook-id.
type backend struct {
	mu       sync.Mutex
	tries    map[string]int
	accepted map[string]event // by webhook-id
	badSig   int
}

type event struct {
	Type string `json:"type"`
	Data struct {
		UserID       string `json:"userId"`
		AuditEventID string `json:"auditEventId"`
	} `json:"data"`
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wh, _ := standardwebhooks.NewWebhook(webhookSecret)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := wh.Verify(body, r.Header); err != nil {
		b.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("webhook-id")
	if b.tries[id]++; b.tries[id] <= 2 {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	var e event
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	b.accepted[id] = e // a repeat of an id overwrites: de-duplicated
	w.WriteHeader(http.StatusOK)
}

// Every listed event reaches the app's backend exactly once after
// de-duplication, signed, through refused attempts, with two replicas
// delivering from one database.
func TestWebhooksReachTheAppsBackend(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		be := &backend{tries: map[string]int{}, accepted: map[string]event{}}
		receiver := httptest.NewServer(be)
		defer receiver.Close()
		env := testEnv(t, dbURL)
		env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_MOBILE"], env["BOOTSTRAP_ADMIN_PASSWORD"] = adminEmail, "+12025550001", goodPassword
		env["WEBAUTHN_RP_ID"], env["WEBAUTHN_RP_ORIGINS"] = "app.test", "https://app.test"
		env["WEBHOOKS"], env["WEBHOOK_APP_URL"], env["WEBHOOK_APP_SECRET"] = "app", receiver.URL, webhookSecret
		env["WEBHOOK_ALLOW_LOCAL"], env["WEBHOOK_RETRY_BASE"], env["WEBHOOK_POLL_INTERVAL"] = "true", "50ms", "50ms"
		one := startServer(t, env)
		two := startServer(t, env) // a second replica on the same database (and data folder)
		admin := one.Client().As(*mustSignIn(t, one.Client().login(adminEmail, goodPassword)).AccessToken)

		// Each listed event, caused through one replica or the other.
		in := mustSignIn(t, two.Client().register(registerInput("hooked@example.com", "+4915160000001"))) // user.created, user.signed_in
		me := one.Client().As(*in.AccessToken)
		var v struct{ VerifyEmail struct{ Errors []userError } }
		two.Client().MustData(verifyEmailMutation, map[string]any{"t": linkToken(t, one.waitEmails("hooked@example.com", 1)[0], "verify-email")}, &v) // user.email_verified
		var ch struct{ ChangePassword struct{ Errors []userError } }
		me.MustData(`mutation($o: String!, $n: String!) { changePassword(input: {oldPassword: $o, newPassword: $n, newPasswordConfirm: $n}) { errors { code } } }`,
			map[string]any{"o": goodPassword, "n": "another-Lantern-43"}, &ch) // user.password_changed (ends the other sessions)
		me = two.Client().As(*mustSignIn(t, two.Client().login("hooked@example.com", "another-Lantern-43")).AccessToken)
		var e struct{ EnrollTotp struct{ Secret string } }
		me.MustData(`mutation($p: String!) { enrollTotp(input: {password: $p}) { secret } }`, map[string]any{"p": "another-Lantern-43"}, &e)
		code, _ := totp.GenerateCode(e.EnrollTotp.Secret, time.Now())
		me.MustData(`mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes } }`, map[string]any{"c": code}, &struct{}{})          // mfa.enabled
		me.MustData(`mutation($p: String!) { disableTotp(input: {password: $p}) { ok } }`, map[string]any{"p": "another-Lantern-43"}, &struct{}{}) // mfa.disabled
		key := registerPasskey(t, me, passkeytest.New("app.test", "https://app.test"), "Laptop")                                                   // passkey.added
		me.MustData(`mutation($id: ID!) { removePasskey(input: {id: $id}) { ok } }`, map[string]any{"id": key.ID}, &struct{}{})                    // passkey.removed
		adjust(t, admin, in.User.ID, "CREDIT", "5.00", "hook-credit")                                                                              // wallet.adjusted
		const setActive = `mutation($id: ID!, $a: Boolean!) { setUserActive(input: {userId: $id, active: $a}) { errors { code } } }`
		admin.MustData(setActive, map[string]any{"id": in.User.ID, "a": false}, &struct{}{}) // user.deactivated
		admin.MustData(setActive, map[string]any{"id": in.User.ID, "a": true}, &struct{}{})  // user.reactivated
		approved, rejected := createB2BAdmin(t, admin, "yes@example.com", "+4915160000002"), createB2BAdmin(t, admin, "no@example.com", "+4915160000003")
		approve(t, admin, approved)                                                                              // b2b_admin.approved
		admin.MustData(rejectMutation, map[string]any{"id": rejected, "reason": "unknown company"}, &struct{}{}) // b2b_admin.rejected
		me = two.Client().As(*mustSignIn(t, two.Client().login("hooked@example.com", "another-Lantern-43")).AccessToken)
		me.MustData(`mutation($p: String!) { deleteMyAccount(input: {password: $p}) { ok } }`, map[string]any{"p": "another-Lantern-43"}, &struct{}{}) // user.deleted

		// Every audit event that stands for a webhook event was delivered.
		var want int
		deadline := time.Now().Add(60 * time.Second)
		for {
			if err := one.DB().NewRaw("SELECT count(*) FROM webhook_deliveries").Scan(t.Context(), &want); err != nil {
				t.Fatal(err)
			}
			be.mu.Lock()
			got := len(be.accepted)
			be.mu.Unlock()
			if got == want || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		be.mu.Lock()
		defer be.mu.Unlock()
		if len(be.accepted) != want || be.badSig != 0 {
			t.Fatalf("%d of %d deliveries accepted, %d badly signed", len(be.accepted), want, be.badSig)
		}
		seen := map[string]int{}
		audits := map[string]bool{}
		for id, ev := range be.accepted {
			seen[ev.Type]++
			if audits[ev.Data.AuditEventID] {
				t.Errorf("audit event %s delivered under two webhook-ids", ev.Data.AuditEventID)
			}
			audits[ev.Data.AuditEventID] = true
			if be.tries[id] != 3 {
				t.Errorf("delivery %s (%s) tried %d times, want 3", id, ev.Type, be.tries[id])
			}
		}
		for _, typ := range webhook.EventTypes() {
			if seen[typ] == 0 && !slices.Contains([]string{"identity.linked", "identity.unlinked", "user.metadata_changed"}, typ) {
				t.Errorf("no %s event (seen %v)", typ, seen)
			}
		}
		var mapped int
		if err := one.DB().NewRaw(`SELECT count(*) FROM audit_events WHERE action IN ('ACCOUNT_CREATED', 'EMAIL_VERIFIED', 'LOGIN_SUCCEEDED',
'PASSWORD_SET', 'PASSWORD_CHANGED', 'PASSWORD_RESET', 'MFA_ENABLED', 'MFA_DISABLED', 'MFA_RESET', 'PASSKEY_ADDED', 'PASSKEY_REMOVED',
'USER_DEACTIVATED', 'USER_REACTIVATED', 'ACCOUNT_DELETED', 'B2B_ADMIN_APPROVED', 'B2B_ADMIN_REJECTED', 'WALLET_ADJUSTED')`).Scan(t.Context(), &mapped); err != nil {
			t.Fatal(err)
		}
		if mapped != want {
			t.Errorf("%d audit events stand for webhook events, %d deliveries", mapped, want)
		}

		// Operators see it in /metrics too: the deliveries by status (from the
		// database, any replica), and each replica's attempts.
		scrape := func(s *testServer) string {
			resp, err := httpClient.Get(s.MetricsURL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		m1, m2 := scrape(one), scrape(two)
		if !strings.Contains(m1, fmt.Sprintf("usergraph_webhook_deliveries{status=\"DELIVERED\"} %d\n", want)) ||
			!strings.Contains(m1, `usergraph_webhook_deliveries{status="DEAD"} 0`) ||
			!strings.Contains(m1+m2, `usergraph_webhook_attempts_total{endpoint="app",outcome="failed"}`) {
			t.Errorf("/metrics has no webhook figures:\n%s", m1)
		}

		// Admins see where deliveries stand.
		var list struct {
			WebhookDeliveries []struct{ ID, Status, EventType string }
		}
		admin.MustData(`{ webhookDeliveries(first: 100) { id status eventType } }`, nil, &list)
		if len(list.WebhookDeliveries) != min(want, 100) || list.WebhookDeliveries[0].Status != "DELIVERED" {
			t.Errorf("webhookDeliveries: %d listed of %d, first %+v", len(list.WebhookDeliveries), want, list.WebhookDeliveries[0])
		}
		consumer := one.Client().As(*mustSignIn(t, one.Client().register(registerInput("curious@example.com", "+4915160000004"))).AccessToken)
		if r := consumer.Do(`{ webhookDeliveries { id } }`, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("a consumer lists webhook deliveries: %s %s", r.Code(), r.Data)
		}
		t.Logf("%d deliveries, by type %v", want, seen)
	})
}
