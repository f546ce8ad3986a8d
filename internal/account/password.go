package account

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/ratelimit"
	"github.com/usergraph/usergraph/internal/validate"
)

// newPasswordHash checks a new password for u and hashes it.
func (s *Service) newPasswordHash(ctx context.Context, u *User, password, confirm, field, confirmField string) (string, error) {
	if problems := checkNewPassword(password, confirm, field, confirmField, u.Email, u.FirstName, u.LastName); len(problems) > 0 {
		return "", problems
	}
	return s.passwords.Hash(ctx, password)
}

// setPassword stores a new password hash inside tx and voids every
// outstanding setup and reset link of u: a link sent before the password
// changed must not change it again.
func (s *Service) setPassword(ctx context.Context, tx bun.IDB, u *User, hash string) error {
	u.PasswordHash, u.IsVerified, u.UpdatedAt = &hash, true, s.now()
	if _, err := tx.NewUpdate().Model(u).Column("password_hash", "is_verified", "updated_at").WherePK().Exec(ctx); err != nil {
		return err
	}
	_, err := tx.NewUpdate().Model((*oneTimeToken)(nil)).Set("used_at = ?", u.UpdatedAt).
		Where("user_id = ? AND used_at IS NULL", u.ID).Exec(ctx)
	return err
}

// SetupPassword sets the first password of an invited account from its
// emailed token, marks the email verified, and signs the user in
// (finishSignIn).
//
// Errors: INVALID_TOKEN, password rule errors, PASSWORD_MISMATCH.
func (s *Service) SetupPassword(ctx context.Context, token, password, confirm string) (*SignIn, error) {
	u, writes, err := s.passwordFromToken(ctx, PurposePasswordSetup, audit.PasswordSet, token, password, confirm)
	if err != nil {
		return nil, err
	}
	return s.finishSignIn(ctx, proof{user: u, method: MethodSetupLink, writes: writes,
		refused: func() error { return apperr.List{errBadOneTimeToken} }})
}

// passwordFromToken checks a password set from an emailed token of
// purpose against the token's user, and returns the user and the writes
// that spend the token, store the hash and record action, for the flow to
// run in its transaction. Each use counts against the client's address
// before the token is looked up, so tokens cannot be guessed at speed.
func (s *Service) passwordFromToken(ctx context.Context, purpose Purpose, action audit.Action, token, password, confirm string) (
	*User, func(ctx context.Context, tx bun.Tx) error, error) {
	if _, err := s.take(ctx, addressKey(ctx, "token"), s.limits.tokenPerIP); err != nil {
		return nil, nil, err
	}
	u, err := s.tokenUser(ctx, purpose, token)
	if err != nil {
		return nil, nil, err
	}
	hash, err := s.newPasswordHash(ctx, u, password, confirm, "password", "passwordConfirm")
	if err != nil {
		return nil, nil, err
	}
	return u, func(ctx context.Context, tx bun.Tx) error {
		if err := s.consumeToken(ctx, tx, u, purpose, token); err != nil {
			return err
		}
		if err := s.setPassword(ctx, tx, u, hash); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: action, Actor: &u.ID, Target: &u.ID})
	}, nil
}

// resetRequestFloor is the least time requestPasswordReset takes, so the
// answer's timing does not tell whether the email has an account.
const resetRequestFloor = 250 * time.Millisecond

// RequestPasswordReset emails a reset link (1 h) when email belongs to an
// active account; otherwise it does nothing. The answer and its timing are
// the same either way. A new link voids the previous one.
//
// Errors: RateLimited.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	defer sleepUntil(ctx, time.Now().Add(resetRequestFloor))
	if _, err := s.take(ctx, addressKey(ctx, "reset"), s.limits.resetPerIP); err != nil {
		return err
	}
	if !validate.Text(email) { // no account has such an email: the same answer
		return nil
	}
	if v, err := s.limiter.Take(ctx, resetKey(EmailKey(email)), s.limits.resetPerEmail); err != nil || v.Wait > 0 {
		// Limited per email silently: an error here would reveal the address was asked for.
		return err
	}
	u := new(User)
	err := s.db.NewSelect().Model(u).Where("u.email_key = ? AND u.is_active", EmailKey(email)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		tokens, err := s.issueTokens(ctx, tx, PurposePasswordReset, u.ID)
		if err != nil {
			return err
		}
		msg, err := s.mail.PasswordReset(recipient(u), tokens[0])
		if err != nil {
			return err
		}
		if err := s.audit.Record(ctx, tx, audit.Entry{Action: audit.PasswordResetRequested, Target: &u.ID}); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, msg)
	})
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-time.After(time.Until(t)):
	case <-ctx.Done():
	}
}

