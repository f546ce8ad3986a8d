package account

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/passkeytest"
	"github.com/usergraph/usergraph/internal/testdb"
)

// The relying party of these tests: pages of https://app.test.
const (
	rpID     = "app.test"
	rpOrigin = "https://app.test"
)

// passkeyFixture is a fixture whose service accepts passkeys for rpID.
func passkeyFixture(t *testing.T, dbURL string) *fixture {
	t.Helper()
	f := newFixture(t, dbURL, nil)
	wa, err := NewWebAuthn(rpID, "test", []string{rpOrigin})
	if err != nil {
		t.Fatal(err)
	}
	f.s.passkeys = wa
	return f
}

// addPasskey registers a consumer and gives it dev's passkey; it returns
// the user and its signed-in context.
func (f *fixture) addPasskey(email, mobile string, dev *passkeytest.Device) (*User, context.Context) {
	f.t.Helper()
	in := f.register(email, mobile)
	ctx := f.signedIn(in)
	opts, err := f.s.StartPasskeyRegistration(ctx, "")
	if err != nil {
		f.t.Fatalf("start registration: %v", err)
	}
	answer, err := dev.Create(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.s.FinishPasskeyRegistration(ctx, answer, "Laptop"); err != nil {
		f.t.Fatalf("finish registration: %v", err)
	}
	return in.User, ctx
}

// passkeySignIn runs a passkey sign-in with dev, for email ("" for the
// discoverable kind).
func (f *fixture) passkeySignIn(email string, dev *passkeytest.Device) (*SignIn, error) {
	f.t.Helper()
	id, opts, err := f.s.StartPasskeySignIn(f.anon, email)
	if err != nil {
		f.t.Fatalf("start sign-in: %v", err)
	}
	answer, err := dev.Get(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.s.FinishPasskeySignIn(f.anon, id, answer)
}

func TestPasskeySignsInAsBothFactors(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		dev := passkeytest.New(rpID, rpOrigin)
		u, _ := f.addPasskey("pk@example.com", "+4915110000001", dev)
		for _, email := range []string{"PK@example.com", ""} { // with the email (any case), and discoverable
			in, err := f.passkeySignIn(email, dev)
			if err != nil || in.AccessToken == "" || in.User.ID != u.ID {
				t.Fatalf("sign-in with email %q: %+v %v", email, in, err)
			}
		}
		if n := f.count("SELECT count(*) FROM audit_events WHERE action = 'LOGIN_SUCCEEDED' AND details LIKE '%passkey%'"); n != 2 {
			t.Errorf("%d passkey sign-ins audited, want 2", n)
		}
		// Each start is audited too, naming no one and keeping no address.
		if n := f.count("SELECT count(*) FROM audit_events WHERE action = 'PASSKEY_SIGN_IN_STARTED' AND ip = '' AND user_agent = '' AND actor_id IS NULL AND target_id IS NULL"); n != 2 {
			t.Errorf("%d anonymous sign-in starts audited, want 2", n)
		}
		// Two-factor sign-in on: the passkey (user-verified) asks for no code.
		f.withTotpFor(u)
		in, err := f.passkeySignIn("", dev)
		if err != nil || in.AccessToken == "" || in.MFAToken != "" {
			t.Errorf("passkey sign-in with two-factor on: %+v %v, want tokens at once", in, err)
		}
		// A deactivated account is refused as for a password.
		f.exec("UPDATE users SET is_active = FALSE WHERE id = ?", u.ID)
		if _, err := f.passkeySignIn("", dev); codeOf(err) != apperr.InvalidCredentials {
			t.Errorf("deactivated: %v, want INVALID_CREDENTIALS", err)
		}
	})
}

