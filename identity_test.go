package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/pquerna/otp/totp"

	"github.com/usergraph/usergraph/internal/testdb"
)

// auditActions lists the actions of the audit events about userID.
func auditActions(t *testing.T, admin *client, userID string) []string {
	t.Helper()
	var d struct {
		AuditEvents struct {
			Edges []struct{ Node struct{ Action string } }
		}
	}
	admin.MustData(`query($id: ID!) { auditEvents(first: 100, filter: {targetId: $id}) { edges { node { action } } } }`,
		map[string]any{"id": userID}, &d)
	var out []string
	for _, e := range d.AuditEvents.Edges {
		out = append(out, e.Node.Action)
	}
	return out
}

const verifyEmailMutation = `mutation($t: String!) { verifyEmail(input: {token: $t}) { user { id isVerified } errors { field code } } }`

type verifyResult struct {
	VerifyEmail struct {
		User   *struct{ IsVerified bool }
		Errors []userError
	}
}

// Registering sends one confirmation link (24 h, single use); following it
// confirms the address; a new link voids the old; and with
// REQUIRE_VERIFIED_EMAIL a consumer signs in only once confirmed, which a
// wrong password never reveals.
func TestEmailVerification(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		p := mustSignIn(t, anon.register(registerInput("verify@example.com", "+4944000001")))
		me := anon.As(*p.AccessToken)
		if p.User.IsVerified {
			t.Fatal("a new account is verified before following its link")
		}
		mails := srv.waitEmails("verify@example.com", 1)
		if mails[0].Subject != "Confirm your email address" || !strings.Contains(mails[0].Text, "24 hours") {
			t.Errorf("confirmation email: %q\n%s", mails[0].Subject, mails[0].Text)
		}
		token := linkToken(t, mails[0], "verify-email")
		if !strings.Contains(mails[0].Text, "https://app.example.test/verify-email?token=") {
			t.Errorf("the link does not lead to APP_URL/verify-email:\n%s", mails[0].Text)
		}

		var r verifyResult
		anon.MustData(verifyEmailMutation, map[string]any{"t": token}, &r)
		if r.VerifyEmail.User == nil || !r.VerifyEmail.User.IsVerified || len(r.VerifyEmail.Errors) > 0 {
			t.Fatalf("verifyEmail: %+v", r.VerifyEmail)
		}
		anon.MustData(verifyEmailMutation, map[string]any{"t": token}, &r)
		if !slices.Equal(codes(r.VerifyEmail.Errors), []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("the link a second time: %v, want INVALID_TOKEN", codes(r.VerifyEmail.Errors))
		}
		var d struct{ Me struct{ IsVerified bool } }
		me.MustData(`{ me { isVerified } }`, nil, &d)
		if !d.Me.IsVerified {
			t.Error("me.isVerified is false after verifyEmail")
		}
		// Confirmed already: the same answer, no email.
		const resend = `mutation($e: String) { resendVerificationEmail(input: {email: $e}) { ok errors { field code } } }`
		var rs struct {
			ResendVerificationEmail struct {
				OK     bool
				Errors []userError
			}
		}
		me.MustData(resend, nil, &rs)
		if !rs.ResendVerificationEmail.OK || srv.outboxCount("verify@example.com") != 1 {
			t.Errorf("resend when confirmed: ok %v, %d emails; want ok and still 1", rs.ResendVerificationEmail.OK, srv.outboxCount("verify@example.com"))
		}
		if !slices.Contains(auditActions(t, admin, p.User.ID), "EMAIL_VERIFIED") {
			t.Error("no EMAIL_VERIFIED audit event")
		}

		// A new link voids the old one.
		q := mustSignIn(t, anon.register(registerInput("again@example.com", "+4944000002")))
		other := anon.As(*q.AccessToken)
		first := linkToken(t, srv.waitEmails("again@example.com", 1)[0], "verify-email")
		other.MustData(resend, map[string]any{"e": "someone@example.com"}, &rs)
		if !slices.Equal(codes(rs.ResendVerificationEmail.Errors), []string{"INVALID@input.email"}) {
			t.Errorf("resend naming another address: %v", codes(rs.ResendVerificationEmail.Errors))
		}
		other.MustData(resend, map[string]any{"e": "AGAIN@example.com"}, &rs)
		mails = srv.waitEmails("again@example.com", 2)
		second := linkToken(t, mails[1], "verify-email")
		anon.MustData(verifyEmailMutation, map[string]any{"t": first}, &r)
		if !slices.Equal(codes(r.VerifyEmail.Errors), []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("the first link after a resend: %v, want INVALID_TOKEN", codes(r.VerifyEmail.Errors))
		}
		anon.MustData(verifyEmailMutation, map[string]any{"t": second}, &r)
		if r.VerifyEmail.User == nil || !r.VerifyEmail.User.IsVerified {
			t.Errorf("the new link: %+v", r.VerifyEmail)
		}
		// At most three resends an hour per user.
		third := mustSignIn(t, anon.register(registerInput("thrice@example.com", "+4944000003")))
		for i := range 4 {
			code := outcome(anon.As(*third.AccessToken).Do(resend, nil))
			if want := map[bool]string{true: "RATE_LIMITED", false: ""}[i == 3]; code != want {
				t.Errorf("resend %d: %q, want %q", i+1, code, want)
			}
		}
	})
}

