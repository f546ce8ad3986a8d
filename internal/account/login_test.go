package account

import (
	"context"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/testdb"
)

// LOGIN_MAX_FAILURES wrong passwords lock the email for LOGIN_LOCKOUT,
// then a password is checked again; the next lock lasts twice as long. The
// right password during a lock is refused unchecked.
func TestLoginLockoutLastsItsLengthAndGrows(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, func(p *Policy) { p.LoginMaxFailures, p.LoginLockout = 2, time.Minute })
		f.register("lock@example.com", "+12025550110")
		fail := func(n int) {
			t.Helper()
			for i := range n {
				if _, err := f.s.Login(f.anon, "lock@example.com", "wrong-password"); codeOf(err) != apperr.InvalidCredentials {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
		}
		locked := func() time.Duration {
			t.Helper()
			_, err := f.s.Login(f.anon, "lock@example.com", password)
			coded := apperr.Errors(err)
			if len(coded) != 1 || coded[0].Code != apperr.RateLimited {
				t.Fatalf("the right password: %v, want RATE_LIMITED", err)
			}
			return coded[0].RetryAfter
		}
		fail(2)
		if wait := locked(); wait != time.Minute {
			t.Errorf("first lock: retry after %v, want LOGIN_LOCKOUT (1m)", wait)
		}
		f.clock.Advance(time.Minute - time.Second)
		if wait := locked(); wait != time.Second {
			t.Errorf("a second before the end: retry after %v", wait)
		}
		f.clock.Advance(time.Second)
		fail(1) // checked again after the lock
		fail(1) // the limit again: locked twice as long
		if wait := locked(); wait != 2*time.Minute {
			t.Errorf("second lock: retry after %v, want 2m", wait)
		}
		f.clock.Advance(2 * time.Minute)
		if in, err := f.s.Login(f.anon, "lock@example.com", password); err != nil || in.AccessToken == "" {
			t.Errorf("after the second lock: %+v %v", in, err)
		}
	})
}

// Failures older than LOGIN_FAILURE_WINDOW are forgotten: one failure,
// then another in a new window, do not reach a limit of two.
func TestLoginFailuresCountWithinTheirWindow(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, func(p *Policy) { p.LoginMaxFailures, p.LoginFailureWindow = 2, 10*time.Minute })
		f.register("window@example.com", "+12025550111")
		f.s.Login(f.anon, "window@example.com", "wrong-password")
		f.clock.Advance(10*time.Minute + time.Second)
		f.s.Login(f.anon, "window@example.com", "wrong-password")
		if in, err := f.s.Login(f.anon, "window@example.com", password); err != nil || in.AccessToken == "" {
			t.Errorf("after two failures in two windows: %+v %v, want a sign-in", in, err)
		}
	})
}

// The limits are the settings, not numbers of their own: with each set to
// one, the second attempt is refused (reset emails silently, the others
// with RATE_LIMITED).
func TestLimitsFollowTheirSettings(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, func(p *Policy) {
			p.ResetEmailsPerHour, p.VerifyEmailsPerHour, p.RefreshPerAddressPerMinute, p.MyDataPerHour = 1, 1, 2, 1
		})
		in := f.register("limits@example.com", "+12025550112")
		for range 2 {
			if err := f.s.RequestPasswordReset(f.anon, "limits@example.com"); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.count("SELECT count(*) FROM one_time_tokens WHERE user_id = ? AND purpose = 'PASSWORD_RESET'", in.User.ID); n != 1 {
			t.Errorf("two reset requests with RESET_EMAILS_PER_HOUR=1 issued %d links, want 1", n)
		}
		ctx := f.signedIn(in)
		if err := f.s.ResendVerificationEmail(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := f.s.ResendVerificationEmail(ctx, nil); codeOf(err) != apperr.RateLimited {
			t.Errorf("a second confirmation email with VERIFY_EMAILS_PER_HOUR=1: %v, want RATE_LIMITED", err)
		}
		next, err := f.s.RefreshToken(f.anon, in.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.RefreshToken(f.anon, next.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.RefreshToken(f.anon, "another"); codeOf(err) != apperr.RateLimited {
			t.Errorf("a third refresh with REFRESH_PER_IP_PER_MINUTE=2: %v, want RATE_LIMITED", err)
		}
		if _, err := f.s.MyData(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.MyData(ctx); codeOf(err) != apperr.RateLimited {
			t.Errorf("a second export with MY_DATA_PER_HOUR=1: %v, want RATE_LIMITED", err)
		}
	})
}

// A refresh for a user deactivated behind the session's back (a race with
// setUserActive) is refused and changes nothing but the spent token: the
// session is not extended.
func TestRefreshOfAnInactiveUserExtendsNothing(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		in := f.register("inactive@example.com", "+4915170000001")
		var before time.Time
		if err := f.db.NewRaw("SELECT expires_at FROM sessions WHERE user_id = ?", in.User.ID).Scan(context.Background(), &before); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
		if _, err := f.db.NewRaw("UPDATE users SET is_active = FALSE WHERE id = ?", in.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.RefreshToken(f.anon, in.RefreshToken); codeOf(err) != apperr.InvalidToken {
			t.Fatalf("refresh of an inactive user: %v, want INVALID_TOKEN", err)
		}
		var after time.Time
		if err := f.db.NewRaw("SELECT expires_at FROM sessions WHERE user_id = ?", in.User.ID).Scan(context.Background(), &after); err != nil {
			t.Fatal(err)
		}
		if !after.Equal(before) {
			t.Errorf("the session was extended from %v to %v", before, after)
		}
		// Refused, not reused: the token was never spent.
		if n := f.count("SELECT count(*) FROM audit_events WHERE action = 'REFRESH_TOKEN_REUSED'"); n != 0 {
			t.Errorf("%d REFRESH_TOKEN_REUSED events for a token never spent", n)
		}
	})
}

// Two refreshes of one token that meet inside PostgreSQL's rotation
// statement (both waiting on the session's row, held here until they do)
// rotate it once: the other finds the token spent, which is reuse, and the
// session ends. Without the meeting forced, such a race is rarely hit.
func TestRefreshesMeetingInTheRotationRotateOnce(t *testing.T) {
	f := newFixture(t, testdb.Postgres(t), nil)
	ctx := context.Background()
	in := f.register("meeting@example.com", "+4915170000002")
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.NewRaw("SELECT id FROM sessions WHERE user_id = ? FOR UPDATE", in.User.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		in  *SignIn
		err error
	}
	answers := make(chan answer, 2)
	for range 2 {
		go func() {
			in, err := f.s.RefreshToken(f.anon, in.RefreshToken)
			answers <- answer{in, err}
		}()
	}
	for waiting, deadline := 0, time.Now().Add(10*time.Second); waiting < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d refreshes wait on the session's row, want 2", waiting)
		}
		if err := f.db.NewRaw(`SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH extended AS%'`).Scan(ctx, &waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	var winners []*SignIn
	for range 2 {
		a := <-answers
		switch {
		case a.err == nil:
			winners = append(winners, a.in)
		case codeOf(a.err) != apperr.InvalidToken:
			t.Errorf("the other refresh: %v, want INVALID_TOKEN", a.err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of 2 refreshes of one token succeeded, want 1", len(winners))
	}
	if _, err := f.s.RefreshToken(f.anon, winners[0].RefreshToken); codeOf(err) != apperr.InvalidToken {
		t.Errorf("the winner's token after the reuse: %v, want INVALID_TOKEN (the session ended)", err)
	}
}
