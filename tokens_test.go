package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/testdb"
)

const requestResetMutation = `mutation($e: String!) { requestPasswordReset(input: {email: $e}) { ok errors { code } } }`

func TestOneTimeTokens(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		createB2BAdmin(t, admin, "tok@corp.test", "+4943000001")
		setupMail := srv.waitEmails("tok@corp.test", 1)[0]
		mustSignIn(t, srv.Client().setupPassword(linkToken(t, setupMail, "setup-password"), goodPassword))

		// Stored only as hashes, with the original's lifetimes: setup 24 h, reset 1 h.
		anon := srv.Client()
		anon.Do(requestResetMutation, map[string]any{"e": "tok@corp.test"})
		first := srv.waitEmails("tok@corp.test", 2)
		anon.Do(requestResetMutation, map[string]any{"e": "TOK@corp.test"})
		mails := srv.waitEmails("tok@corp.test", 3)
		var rows []struct {
			TokenHash string    `bun:"token_hash"`
			Purpose   string    `bun:"purpose"`
			CreatedAt time.Time `bun:"created_at"`
			ExpiresAt time.Time `bun:"expires_at"`
		}
		if err := srv.DB().NewRaw("SELECT token_hash, purpose, created_at, expires_at FROM one_time_tokens").Scan(context.Background(), &rows); err != nil {
			t.Fatal(err)
		}
		var older, newer string
		for _, m := range mails {
			if m.Subject != "Reset your password" {
				continue
			}
			if slices.ContainsFunc(first, func(f email) bool { return f.File == m.File }) {
				older = linkToken(t, m, "reset-password")
			} else {
				newer = linkToken(t, m, "reset-password")
			}
		}
		resetTokens := []string{older, newer}
		if len(rows) != 3 || older == "" || newer == "" {
			t.Fatalf("%d token rows, %d reset emails", len(rows), len(resetTokens))
		}
		for _, r := range rows {
			want := map[string]time.Duration{"PASSWORD_SETUP": 24 * time.Hour, "PASSWORD_RESET": time.Hour}[r.Purpose]
			if got := r.ExpiresAt.Sub(r.CreatedAt); got != want {
				t.Errorf("%s token lives %v, want %v", r.Purpose, got, want)
			}
			for _, tok := range append(resetTokens, linkToken(t, setupMail, "setup-password")) {
				if r.TokenHash == tok {
					t.Error("a token is stored in plain text")
				}
			}
		}

		// The newer reset link voids the older; a reset token cannot set up a password.
		const resetMutation = `mutation($t: String!) { resetPassword(input: {token: $t, password: "grape-Harbor-31", passwordConfirm: "grape-Harbor-31"}) { ok errors { field code } } }`
		var r struct {
			ResetPassword struct {
				OK     bool        `json:"ok"`
				Errors []userError `json:"errors"`
			}
		}
		anon.MustData(resetMutation, map[string]any{"t": older}, &r)
		if r.ResetPassword.OK {
			t.Error("the older reset link still works after a newer one was sent")
		}
		if p := anon.setupPassword(newer, goodPassword); !slices.Equal(codes(p.Errors), []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("reset token used for setup: %v", codes(p.Errors))
		}
		anon.MustData(resetMutation, map[string]any{"t": newer}, &r)
		if !r.ResetPassword.OK {
			t.Errorf("newest reset link refused: %v", codes(r.ResetPassword.Errors))
		}

		// Expired links are refused.
		anon.Do(requestResetMutation, map[string]any{"e": "tok@corp.test"})
		var latest string
		for _, m := range srv.waitEmails("tok@corp.test", 4) {
			if !slices.ContainsFunc(mails, func(f email) bool { return f.File == m.File }) {
				latest = linkToken(t, m, "reset-password")
			}
		}
		if _, err := srv.DB().NewRaw("UPDATE one_time_tokens SET expires_at = ? WHERE used_at IS NULL", time.Now().Add(-time.Minute).UTC()).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		anon.MustData(resetMutation, map[string]any{"t": latest}, &r)
		if !slices.Equal(codes(r.ResetPassword.Errors), []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("expired reset link: %v", codes(r.ResetPassword.Errors))
		}

		// Deactivated accounts get no reset email, and the answer is the same.
		// A fresh address, so no per-address limit answers first; the outbox
		// row would be written before the answer, so there is nothing to wait for.
		mustSignIn(t, anon.register(registerInput("gone@example.com", "+4943000002")))
		confirmation := srv.outboxCount("gone@example.com") // registering asks to confirm the address
		if _, err := srv.DB().NewRaw("UPDATE users SET is_active = ? WHERE email_key = ?", false, "gone@example.com").Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		var ok struct {
			RequestPasswordReset struct{ OK bool } `json:"requestPasswordReset"`
		}
		anon.MustData(requestResetMutation, map[string]any{"e": "gone@example.com"}, &ok)
		if !ok.RequestPasswordReset.OK || srv.outboxCount("gone@example.com") != confirmation {
			t.Errorf("deactivated account: ok %v, %d emails queued; want the same answer and none", ok.RequestPasswordReset.OK, srv.outboxCount("gone@example.com")-confirmation)
		}
		// The same request for it while active does queue one (the check above can fail).
		if _, err := srv.DB().NewRaw("UPDATE users SET is_active = ? WHERE email_key = ?", true, "gone@example.com").Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		anon.MustData(requestResetMutation, map[string]any{"e": "gone@example.com"}, &ok)
		if n := srv.outboxCount("gone@example.com") - confirmation; n != 1 {
			t.Errorf("active account: %d reset emails queued, want 1", n)
		}
	})
}