func TestRequireVerifiedEmail(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, _ := b2bServer(t, dbURL, map[string]string{"REQUIRE_VERIFIED_EMAIL": "true"})
		anon := srv.Client()
		p := anon.register(registerInput("strict@example.com", "+4944100001"))
		if len(p.Errors) > 0 || p.AccessToken != nil || p.RefreshToken != nil || p.User == nil || p.User.Email != "strict@example.com" {
			t.Fatalf("register with REQUIRE_VERIFIED_EMAIL: %+v %v; want the user and no tokens", p, codes(p.Errors))
		}
		l := anon.login("strict@example.com", goodPassword)
		if l.AccessToken != nil || !slices.Equal(codes(l.Errors), []string{"EMAIL_NOT_VERIFIED@"}) {
			t.Errorf("login before confirming: %v, token %v; want EMAIL_NOT_VERIFIED and none", codes(l.Errors), l.AccessToken)
		}
		// A wrong password learns nothing about the account's state.
		if l := anon.login("strict@example.com", "wrong-Password-1"); !slices.Equal(codes(l.Errors), []string{"INVALID_CREDENTIALS@"}) {
			t.Errorf("wrong password: %v", codes(l.Errors))
		}
		var r verifyResult
		anon.MustData(verifyEmailMutation, map[string]any{"t": linkToken(t, srv.waitEmails("strict@example.com", 1)[0], "verify-email")}, &r)
		mustSignIn(t, anon.login("strict@example.com", goodPassword))
	})
}

const (
	enrollMutation  = `mutation($p: String!) { enrollTotp(input: {password: $p, label: "my phone"}) { secret otpauthUri errors { field code } } }`
	confirmMutation = `mutation($c: String!) { confirmTotp(input: {code: $c}) { recoveryCodes errors { field code } } }`
	mfaLogin        = `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken mfaRequired mfaToken user { id } errors { field code } } }`
	verifyMfa       = `mutation($t: String!, $c: String!) { verifyMfa(input: {mfaToken: $t, code: $c}) { accessToken refreshToken mfaRequired user { id mfaEnabled } errors { field code } } }`
)

type mfaLoginResult struct {
	Login struct {
		AccessToken *string
		MfaRequired bool
		MfaToken    *string
		User        *struct{ ID string }
		Errors      []userError
	}
}

type verifyMfaResult struct {
	VerifyMfa struct {
		AccessToken *string
		MfaRequired bool
		User        *struct {
			ID         string
			MfaEnabled bool
		}
		Errors []userError
	}
}