// What an attacker tries: each is refused, audited, and signs no one in.
func TestPasskeyRefusals(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		dev := passkeytest.New(rpID, rpOrigin)
		u, _ := f.addPasskey("victim@example.com", "+4915110000002", dev)
		other := passkeytest.New(rpID, rpOrigin)
		f.addPasskey("other@example.com", "+4915110000003", other)

		refused := func(what string, err error, want apperr.Code) {
			t.Helper()
			if codeOf(err) != want {
				t.Errorf("%s: %v, want %s", what, err, want)
			}
		}
		// A phishing page: another origin, or another site's RP ID.
		phished := *dev
		phished.RP.Origin = "https://app.test.evil.example"
		_, err := f.passkeySignIn("", &phished)
		refused("wrong origin", err, apperr.InvalidCredentials)
		phished = *dev
		phished.RP.ID = "evil.example"
		_, err = f.passkeySignIn("", &phished)
		refused("wrong RP ID", err, apperr.InvalidCredentials)

		// A replayed answer: the challenge was spent by the first finish.
		id, opts, err := f.s.StartPasskeySignIn(f.anon, "")
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := dev.Get(opts)
		if _, err := f.s.FinishPasskeySignIn(f.anon, id, answer); err != nil {
			t.Fatalf("first use: %v", err)
		}
		_, err = f.s.FinishPasskeySignIn(f.anon, id, answer)
		refused("replayed challenge", err, apperr.InvalidToken)
		// An answer to one challenge sent with another's id.
		id2, _, _ := f.s.StartPasskeySignIn(f.anon, "")
		_, err = f.s.FinishPasskeySignIn(f.anon, id2, answer)
		refused("answer to another challenge", err, apperr.InvalidCredentials)

		// An expired challenge.
		id, opts, _ = f.s.StartPasskeySignIn(f.anon, "")
		answer, _ = dev.Get(opts)
		f.clock.Advance(PasskeyChallengeTTL + time.Second)
		_, err = f.s.FinishPasskeySignIn(f.anon, id, answer)
		refused("expired challenge", err, apperr.InvalidToken)

		// A sign-in started for one account finished with another's passkey.
		_, err = f.passkeySignIn("victim@example.com", other)
		refused("another account's passkey", err, apperr.InvalidCredentials)
		// An unknown passkey.
		_, err = f.passkeySignIn("", passkeytest.New(rpID, rpOrigin))
		refused("unknown passkey", err, apperr.InvalidCredentials)

		// A registration answer made for another user's registration.
		otherIn := f.register("third@example.com", "+4915110000004")
		optsA, err := f.s.StartPasskeyRegistration(f.signedIn(otherIn), "")
		if err != nil {
			t.Fatal(err)
		}
		stolen, _ := passkeytest.New(rpID, rpOrigin).Create(optsA)
		victimCtx := f.signedIn(f.login("victim@example.com"))
		_, err = f.s.FinishPasskeyRegistration(victimCtx, stolen, "Stolen")
		refused("another user's registration challenge", err, apperr.InvalidToken)

		// Refusals once an answer reached a passkey check: the two phishing
		// pages, the swapped challenge, another account's and an unknown
		// passkey (spent or expired challenges stop before).
		if n := f.count("SELECT count(*) FROM audit_events WHERE action = 'PASSKEY_FAILED'"); n != 5 {
			t.Errorf("%d refusals audited, want 5", n)
		}
		// Sessions: registration's, the one good passkey sign-in, and the
		// password sign-in above; none from a refusal.
		if n := f.count("SELECT count(*) FROM sessions WHERE user_id = ?", u.ID); n != 3 {
			t.Errorf("the victim has %d sessions, want 3", n)
		}
	})
}