// ResetPassword sets a new password from an emailed reset token and ends
// every session of the user (a reset means the old password may be known).
//
// Errors: INVALID_TOKEN, password rule errors, PASSWORD_MISMATCH.
func (s *Service) ResetPassword(ctx context.Context, token, password, confirm string) error {
	u, writes, err := s.passwordFromToken(ctx, PurposePasswordReset, audit.PasswordReset, token, password, confirm)
	if err != nil {
		return err
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := writes(ctx, tx); err != nil {
			return err
		}
		return s.revokeSessions(ctx, tx, u.ID, uuid.Nil, uuid.Nil, RevokedPasswordReset)
	})
	if err != nil {
		return err
	}
	// The owner proved control of the email: lift a login lockout.
	return s.limiter.Reset(ctx, loginKey(u.EmailKey))
}

// ChangePassword replaces the caller's password after checking the old one,
// and ends the caller's other sessions; the current one stays signed in.
// Guesses of the old password are counted per user before each check and
// recorded; the guess over the limit ends the session it came from (whoever
// holds it does not know the password) and locks the user's changes.
//
// Errors: INVALID_CREDENTIALS oldPassword, password rule errors,
// PASSWORD_MISMATCH, UNAUTHENTICATED, RateLimited.
func (s *Service) ChangePassword(ctx context.Context, oldPassword, newPassword, confirm string) error {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return err
	}
	u, err := s.checkPassword(ctx, v, oldPassword, "oldPassword", "Your old password was entered incorrectly.")
	if err != nil {
		return err
	}
	newHash, err := s.newPasswordHash(ctx, u, newPassword, confirm, "newPassword", "newPasswordConfirm")
	if err != nil {
		return err
	}
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.setPassword(ctx, tx, u, newHash); err != nil {
			return err
		}
		if err := s.audit.Record(ctx, tx, audit.Entry{Action: audit.PasswordChanged, Target: &u.ID}); err != nil {
			return err
		}
		return s.revokeSessions(ctx, tx, u.ID, uuid.Nil, v.SessionID, RevokedPasswordChange)
	})
}

// confirmPassword is checkPassword for a change that asks for the caller's
// password in a field named "password" (enrollTotp, disableTotp,
// deleteMyAccount).
func (s *Service) confirmPassword(ctx context.Context, password string) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	return s.checkPassword(ctx, v, password, "password", "Your password was entered incorrectly.")
}

// checkPassword checks the signed-in caller's password before a change
// that needs it (changePassword, enrollTotp, disableTotp, deleteMyAccount) and returns
// the caller. Guesses are counted per user before each check and recorded;
// the guess over the limit ends the session it came from (whoever holds it
// does not know the password) and locks these changes for the user.
//
// Errors: INVALID_CREDENTIALS on field, RateLimited.
func (s *Service) checkPassword(ctx context.Context, v auth.Viewer, password, field, wrongMessage string) (*User, error) {
	key := counterOf("password", v.UserID)
	verdict, err := s.take(ctx, key, s.limits.passwordChangePerUser)
	if err != nil {
		if verdict.Locked {
			return nil, s.endGuessingSession(ctx, v, err, verdict)
		}
		return nil, err
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	hash := ""
	if u.PasswordHash != nil {
		hash = *u.PasswordHash
	}
	ok, _, err := s.passwords.Verify(ctx, password, hash)
	if err != nil {
		return nil, s.refundIfBusy(ctx, err, key)
	}
	if !ok {
		if err := s.audit.Record(ctx, s.db, audit.Entry{Action: audit.PasswordChangeFailed, Target: &u.ID}); err != nil {
			return nil, err
		}
		wrong := apperr.List{apperr.OnField(field, apperr.InvalidCredentials, wrongMessage)}
		if !verdict.Last {
			return nil, wrong
		}
		lock, err := s.limiter.Lock(ctx, key, s.limits.passwordChangePerUser)
		if err != nil {
			return nil, err
		}
		return nil, s.endGuessingSession(ctx, v, wrong, lock)
	}
	return u, s.limiter.Reset(ctx, key)
}

// endGuessingSession ends the session that guessed the old password as
// often as the limit allows, when lock says this call started the lock,
// records it, and returns answer.
func (s *Service) endGuessingSession(ctx context.Context, v auth.Viewer, answer error, lock ratelimit.Verdict) error {
	if !lock.Locked {
		return answer
	}
	err := s.endSessions(ctx, v.UserID, v.SessionID, RevokedPasswordGuesses, audit.Entry{Action: audit.SessionRevoked,
		Target: &v.UserID, Details: map[string]any{"sessionId": v.SessionID.String(), "reason": RevokedPasswordGuesses}})
	if err != nil {
		return err
	}
	return answer
}