// TOTP two-factor sign-in end to end: enrol, confirm with a real code,
// sign in in two steps, codes work once, recovery codes work once, guesses
// are limited, the owner turns it off with the password, an admin resets
// it, every step is audited, and the secret is encrypted at rest.
func TestTotpTwoFactorSignIn(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, map[string]string{"KEY_ENCRYPTION_KEY": "an encryption key of at least 32 characters"})
		anon := srv.Client()
		p := mustSignIn(t, anon.register(registerInput("totp@example.com", "+4944200001")))
		me := anon.As(*p.AccessToken)

		var e struct {
			EnrollTotp struct {
				Secret, OtpauthURI string
				Errors             []userError
			}
		}
		// A stolen access token alone does not turn it on: the password is asked.
		me.MustData(enrollMutation, map[string]any{"p": "wrong-Password-9"}, &e)
		if !slices.Equal(codes(e.EnrollTotp.Errors), []string{"INVALID_CREDENTIALS@input.password"}) || e.EnrollTotp.Secret != "" {
			t.Fatalf("enrollTotp with a wrong password: %+v", e.EnrollTotp)
		}
		me.MustData(enrollMutation, map[string]any{"p": goodPassword}, &e)
		secret := e.EnrollTotp.Secret
		if len(secret) < 16 || !strings.HasPrefix(e.EnrollTotp.OtpauthURI, "otpauth://totp/") ||
			!strings.Contains(e.EnrollTotp.OtpauthURI, "secret="+secret) || !strings.Contains(e.EnrollTotp.OtpauthURI, "period=30") {
			t.Fatalf("enrollTotp: %+v", e.EnrollTotp)
		}
		var stored string
		if err := srv.DB().NewRaw("SELECT secret FROM totp_secrets").Scan(context.Background(), &stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, secret) || !strings.HasPrefix(stored, "gcm1:") {
			t.Errorf("the secret is stored readable: %q", stored)
		}
		var privateKey string // the signing key is sealed the same way
		if err := srv.DB().NewRaw("SELECT private_jwk FROM signing_keys").Scan(context.Background(), &privateKey); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(privateKey, "gcm1:") || strings.Contains(privateKey, `"d"`) {
			t.Errorf("the private signing key is stored readable: %.40q…", privateKey)
		}
		var d struct{ Me struct{ MfaEnabled bool } }
		me.MustData(`{ me { mfaEnabled } }`, nil, &d)
		if d.Me.MfaEnabled {
			t.Fatal("mfaEnabled before confirmTotp")
		}
		mustSignIn(t, anon.login("totp@example.com", goodPassword)) // not on yet

		var c struct {
			ConfirmTotp struct {
				RecoveryCodes []string
				Errors        []userError
			}
		}
		me.MustData(confirmMutation, map[string]any{"c": "000000x"}, &c)
		if !slices.Equal(codes(c.ConfirmTotp.Errors), []string{"INVALID_CREDENTIALS@input.code"}) {
			t.Errorf("confirm with a wrong code: %v", codes(c.ConfirmTotp.Errors))
		}
		now := time.Now()
		code, err := totp.GenerateCode(secret, now)
		if err != nil {
			t.Fatal(err)
		}
		me.MustData(confirmMutation, map[string]any{"c": code}, &c)
		rc := c.ConfirmTotp.RecoveryCodes
		if len(c.ConfirmTotp.Errors) > 0 || len(rc) != 10 || len(slices.Compact(slices.Sorted(slices.Values(rc)))) != 10 {
			t.Fatalf("confirmTotp: %+v", c.ConfirmTotp)
		}
		me.MustData(`{ me { mfaEnabled } }`, nil, &d)
		if !d.Me.MfaEnabled {
			t.Fatal("mfaEnabled false after confirmTotp")
		}
		if r := me.Do(enrollMutation, map[string]any{"p": goodPassword}); outcome(r) != "MFA_ALREADY_ENABLED" {
			t.Errorf("enrollTotp while on: %q", outcome(r))
		}

		login := func() string {
			t.Helper()
			var l mfaLoginResult
			anon.MustData(mfaLogin, map[string]any{"e": "totp@example.com", "p": goodPassword}, &l)
			if l.Login.AccessToken != nil || !l.Login.MfaRequired || l.Login.MfaToken == nil || l.Login.User != nil || len(l.Login.Errors) > 0 {
				t.Fatalf("login with TOTP on: %+v", l.Login)
			}
			return *l.Login.MfaToken
		}
		verify := func(token, code string) verifyMfaResult {
			t.Helper()
			var v verifyMfaResult
			anon.MustData(verifyMfa, map[string]any{"t": token, "c": code}, &v)
			return v
		}
		// A wrong password still says only INVALID_CREDENTIALS.
		if l := anon.login("totp@example.com", "wrong-Password-9"); !slices.Equal(codes(l.Errors), []string{"INVALID_CREDENTIALS@"}) {
			t.Errorf("wrong password with TOTP on: %v", codes(l.Errors))
		}
		token := login()
		// The code that confirmed is spent: its 30 s step is used.
		if v := verify(token, code); !slices.Equal(codes(v.VerifyMfa.Errors), []string{"INVALID_CREDENTIALS@input.code"}) {
			t.Errorf("replayed code: %v", codes(v.VerifyMfa.Errors))
		}
		next, _ := totp.GenerateCode(secret, now.Add(30*time.Second)) // one step of drift is allowed
		v := verify(token, next)
		if v.VerifyMfa.AccessToken == nil || v.VerifyMfa.User == nil || !v.VerifyMfa.User.MfaEnabled || len(v.VerifyMfa.Errors) > 0 {
			t.Fatalf("verifyMfa with the next code: %+v %v", v.VerifyMfa, codes(v.VerifyMfa.Errors))
		}
		if anon.As(*v.VerifyMfa.AccessToken).meCode() != "" {
			t.Error("the tokens from verifyMfa do not work")
		}
		if v := verify(token, next); !slices.Equal(codes(v.VerifyMfa.Errors), []string{"INVALID_TOKEN@input.mfaToken"}) {
			t.Errorf("mfaToken used twice: %v", codes(v.VerifyMfa.Errors))
		}
		if v := verify(login(), next); !slices.Equal(codes(v.VerifyMfa.Errors), []string{"INVALID_CREDENTIALS@input.code"}) {
			t.Errorf("the same code for a new sign-in: %v", codes(v.VerifyMfa.Errors))
		}
		// A recovery code, as typed (upper case, no dashes), works once.
		typed := strings.ToUpper(strings.ReplaceAll(rc[3], "-", ""))
		if v := verify(login(), typed); v.VerifyMfa.AccessToken == nil {
			t.Errorf("recovery code: %v", codes(v.VerifyMfa.Errors))
		}
		if v := verify(login(), rc[3]); !slices.Equal(codes(v.VerifyMfa.Errors), []string{"INVALID_CREDENTIALS@input.code"}) {
			t.Errorf("recovery code used twice: %v", codes(v.VerifyMfa.Errors))
		}
		// Off with the password (wrong one first).
		const disable = `mutation($p: String!) { disableTotp(input: {password: $p}) { ok errors { field code } } }`
		if r := me.Do(disable, map[string]any{"p": "wrong-Password-9"}); outcome(r) != "INVALID_CREDENTIALS" {
			t.Errorf("disableTotp with a wrong password: %q", outcome(r))
		}
		if r := me.Do(disable, map[string]any{"p": goodPassword}); outcome(r) != "" {
			t.Fatalf("disableTotp: %q", outcome(r))
		}
		mustSignIn(t, anon.login("totp@example.com", goodPassword))
		if r := me.Do(disable, map[string]any{"p": goodPassword}); outcome(r) != "MFA_NOT_ENABLED" {
			t.Errorf("disableTotp when off: %q", outcome(r))
		}

		// On again; an admin resets it for a user who lost the phone.
		me.MustData(enrollMutation, map[string]any{"p": goodPassword}, &e)
		code, _ = totp.GenerateCode(e.EnrollTotp.Secret, time.Now())
		me.MustData(confirmMutation, map[string]any{"c": code}, &c)
		// Guesses are limited like passwords: 5 wrong, then RATE_LIMITED
		// even with a right code.
		token = login()
		for i := range 5 {
			if v := verify(token, "99999"+string(rune('0'+i))); !slices.Equal(codes(v.VerifyMfa.Errors), []string{"INVALID_CREDENTIALS@input.code"}) {
				t.Fatalf("wrong code %d: %v", i+1, codes(v.VerifyMfa.Errors))
			}
		}
		right, _ := totp.GenerateCode(e.EnrollTotp.Secret, time.Now().Add(30*time.Second))
		if r := anon.Do(verifyMfa, map[string]any{"t": token, "c": right}); r.Code() != "RATE_LIMITED" {
			t.Errorf("a code after 5 wrong guesses: %q, want RATE_LIMITED", outcome(r))
		}

		var reset struct {
			ResetUserMfa struct {
				User   *struct{ MfaEnabled bool }
				Errors []userError
			}
		}
		admin.MustData(`mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { user { mfaEnabled } errors { code } } }`,
			map[string]any{"id": p.User.ID}, &reset)
		if reset.ResetUserMfa.User == nil || reset.ResetUserMfa.User.MfaEnabled {
			t.Errorf("resetUserMfa: %+v", reset.ResetUserMfa)
		}
		mustSignIn(t, anon.login("totp@example.com", goodPassword))

		// The owner heard of every change: on, off, on, off by an administrator.
		var subjects []string
		for _, m := range srv.waitEmails("totp@example.com", 5)[1:] { // after the confirmation link
			subjects = append(subjects, m.Subject)
			if strings.Contains(m.Text, "an administrator turned two-factor sign-in off") != (len(subjects) == 4) {
				t.Errorf("email %d says who turned it off wrongly: %s", len(subjects), m.Text)
			}
		}
		if want := []string{"Two-factor sign-in is on", "Two-factor sign-in is off", "Two-factor sign-in is on", "An administrator reset how you sign in"}; !slices.Equal(subjects, want) {
			t.Errorf("emails to the owner: %v, want %v", subjects, want)
		}

		got := auditActions(t, admin, p.User.ID)
		for _, want := range []string{"MFA_ENABLED", "MFA_FAILED", "RECOVERY_CODE_USED", "MFA_DISABLED", "MFA_RESET", "LOGIN_SUCCEEDED"} {
			if !slices.Contains(got, want) {
				t.Errorf("no %s audit event among %v", want, got)
			}
		}
	})
}

