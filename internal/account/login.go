package account

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/ratelimit"
	"github.com/usergraph/usergraph/internal/validate"
)

var errInvalidCredentials = apperr.New(apperr.InvalidCredentials, "Invalid email or password.")

// Login checks an email and password and signs the user in
// (finishSignIn).
//
// Wrong email, wrong password, no password set yet and a deactivated account
// all give the same INVALID_CREDENTIALS error after the same argon2id work,
// so neither the answer nor its timing reveals which accounts exist. Each
// attempt is counted per email and per client address before the password
// is checked, so however many arrive at once, an email gets at most
// LoginPerAccount.Limit checks before it is locked; the lock applies
// whether or not the email has an account. A hash made with older
// parameters is replaced on success.
//
// Errors: INVALID_CREDENTIALS, EMAIL_NOT_VERIFIED (only after a right
// password), RateLimited (also when the server is too busy to check a
// password now; that attempt is not counted).
func (s *Service) Login(ctx context.Context, email, password string) (*SignIn, error) {
	key := EmailKey(email)
	accountKey, ipKey := loginKey(key), addressKey(ctx, "login")
	if _, err := s.take(ctx, ipKey, s.limits.loginPerIP); err != nil {
		return nil, err
	}
	verdict, err := s.take(ctx, accountKey, s.limits.loginPerAccount)
	if err != nil {
		if verdict.Locked {
			return nil, s.lockedOut(ctx, key, verdict, err)
		}
		return nil, err
	}

	u := new(User)
	if validate.Text(email) { // no account has an email with control characters
		err = s.db.NewSelect().Model(u).Where("email_key = ?", key).Scan(ctx)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, s.refundIfBusy(ctx, err, ipKey, accountKey)
	}
	hash := ""
	if err == nil && u.PasswordHash != nil {
		hash = *u.PasswordHash
	}
	ok, rehash, err := s.passwords.Verify(ctx, password, hash)
	if err != nil {
		return nil, s.refundIfBusy(ctx, err, ipKey, accountKey)
	}
	failed := func() error { return s.loginFailed(ctx, key, u, verdict) }
	if !ok {
		return nil, failed()
	}
	var newHash string
	if u.IsActive { // a deactivated account is refused by finishSignIn, as a failure
		// The password was right: the failures counted so far are forgiven.
		if err := s.limiter.Reset(ctx, accountKey); err != nil {
			return nil, err
		}
		if rehash {
			// Best effort: when the server is busy the old hash serves until next time.
			newHash, _ = s.passwords.Hash(ctx, password)
		}
	}
	return s.finishSignIn(ctx, proof{user: u, method: MethodPassword, refused: failed,
		writes: func(ctx context.Context, tx bun.Tx) error {
			if newHash == "" {
				return nil
			}
			_, err := tx.NewUpdate().Model(u).Set("password_hash = ?", newHash).WherePK().Exec(ctx)
			return err
		}})
}

// loginFailed records a failed check, and locks the email when it was the
// last the window allowed; u is the zero User when no account has the email.
func (s *Service) loginFailed(ctx context.Context, emailKey string, u *User, v ratelimit.Verdict) error {
	target, reason := loginTarget(u)
	entries := []audit.Entry{{Action: audit.LoginFailed, Target: target, Details: map[string]any{"email": emailKey, "reason": reason}}}
	if v.Last {
		lock, err := s.limiter.Lock(ctx, loginKey(emailKey), s.limits.loginPerAccount)
		if err != nil {
			return err
		}
		if lock.Locked {
			entries = append(entries, lockedOutEntry(target, emailKey, lock))
		}
	}
	if err := s.audit.Record(ctx, s.db, entries...); err != nil {
		return err
	}
	return errInvalidCredentials
}

// lockedOut records that an email was just locked by an attempt over the
// limit, and returns limited, that attempt's RATE_LIMITED error.
func (s *Service) lockedOut(ctx context.Context, emailKey string, v ratelimit.Verdict, limited error) error {
	u := new(User)
	if validate.Text(emailKey) {
		if err := s.db.NewSelect().Model(u).Column("id", "is_active").Where("email_key = ?", emailKey).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	target, _ := loginTarget(u)
	if err := s.audit.Record(ctx, s.db, lockedOutEntry(target, emailKey, v)); err != nil {
		return err
	}
	return limited
}

func lockedOutEntry(target *uuid.UUID, emailKey string, v ratelimit.Verdict) audit.Entry {
	return audit.Entry{Action: audit.LoginLockedOut, Target: target,
		Details: map[string]any{"email": emailKey, "seconds": int(v.Wait.Seconds())}}
}

func loginTarget(u *User) (*uuid.UUID, string) {
	switch {
	case u.ID != uuid.Nil && !u.IsActive:
		return &u.ID, "inactive_account"
	case u.ID != uuid.Nil:
		return &u.ID, "wrong_password"
	}
	return nil, "unknown_email"
}