// An authenticator that counts its signatures and presents a counter that
// did not go up is a copy: refused, audited, the passkey's counter kept.
func TestPasskeyCounterGoingBackIsAClone(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		dev := passkeytest.New(rpID, rpOrigin)
		dev.Counting = true
		u, _ := f.addPasskey("count@example.com", "+4915110000005", dev)
		for range 3 {
			if _, err := f.passkeySignIn("", dev); err != nil {
				t.Fatal(err)
			}
		}
		clone := *dev
		clone.Cred.Counter = 1 // the copy was taken after the first use
		if _, err := f.passkeySignIn("", &clone); codeOf(err) != apperr.InvalidCredentials {
			t.Fatalf("clone: %v, want INVALID_CREDENTIALS", err)
		}
		if n := f.count("SELECT count(*) FROM audit_events WHERE action = 'PASSKEY_CLONE_SUSPECTED' AND target_id = ?", u.ID); n != 1 {
			t.Errorf("%d clone events, want 1", n)
		}
		if n := f.count("SELECT sign_count FROM passkeys WHERE user_id = ?", u.ID); n != 3 {
			t.Errorf("stored counter %d, want 3", n)
		}
		if _, err := f.passkeySignIn("", dev); err != nil { // the original goes on
			t.Errorf("the original after the clone: %v", err)
		}
	})
}

// Two copies of one passkey racing with the same counter: the one that
// writes second finds the counter moved and is refused, though its answer
// checked out against the counter it read.
func TestPasskeyCopiesRacingSignInOnce(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		dev := passkeytest.New(rpID, rpOrigin)
		dev.Counting = true
		f.addPasskey("race@example.com", "+4915110000007", dev)
		clone := *dev
		var raced error
		f.s.passkeyChecked = func() {
			f.s.passkeyChecked = nil
			_, raced = f.passkeySignIn("", &clone) // slips in between check and write
		}
		_, err := f.passkeySignIn("", dev)
		if raced != nil {
			t.Fatalf("the copy that wrote first: %v", raced)
		}
		if codeOf(err) != apperr.InvalidCredentials {
			t.Errorf("the copy that wrote second: %v, want INVALID_CREDENTIALS", err)
		}
		if n := f.count("SELECT count(*) FROM sessions"); n != 2 { // registration's and the first copy's
			t.Errorf("%d sessions, want 2", n)
		}
	})
}

// A passkey answer without user verification (no PIN, no fingerprint) is
// refused: it would be a single factor passed off as two.
func TestPasskeyWithoutUserVerificationIsRefused(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		dev := passkeytest.New(rpID, rpOrigin)
		f.addPasskey("uv@example.com", "+4915110000008", dev)
		dev.Auth.Options.UserNotVerified = true
		if in, err := f.passkeySignIn("", dev); codeOf(err) != apperr.InvalidCredentials {
			t.Errorf("no user verification: %+v %v, want INVALID_CREDENTIALS", in, err)
		}
	})
}

// Wrong answers for one account are counted like wrong passwords: after
// LoginMaxFailures the account's passkey sign-ins wait out the lockout,
// whichever addresses the answers came from.
func TestPasskeyGuessesLockTheAccount(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		dev := passkeytest.New(rpID, rpOrigin)
		f.addPasskey("lock@example.com", "+4915110000009", dev)
		phished := *dev
		phished.RP.Origin = "https://evil.example"
		for i := range 3 { // testPolicy's LoginMaxFailures
			f.anon = auth.WithClient(context.Background(), auth.Client{IP: fmt.Sprintf("198.51.100.%d", i+1)})
			if _, err := f.passkeySignIn("", &phished); codeOf(err) != apperr.InvalidCredentials {
				t.Fatalf("guess %d: %v", i+1, err)
			}
		}
		f.anon = auth.WithClient(context.Background(), auth.Client{IP: "198.51.100.99"})
		if _, err := f.passkeySignIn("", dev); codeOf(err) != apperr.RateLimited {
			t.Errorf("the right passkey during the lockout: %v, want RATE_LIMITED", err)
		}
		f.clock.Advance(5*time.Minute + time.Second) // testPolicy's LoginLockout
		if _, err := f.passkeySignIn("", dev); err != nil {
			t.Errorf("after the lockout: %v", err)
		}
	})
}