// Deactivation ends every session at once and reactivation restores
// sign-in; erasure removes personal data but keeps the ledger and the audit
// trail with the account anonymised, and frees the email and mobile;
// myData exports what is held about the caller.
func TestAccountLifecycle(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		const setActive = `mutation($id: ID!, $a: Boolean!) { setUserActive(input: {userId: $id, active: $a}) { user { id isActive } errors { field code } } }`
		p := mustSignIn(t, anon.register(registerInput("cycle@example.com", "+4944300001")))
		if r := admin.Do(setActive, map[string]any{"id": p.User.ID, "a": false}); outcome(r) != "" {
			t.Fatalf("deactivate: %q", outcome(r))
		}
		if code := anon.As(*p.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("the access token of a deactivated user: %q", code)
		}
		if !refused(anon.refresh(*p.RefreshToken)) {
			t.Error("the refresh token of a deactivated user still works")
		}
		if l := anon.login("cycle@example.com", goodPassword); !slices.Equal(codes(l.Errors), []string{"INVALID_CREDENTIALS@"}) {
			t.Errorf("login while deactivated: %v", codes(l.Errors))
		}
		if r := admin.Do(setActive, map[string]any{"id": p.User.ID, "a": true}); outcome(r) != "" {
			t.Fatalf("reactivate: %q", outcome(r))
		}
		mustSignIn(t, anon.login("cycle@example.com", goodPassword))
		// The sessions deactivation ended stay ended.
		if code := anon.As(*p.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("an access token from before the deactivation, after reactivation: %q", code)
		}
		if !refused(anon.refresh(*p.RefreshToken)) {
			t.Error("a refresh token from before the deactivation works after reactivation")
		}
		if got := auditActions(t, admin, p.User.ID); !slices.Contains(got, "USER_DEACTIVATED") || !slices.Contains(got, "USER_REACTIVATED") {
			t.Errorf("audit: %v", got)
		}
		var adminID struct{ Me struct{ ID string } }
		admin.MustData(`{ me { id } }`, nil, &adminID)
		if r := admin.Do(setActive, map[string]any{"id": adminID.Me.ID, "a": false}); outcome(r) != "INVALID" {
			t.Errorf("an admin deactivating itself: %q", outcome(r))
		}
		// B2B admins: their own users only.
		boss := approvedB2BAdmin(t, srv, admin, "cycle-boss@corp.test", "+4944300002")
		batchID := createBatch(t, boss, "Cycle", 10).Batch.ID
		staff := createB2BUser(t, boss, batchID, "cycle-staff@corp.test", "+4944300003")
		if r := boss.Do(setActive, map[string]any{"id": staff.User.ID, "a": false}); outcome(r) != "" {
			t.Errorf("B2B admin deactivating its user: %q", outcome(r))
		}
		if r := boss.Do(setActive, map[string]any{"id": p.User.ID, "a": false}); outcome(r) != "NOT_FOUND" {
			t.Errorf("B2B admin deactivating someone else's user: %q", outcome(r))
		}

		// deleteMyAccount, for a user with an avatar, a wallet entry and sessions.
		victim := mustSignIn(t, anon.register(registerInput("erase@example.com", "+4944300004")))
		gone := anon.As(*victim.AccessToken)
		up, _ := gone.upload("me.png", pngImage(t, 8, 8))
		avatar := *up.User.Profile.AvatarURL
		if resp, err := httpClient.Get(avatar); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("avatar before erasure: %v %v", resp, err)
		}
		adjust(t, admin, victim.User.ID, "CREDIT", "5.00", "welcome")
		var export struct{ MyData json.RawMessage }
		gone.MustData(`{ myData }`, nil, &export)
		var doc struct {
			Profile     struct{ Email, Mobile string }
			Sessions    []struct{ ID string }
			Wallet      struct{ Balance int64 }
			Ledger      []struct{ Type string }
			AuditEvents []struct {
				Action, IP, UserAgent string
				ByYou                 bool
			}
		}
		if err := json.Unmarshal(export.MyData, &doc); err != nil {
			t.Fatalf("myData is not a JSON document: %v: %s", err, export.MyData)
		}
		var actions []string
		for _, e := range doc.AuditEvents {
			actions = append(actions, e.Action)
			// Where a request came from is the person's only for its own requests.
			if mine := e.IP == "127.0.0.1" && e.UserAgent != ""; mine != e.ByYou {
				t.Errorf("myData: %s (by you: %v) shows ip %q, user agent %q", e.Action, e.ByYou, e.IP, e.UserAgent)
			}
		}
		if doc.Profile.Email != "erase@example.com" || doc.Profile.Mobile != "+4944300004" || len(doc.Sessions) != 1 ||
			doc.Wallet.Balance != 100000500 || len(doc.Ledger) != 2 ||
			!slices.Equal(actions, []string{"ACCOUNT_CREATED", "LOGIN_SUCCEEDED", "AVATAR_CHANGED", "WALLET_ADJUSTED"}) {
			t.Errorf("myData: %s", export.MyData)
		}
		anon.login("erase@example.com", "wrong-Password-1") // an audit event that names the email
		const deleteMine = `mutation($p: String!) { deleteMyAccount(input: {password: $p}) { ok errors { field code } } }`
		if r := gone.Do(deleteMine, map[string]any{"p": "wrong-Password-1"}); outcome(r) != "INVALID_CREDENTIALS" {
			t.Errorf("deleteMyAccount with a wrong password: %q", outcome(r))
		}
		if r := gone.Do(deleteMine, map[string]any{"p": goodPassword}); outcome(r) != "" {
			t.Fatalf("deleteMyAccount: %q", outcome(r))
		}
		if code := gone.meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("the erased account's token: %q", code)
		}
		if l := anon.login("erase@example.com", goodPassword); len(l.Errors) == 0 {
			t.Error("the erased account still signs in")
		}
		if resp, err := httpClient.Get(avatar); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("the erased account's avatar: %v %v", resp, err)
		}
		var seen struct {
			User struct {
				Email, Mobile, FirstName string
				IsActive                 bool
				Wallet                   struct {
					Balance      string
					Transactions struct{ TotalCount int }
				}
			}
		}
		admin.MustData(`query($id: ID!) { user(id: $id) { email mobile firstName isActive wallet { balance transactions { totalCount } } } }`,
			map[string]any{"id": victim.User.ID}, &seen)
		u := seen.User
		if strings.Contains(u.Email, "erase") || u.Mobile == "+4944300004" || u.FirstName != "" || u.IsActive ||
			u.Wallet.Balance != "1000005.00" || u.Wallet.Transactions.TotalCount != 2 {
			t.Errorf("the anonymised account: %+v", u)
		}
		var leaked int
		if err := srv.DB().NewRaw("SELECT count(*) FROM audit_events WHERE (actor_id = ? OR target_id = ?) AND details LIKE ?",
			victim.User.ID, victim.User.ID, "%erase@example.com%").Scan(context.Background(), &leaked); err != nil {
			t.Fatal(err)
		}
		if leaked != 0 {
			t.Errorf("%d audit events still hold the erased email", leaked)
		}
		if got := auditActions(t, admin, victim.User.ID); !slices.Contains(got, "ACCOUNT_DELETED") || !slices.Contains(got, "WALLET_ADJUSTED") {
			t.Errorf("audit trail of the erased account: %v", got)
		}
		// The email and mobile are free again.
		mustSignIn(t, anon.register(registerInput("erase@example.com", "+4944300004")))

		// deleteUser: admins, not themselves.
		other := mustSignIn(t, anon.register(registerInput("erase2@example.com", "+4944300005")))
		const deleteUser = `mutation($id: ID!) { deleteUser(input: {userId: $id}) { ok errors { field code } } }`
		if r := admin.Do(deleteUser, map[string]any{"id": adminID.Me.ID}); outcome(r) != "INVALID" {
			t.Errorf("an admin deleting itself: %q", outcome(r))
		}
		if r := admin.Do(deleteUser, map[string]any{"id": other.User.ID}); outcome(r) != "" {
			t.Fatalf("deleteUser: %q", outcome(r))
		}
		if r := admin.Do(deleteUser, map[string]any{"id": other.User.ID}); outcome(r) != "NOT_FOUND" {
			t.Errorf("deleting an erased account again: %q", outcome(r))
		}
		if code := anon.As(*other.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("a deleted user's token: %q", code)
		}
	})
}