// Changing or resetting a password voids every outstanding setup and reset
// link of the user.
func TestPasswordChangesVoidOutstandingLinks(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		const reset = `mutation($t: String!) { resetPassword(input: {token: $t, password: "grape-Harbor-31", passwordConfirm: "grape-Harbor-31"}) { ok errors { field code } } }`
		resetCodes := func(token string) []string {
			var r struct {
				ResetPassword struct{ Errors []userError }
			}
			anon.MustData(reset, map[string]any{"t": token}, &r)
			return codes(r.ResetPassword.Errors)
		}
		latestLink := func(addr, path string, n int) string {
			mails := srv.waitEmails(addr, n)
			return linkToken(t, mails[len(mails)-1], path)
		}

		// A reset link sent before changePassword no longer works after it.
		p := mustSignIn(t, anon.register(registerInput("voids@example.com", "+4931700001")))
		anon.Do(requestResetMutation, map[string]any{"e": "voids@example.com"})
		link := latestLink("voids@example.com", "reset-password", 2) // after the confirmation email
		var cp struct{ ChangePassword struct{ OK bool } }
		anon.As(*p.AccessToken).MustData(`mutation { changePassword(input: {oldPassword: "`+goodPassword+`", newPassword: "plum-Orbit-88", newPasswordConfirm: "plum-Orbit-88"}) { ok } }`, nil, &cp)
		if !cp.ChangePassword.OK {
			t.Fatal("changePassword failed")
		}
		if got := resetCodes(link); !slices.Equal(got, []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("reset link after changePassword: %v, want INVALID_TOKEN", got)
		}

		// A setup link does not outlive a password set through a reset link.
		createB2BAdmin(t, admin, "voids-b2b@corp.test", "+4931700002")
		setup := latestLink("voids-b2b@corp.test", "setup-password", 1)
		anon.Do(requestResetMutation, map[string]any{"e": "voids-b2b@corp.test"})
		if got := resetCodes(latestLink("voids-b2b@corp.test", "reset-password", 2)); len(got) != 0 {
			t.Fatalf("reset: %v", got)
		}
		if p := anon.setupPassword(setup, goodPassword); !slices.Equal(codes(p.Errors), []string{"INVALID_TOKEN@input.token"}) {
			t.Errorf("setup link after a reset: %v, want INVALID_TOKEN", codes(p.Errors))
		}
	})
}

// requestPasswordReset answers no sooner than 250 ms, whether or not the
// email exists. (A lower bound the server enforces: it cannot pass falsely.)
func TestPasswordResetRequestFloor(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("floor@example.com", "+12025550133")))
		for _, email := range []string{"floor@example.com", "nobody@example.com"} {
			start := time.Now()
			anon.Do(requestResetMutation, map[string]any{"e": email})
			if took := time.Since(start); took < 250*time.Millisecond {
				t.Errorf("requestPasswordReset(%s) answered after %v, before the 250 ms floor", email, took)
			}
		}
	})
}