// An account holds at most MaxPasskeys, also when registrations started
// before the last slot was taken finish one after the other.
func TestPasskeysPerAccountAreBounded(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		_, ctx := f.addPasskey("many@example.com", "+4915110000010", passkeytest.New(rpID, rpOrigin))
		for range MaxPasskeys - 2 {
			f.registerPasskey(ctx, passkeytest.New(rpID, rpOrigin))
		}
		// One slot left, two registrations under way.
		a, b := passkeytest.New(rpID, rpOrigin), passkeytest.New(rpID, rpOrigin)
		optsA, errA := f.s.StartPasskeyRegistration(ctx, "")
		optsB, errB := f.s.StartPasskeyRegistration(ctx, "")
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		answerA, _ := a.Create(optsA)
		answerB, _ := b.Create(optsB)
		if _, err := f.s.FinishPasskeyRegistration(ctx, answerA, "A"); err != nil {
			t.Fatalf("the last slot: %v", err)
		}
		if _, err := f.s.FinishPasskeyRegistration(ctx, answerB, "B"); codeOf(err) != apperr.Invalid {
			t.Errorf("past the bound at finish: %v, want INVALID", err)
		}
		if _, err := f.s.StartPasskeyRegistration(ctx, ""); codeOf(err) != apperr.Invalid {
			t.Errorf("past the bound at start: %v, want INVALID", err)
		}
		if n := f.count("SELECT count(*) FROM passkeys"); n != MaxPasskeys {
			t.Errorf("%d passkeys, want %d", n, MaxPasskeys)
		}
	})
}

// registerPasskey adds dev's passkey to the signed-in user of ctx.
func (f *fixture) registerPasskey(ctx context.Context, dev *passkeytest.Device) {
	f.t.Helper()
	opts, err := f.s.StartPasskeyRegistration(ctx, "")
	if err != nil {
		f.t.Fatalf("start registration: %v", err)
	}
	answer, err := dev.Create(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.s.FinishPasskeyRegistration(ctx, answer, "Key"); err != nil {
		f.t.Fatalf("finish registration: %v", err)
	}
}

// Adding a passkey asks for the password once the session is older than
// FreshSignIn; wrong guesses are counted like changePassword's.
func TestAddingAPasskeyAsksForThePasswordOnOldSessions(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		ctx := f.signedIn(f.register("old@example.com", "+4915110000006"))
		f.clock.Advance(FreshSignIn + time.Second)
		if _, err := f.s.StartPasskeyRegistration(ctx, ""); codeOf(err) != apperr.Required {
			t.Errorf("no password on an old session: %v, want REQUIRED", err)
		}
		if _, err := f.s.StartPasskeyRegistration(ctx, "not-the-Password-1"); codeOf(err) != apperr.InvalidCredentials {
			t.Errorf("wrong password: %v, want INVALID_CREDENTIALS", err)
		}
		if n := f.count("SELECT count(*) FROM audit_events WHERE action = 'PASSWORD_CHANGE_FAILED'"); n != 1 {
			t.Errorf("%d wrong passwords recorded, want 1", n)
		}
		opts, err := f.s.StartPasskeyRegistration(ctx, password)
		if err != nil {
			t.Fatal(err)
		}
		// The options ask for a discoverable credential with user verification.
		raw, _ := json.Marshal(opts)
		var o struct {
			AuthenticatorSelection struct{ ResidentKey, UserVerification string }
		}
		if json.Unmarshal(raw, &o); o.AuthenticatorSelection.ResidentKey != "required" || o.AuthenticatorSelection.UserVerification != "required" {
			t.Errorf("authenticatorSelection %+v, want residentKey and userVerification required", o.AuthenticatorSelection)
		}
	})
}