// Discovery and avatar URLs never come from a Host header a client wrote:
// without PUBLIC_URL they name the address the request reached and are not
// cacheable by shared caches; with it, they are PUBLIC_URL's and are.
func TestURLsInAnswersNeverComeFromTheHostHeader(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		get := func(srv *testServer, path string) (string, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.Host = "evil.example"
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return string(body), resp.Header.Get("Cache-Control")
		}
		srv := startServer(t, testEnv(t, dbURL))
		body, cache := get(srv, "/.well-known/openid-configuration")
		if !strings.Contains(body, `"jwks_uri":"`+srv.URL+`/.well-known/jwks.json"`) || strings.Contains(body, "evil") || cache != "no-store" {
			t.Errorf("without PUBLIC_URL, Host evil.example: %s (Cache-Control %q)", body, cache)
		}
		me := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("host@example.com", "+4944400011"))).AccessToken)
		me.Header.Set("Host", "evil.example")
		up, _ := me.upload("a.png", pngImage(t, 4, 4))
		if url := up.User.Profile.AvatarURL; url == nil || !strings.HasPrefix(*url, srv.URL+"/media/") {
			t.Errorf("avatarUrl with Host evil.example: %v", url)
		}

		env := testEnv(t, dbURL)
		env["PUBLIC_URL"] = "https://id.example"
		public := startServer(t, env)
		body, cache = get(public, "/.well-known/openid-configuration")
		if !strings.Contains(body, `"jwks_uri":"https://id.example/.well-known/jwks.json"`) || !strings.Contains(body, `"issuer":"https://id.example"`) ||
			!strings.HasPrefix(cache, "public") {
			t.Errorf("with PUBLIC_URL: %s (Cache-Control %q)", body, cache)
		}
	})
}

