package account

import (
	"strings"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/testdb"
)

// A code of the step before or after the current one is accepted (clock
// drift); two steps away is not.
func TestTotpAcceptsOneStepOfDrift(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		u, secret, _ := f.withTotp("drift@example.com", "+12025550101")
		row := new(totpSecret)
		if err := f.db.NewSelect().Model(row).Where("user_id = ?", u.ID).Scan(f.anon); err != nil {
			t.Fatal(err)
		}
		row.LastStep = 0 // every step counts as new here
		for steps, want := range map[int]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
			_, ok, err := f.s.checkTotp(row, f.code(secret, steps))
			if err != nil || ok != want {
				t.Errorf("a code %+d steps away: accepted %v (%v), want %v", steps, ok, err, want)
			}
		}
	})
}

// The mfaToken of the password step works for MFA_TOKEN_TTL, then not.
func TestMfaTokenExpires(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, func(p *Policy) { p.MFATokenTTL = 2 * time.Minute })
		_, secret, _ := f.withTotp("ttl@example.com", "+12025550102")
		token := f.mfaToken("ttl@example.com")
		f.clock.Advance(2*time.Minute + time.Second)
		if _, err := f.s.VerifyMfa(f.anon, token, f.code(secret, 0)); codeOf(err) != apperr.InvalidToken {
			t.Errorf("just past MFA_TOKEN_TTL: %v, want INVALID_TOKEN", err)
		}
		token = f.mfaToken("ttl@example.com")
		f.clock.Advance(2*time.Minute - time.Second)
		if in, err := f.s.VerifyMfa(f.anon, token, f.code(secret, 0)); err != nil || in.AccessToken == "" {
			t.Errorf("just within MFA_TOKEN_TTL: %+v %v", in, err)
		}
	})
}

// One user's recovery code does not complete another user's sign-in.
func TestRecoveryCodesBelongToTheirUser(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		f.withTotp("first@example.com", "+12025550103")
		_, _, others := f.withTotp("second@example.com", "+12025550104")
		token := f.mfaToken("first@example.com")
		if _, err := f.s.VerifyMfa(f.anon, token, others[0]); codeOf(err) != apperr.InvalidCredentials {
			t.Errorf("another user's recovery code: %v, want INVALID_CREDENTIALS", err)
		}
		// It is still its owner's.
		if in, err := f.s.VerifyMfa(f.anon, f.mfaToken("second@example.com"), others[0]); err != nil || in.AccessToken == "" {
			t.Errorf("the owner's own recovery code: %+v %v", in, err)
		}
	})
}

// mfaTokens are stored as their SHA-256 only.
func TestMfaTokensAreStoredHashed(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		f.withTotp("hashed@example.com", "+12025550105")
		token := f.mfaToken("hashed@example.com")
		if n := f.count("SELECT count(*) FROM mfa_challenges WHERE token_hash = ?", auth.HashToken(token)); n != 1 {
			t.Errorf("%d challenges stored under the token's hash, want 1", n)
		}
		if n := f.count("SELECT count(*) FROM mfa_challenges WHERE token_hash = ?", token); n != 0 {
			t.Errorf("the mfaToken is stored as it is")
		}
	})
}

// An account deactivated between the password and the code does not sign in.
func TestDeactivatedAccountCannotFinishTwoFactorSignIn(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		u, secret, _ := f.withTotp("gone@example.com", "+12025550106")
		token := f.mfaToken("gone@example.com")
		if _, err := f.db.NewUpdate().Model((*User)(nil)).Set("is_active = FALSE").Where("id = ?", u.ID).Exec(f.anon); err != nil {
			t.Fatal(err)
		}
		sessions := f.count("SELECT count(*) FROM sessions WHERE user_id = ?", u.ID)
		if _, err := f.s.VerifyMfa(f.anon, token, f.code(secret, 0)); codeOf(err) != apperr.InvalidToken {
			t.Errorf("deactivated after the password: %v, want INVALID_TOKEN", err)
		}
		if n := f.count("SELECT count(*) FROM sessions WHERE user_id = ?", u.ID); n != sessions {
			t.Errorf("a session was started: %d, was %d", n, sessions)
		}
	})
}

// Wrong codes at confirmTotp count like password guesses: after
// LOGIN_MAX_FAILURES of them even the right code waits for the lock.
func TestConfirmTotpGuessesAreCounted(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		ctx := f.signedIn(f.register("guess@example.com", "+12025550107"))
		e, err := f.s.EnrollTotp(ctx, password, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range testPolicy().LoginMaxFailures {
			if _, err := f.s.ConfirmTotp(ctx, "000000"); codeOf(err) != apperr.InvalidCredentials {
				t.Fatalf("guess %d: %v", i+1, err)
			}
		}
		if _, err := f.s.ConfirmTotp(ctx, f.code(e.Secret, 0)); codeOf(err) != apperr.RateLimited {
			t.Errorf("after LOGIN_MAX_FAILURES wrong codes: %v, want RATE_LIMITED", err)
		}
	})
}

// Wrong codes at verifyMfa count per user too.
func TestVerifyMfaGuessesAreCounted(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		_, secret, _ := f.withTotp("verify-guess@example.com", "+12025550108")
		token := f.mfaToken("verify-guess@example.com")
		for i := range testPolicy().LoginMaxFailures {
			if _, err := f.s.VerifyMfa(f.anon, token, "000000"); codeOf(err) != apperr.InvalidCredentials {
				t.Fatalf("guess %d: %v", i+1, err)
			}
		}
		if _, err := f.s.VerifyMfa(f.anon, token, f.code(secret, 0)); codeOf(err) != apperr.RateLimited {
			t.Errorf("after LOGIN_MAX_FAILURES wrong codes: %v, want RATE_LIMITED", err)
		}
	})
}

// Authenticator secrets stored before a key-encryption key existed are
// sealed at the next start, and still work.
func TestPlainSecretsAreSealedLater(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		u, secret, _ := f.withTotp("plain@example.com", "+12025550113")
		none, _ := auth.NewSealer("")
		if _, err := f.db.NewUpdate().Model((*totpSecret)(nil)).Set("secret = ?", none.Seal([]byte(secret), u.ID.String())).
			Where("user_id = ?", u.ID).Exec(f.anon); err != nil {
			t.Fatal(err)
		}
		if err := f.s.ResealPlainSecrets(f.anon); err != nil {
			t.Fatal(err)
		}
		row := new(totpSecret)
		if err := f.db.NewSelect().Model(row).Where("user_id = ?", u.ID).Scan(f.anon); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(row.Secret, "gcm1:") {
			t.Errorf("after resealing: %.10q", row.Secret)
		}
		row.LastStep = 0
		if _, ok, err := f.s.checkTotp(row, f.code(secret, 0)); !ok || err != nil {
			t.Errorf("the resealed secret checks no code: %v", err)
		}
	})
}