// Passkeys are managed by their owner; the last way to sign in stays;
// an admin's reset removes them all.
func TestManagingPasskeys(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := passkeyFixture(t, dbURL)
		dev, dev2 := passkeytest.New(rpID, rpOrigin), passkeytest.New(rpID, rpOrigin)
		u, ctx := f.addPasskey("own@example.com", "+4915110000007", dev)
		opts, _ := f.s.StartPasskeyRegistration(ctx, "")
		answer, _ := dev2.Create(opts)
		second, err := f.s.FinishPasskeyRegistration(ctx, answer, "Phone")
		if err != nil {
			t.Fatal(err)
		}
		// The device that holds a passkey is not offered a second one.
		opts, _ = f.s.StartPasskeyRegistration(ctx, "")
		if _, err := dev.Create(opts); err == nil {
			t.Error("the options did not exclude the registered passkey")
		}
		keys, err := f.s.PasskeysOf(ctx, []uuid.UUID{u.ID})
		if err != nil || len(keys[u.ID]) != 2 {
			t.Fatalf("passkeys: %v %v", keys, err)
		}
		first := keys[u.ID][0]
		if first.ID == second.ID {
			first = keys[u.ID][1]
		}
		if k, err := f.s.RenamePasskey(ctx, first.ID, "  Work laptop "); err != nil || k.Name != "Work laptop" {
			t.Errorf("rename: %+v %v", k, err)
		}
		// Another user's passkey is not found.
		stranger := f.signedIn(f.register("stranger@example.com", "+4915110000008"))
		if _, err := f.s.RenamePasskey(stranger, first.ID, "Mine"); codeOf(err) != apperr.NotFound {
			t.Errorf("rename of another's passkey: %v", err)
		}
		if err := f.s.RemovePasskey(stranger, first.ID); codeOf(err) != apperr.NotFound {
			t.Errorf("removal of another's passkey: %v", err)
		}
		// Without a password, the last passkey stays.
		f.exec("UPDATE users SET password_hash = NULL WHERE id = ?", u.ID)
		if err := f.s.RemovePasskey(ctx, second.ID); err != nil {
			t.Fatalf("remove one of two: %v", err)
		}
		if err := f.s.RemovePasskey(ctx, first.ID); codeOf(err) != apperr.LastSignInMethod {
			t.Errorf("remove the last way in: %v, want LAST_SIGN_IN_METHOD", err)
		}
		// An admin's reset removes passkeys even with two-factor sign-in off.
		admin := f.admin()
		if _, err := f.s.ResetUserMfa(admin, u.ID); err != nil {
			t.Fatalf("reset: %v", err)
		}
		if n := f.count("SELECT count(*) FROM passkeys WHERE user_id = ?", u.ID); n != 0 {
			t.Errorf("%d passkeys after the reset", n)
		}
		if n := f.count("SELECT count(*) FROM mail_outbox WHERE template = 'sign_in_reset'"); n != 1 {
			t.Errorf("%d reset emails, want 1", n)
		}
		if _, err := f.s.ResetUserMfa(admin, u.ID); codeOf(err) != apperr.MfaNotEnabled {
			t.Errorf("a second reset: %v, want MFA_NOT_ENABLED", err)
		}
	})
}

// withTotpFor turns two-factor sign-in on for u (registered with password).
func (f *fixture) withTotpFor(u *User) {
	f.t.Helper()
	ctx := f.signedIn(f.login(u.Email))
	e, err := f.s.EnrollTotp(ctx, password, "")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.s.ConfirmTotp(ctx, f.code(e.Secret, 0)); err != nil {
		f.t.Fatal(err)
	}
}

// login signs email in with the password.
func (f *fixture) login(email string) *SignIn {
	f.t.Helper()
	in, err := f.s.Login(f.anon, email, password)
	if err != nil || in.AccessToken == "" {
		f.t.Fatalf("login of %s: %+v %v", email, in, err)
	}
	return in
}

// exec runs a statement.
func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.db.NewRaw(query, args...).Exec(context.Background()); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// admin returns the context of a new administrator.
func (f *fixture) admin() context.Context {
	f.t.Helper()
	a, err := f.s.CreateAdmin(context.Background(), AdminInput{Email: "admin@example.com", Mobile: "+4915119999999", Password: password})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.as(a, uuid.New())
}