// A widely used JWT library, given only the discovery URL, fetches the keys
// and verifies an access token: no usergraph code on the verifying side.
func TestTokenDiscovery(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		srv := startServer(t, env)
		p := mustSignIn(t, srv.Client().register(registerInput("oidc@example.com", "+4944400001")))

		resp, err := httpClient.Get(srv.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var disc struct {
			Issuer  string   `json:"issuer"`
			JWKSURI string   `json:"jwks_uri"`
			Algs    []string `json:"id_token_signing_alg_values_supported"`
		}
		err = json.NewDecoder(resp.Body).Decode(&disc)
		resp.Body.Close()
		if err != nil || disc.Issuer != "usergraph" || disc.JWKSURI != srv.URL+"/.well-known/jwks.json" || !slices.Equal(disc.Algs, []string{"EdDSA"}) {
			t.Fatalf("discovery: %+v %v", disc, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cache, err := jwk.NewCache(ctx, httprc.NewClient())
		if err != nil {
			t.Fatal(err)
		}
		if err := cache.Register(ctx, disc.JWKSURI); err != nil {
			t.Fatal(err)
		}
		keys, err := cache.Lookup(ctx, disc.JWKSURI)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.ParseString(*p.AccessToken, jwt.WithKeySet(keys), jwt.WithIssuer(disc.Issuer), jwt.WithAudience("usergraph"))
		if err != nil {
			t.Fatalf("a standard verifier refused the access token: %v", err)
		}
		if sub, _ := tok.Subject(); sub != p.User.ID {
			t.Errorf("sub = %q, want %q", sub, p.User.ID)
		}
		if _, err := jwt.ParseString(*p.AccessToken+"x", jwt.WithKeySet(keys)); err == nil {
			t.Error("a damaged token verified")
		}

		// With PUBLIC_URL the issuer and the URLs are the public ones.
		env2 := testEnv(t, dbURL)
		env2["PUBLIC_URL"] = "https://id.example.test/"
		srv2 := startServer(t, env2)
		resp, err = httpClient.Get(srv2.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&disc)
		resp.Body.Close()
		if err != nil || disc.Issuer != "https://id.example.test" || disc.JWKSURI != "https://id.example.test/.well-known/jwks.json" {
			t.Errorf("discovery behind PUBLIC_URL: %+v %v", disc, err)
		}
		q := mustSignIn(t, srv2.Client().register(registerInput("oidc2@example.com", "+4944400002")))
		if tok, err := jwt.ParseInsecure([]byte(*q.AccessToken)); err != nil {
			t.Error(err)
		} else if iss, _ := tok.Issuer(); iss != "https://id.example.test" {
			t.Errorf("iss behind PUBLIC_URL = %q", iss)
		}
	})
}

// kidOf is the key id in an access token's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	msg, err := jws.ParseString(token)
	if err != nil || len(msg.Signatures()) != 1 {
		t.Fatalf("parse %q: %v", token, err)
	}
	kid, _ := msg.Signatures()[0].ProtectedHeaders().KeyID()
	return kid
}

// Two replicas share the database's signing keys. A rotation on either
// reaches both without a restart: new tokens carry the new kid, tokens
// signed before keep working on both, and once the old key is pruned they
// are refused on both.
func TestKeyRotationAcrossReplicas(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		envA, envB := testEnv(t, dbURL), testEnv(t, dbURL)
		envA["KEYS_RELOAD_INTERVAL"], envB["KEYS_RELOAD_INTERVAL"] = "200ms", "200ms"
		if dbURL == "" { // SQLite: one database file, in one data folder
			envB["DATA_DIR"] = envA["DATA_DIR"]
		}
		a, b := startServer(t, envA), startServer(t, envB)
		p := mustSignIn(t, a.Client().register(registerInput("rotate@example.com", "+4944500001")))
		old, oldKid := *p.AccessToken, kidOf(t, *p.AccessToken)
		if code := b.Client().As(old).meCode(); code != "" {
			t.Fatalf("replica B refuses replica A's token: %q", code)
		}
		if _, err := os.Stat(filepath.Join(envB["DATA_DIR"], "jwt-keys.json")); err == nil && dbURL != "" {
			t.Error("a key file was written: keys belong in the database")
		}

		out, err := usergraphCmd(t, envA, "", "keys", "rotate")
		newKid := strings.Fields(out + " x x")[1]
		if err != nil || !strings.HasPrefix(out, "key ") || newKid == oldKid {
			t.Fatalf("keys rotate: %v\n%s", err, out)
		}
		// Within the reload interval both replicas sign with the new key.
		for _, srv := range []*testServer{a, b} {
			deadline := time.Now().Add(10 * time.Second)
			for {
				q := mustSignIn(t, srv.Client().login("rotate@example.com", goodPassword))
				if kidOf(t, *q.AccessToken) == newKid {
					// Its tokens work on the other replica at once.
					for _, other := range []*testServer{a, b} {
						if code := other.Client().As(*q.AccessToken).meCode(); code != "" {
							t.Errorf("a new-key token refused: %q", code)
						}
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a replica still signs with %s after the rotation", kidOf(t, *q.AccessToken))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		for _, srv := range []*testServer{a, b} {
			if code := srv.Client().As(old).meCode(); code != "" {
				t.Errorf("a token of the previous key after the rotation: %q", code)
			}
			resp, err := httpClient.Get(srv.URL + "/.well-known/jwks.json")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), oldKid) || !strings.Contains(string(body), newKid) || strings.Contains(string(body), `"d"`) {
				t.Errorf("JWKS after rotation: %s", body)
			}
		}
		out, _ = usergraphCmd(t, envA, "", "keys", "list")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 ||
			!strings.HasPrefix(lines[0], newKid) || !strings.Contains(lines[0], "signing") ||
			!strings.HasPrefix(lines[1], oldKid) || !strings.Contains(lines[1], "retired") {
			t.Errorf("keys list:\n%s", out)
		}
		// Tokens of the old key may still be valid: the default prune keeps it.
		if out, err := usergraphCmd(t, envA, "", "keys", "prune"); err != nil || !strings.Contains(out, "nothing to prune") {
			t.Errorf("keys prune right after a rotation: %v %s", err, out)
		}
		if out, err := usergraphCmd(t, envB, "", "keys", "prune", "--older-than", "0s"); err != nil || !strings.Contains(out, "pruned "+oldKid) {
			t.Fatalf("keys prune --older-than 0s: %v %s", err, out)
		}
		for _, srv := range []*testServer{a, b} {
			deadline := time.Now().Add(10 * time.Second)
			for srv.Client().As(old).meCode() != "UNAUTHENTICATED" {
				if time.Now().After(deadline) {
					t.Fatal("a token of the pruned key still works")
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
}

// A replica that meets a token of a key it does not know yet reads the keys
// again at once, not at its next KEYS_RELOAD_INTERVAL: a replica started
// after a rotation signs with the new key, and an older replica (reloading
// only every minute) accepts its tokens straight away.
func TestAnUnknownKeyIsLookedUpAtOnce(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		envOld := testEnv(t, dbURL)
		envOld["KEYS_RELOAD_INTERVAL"] = "1m"
		old := startServer(t, envOld)
		mustSignIn(t, old.Client().register(registerInput("unknown-kid@example.com", "+4944500101")))
		if out, err := usergraphCmd(t, envOld, "", "keys", "rotate"); err != nil {
			t.Fatalf("keys rotate: %v\n%s", err, out)
		}
		envNew := testEnv(t, dbURL)
		if dbURL == "" { // SQLite: one database file, in one data folder
			envNew["DATA_DIR"] = envOld["DATA_DIR"]
		}
		fresh := startServer(t, envNew)
		p := mustSignIn(t, fresh.Client().login("unknown-kid@example.com", goodPassword))
		if kid := kidOf(t, *p.AccessToken); kid == kidOf(t, *mustSignIn(t, old.Client().login("unknown-kid@example.com", goodPassword)).AccessToken) {
			t.Fatalf("both replicas sign with %s: the old one reloaded on its own", kid)
		}
		if code := old.Client().As(*p.AccessToken).meCode(); code != "" {
			t.Errorf("the older replica refuses a token of the new key: %q", code)
		}
	})
}

// A pruned key's tokens stop working on a replica within
// KEYS_RELOAD_INTERVAL at its default (5 s), without a restart; the JWKS
// says verifiers may keep it no longer than that.
func TestAPrunedKeyStopsWithinTheReloadInterval(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		srv := startServer(t, env)
		p := mustSignIn(t, srv.Client().register(registerInput("pruned@example.com", "+4944500201")))
		resp, err := httpClient.Get(srv.URL + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=5" {
			t.Errorf("JWKS Cache-Control %q, want public, max-age=5", cc)
		}
		for _, args := range [][]string{{"keys", "rotate"}, {"keys", "prune", "--older-than", "0s"}} {
			if out, err := usergraphCmd(t, env, "", args...); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
		pruned := time.Now()
		for srv.Client().As(*p.AccessToken).meCode() != "UNAUTHENTICATED" {
			if time.Since(pruned) > 10*time.Second {
				t.Fatal("a token of the pruned key still works 10 s after the prune (KEYS_RELOAD_INTERVAL is 5 s)")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
