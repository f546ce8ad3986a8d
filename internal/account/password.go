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
)

// newPasswordHash checks a new password for u and hashes it.
func newPasswordHash(u *User, password, confirm, field, confirmField string) (string, error) {
	if problems := checkNewPassword(password, confirm, field, confirmField, u.Email, u.FirstName, u.LastName); len(problems) > 0 {
		return "", problems
	}
	return auth.HashPassword(password)
}

// setPassword stores a new password hash inside tx.
func (s *Service) setPassword(ctx context.Context, tx bun.IDB, u *User, hash string) error {
	u.PasswordHash, u.IsVerified, u.UpdatedAt = &hash, true, s.now()
	_, err := tx.NewUpdate().Model(u).Column("password_hash", "is_verified", "updated_at").WherePK().Exec(ctx)
	return err
}

// SetupPassword sets the first password of an invited account from its
// emailed token, marks the email verified, and signs the user in.
//
// Errors: INVALID_TOKEN, password rule errors, PASSWORD_MISMATCH.
func (s *Service) SetupPassword(ctx context.Context, token, password, confirm string) (*SignIn, error) {
	var sess *Session
	var refresh string
	u, err := s.passwordFromToken(ctx, PurposePasswordSetup, audit.PasswordSet, token, password, confirm,
		func(ctx context.Context, tx bun.Tx, u *User) (err error) {
			now := s.now()
			u.LastLogin = &now
			if _, err := tx.NewUpdate().Model(u).Column("last_login").WherePK().Exec(ctx); err != nil {
				return err
			}
			sess, refresh, err = s.startSession(ctx, tx, u)
			return err
		})
	if err != nil {
		return nil, err
	}
	return s.signIn(u, sess.ID, refresh)
}

// passwordFromToken sets a password from an emailed token of purpose: it
// checks the password against the token's user, then in one transaction
// spends the token, stores the hash, records action and runs then, the
// flow's own changes.
func (s *Service) passwordFromToken(ctx context.Context, purpose Purpose, action audit.Action, token, password, confirm string,
	then func(ctx context.Context, tx bun.Tx, u *User) error) (*User, error) {
	u, err := s.tokenUser(ctx, purpose, token)
	if err != nil {
		return nil, err
	}
	hash, err := newPasswordHash(u, password, confirm, "password", "passwordConfirm")
	if err != nil {
		return nil, err
	}
	return u, db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.consumeToken(ctx, tx, u, purpose, token); err != nil {
			return err
		}
		if err := s.setPassword(ctx, tx, u, hash); err != nil {
			return err
		}
		if err := s.Audit.Record(ctx, tx, audit.Entry{Action: action, Actor: &u.ID, Target: &u.ID}); err != nil {
			return err
		}
		return then(ctx, tx, u)
	})
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
	if err := rateLimited(s.limiter.Hit(ctx, "reset:ip:"+auth.ClientFrom(ctx).IP, s.Limits.ResetPerIP)); err != nil {
		return err
	}
	if err := rateLimited(s.limiter.Hit(ctx, "reset:email:"+EmailKey(email), s.Limits.ResetPerEmail)); err != nil {
		// Limited per email silently: an error here would reveal the address was asked for.
		return nil
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
		msg, err := s.Mail.PasswordReset(recipient(u), tokens[0])
		if err != nil {
			return err
		}
		if err := s.Audit.Record(ctx, tx, audit.Entry{Action: audit.PasswordResetRequested, Target: &u.ID}); err != nil {
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
	u, err := s.passwordFromToken(ctx, PurposePasswordReset, audit.PasswordReset, token, password, confirm,
		func(ctx context.Context, tx bun.Tx, u *User) error {
			return s.revokeSessions(ctx, tx, u.ID, uuid.Nil, uuid.Nil, RevokedPasswordReset)
		})
	if err != nil {
		return err
	}
	// The owner proved control of the email: lift a login lockout.
	return s.limiter.Reset(ctx, "login:email:"+u.EmailKey)
}

// ChangePassword replaces the caller's password after checking the old one,
// and ends the caller's other sessions; the current one stays signed in.
//
// Errors: INVALID_CREDENTIALS oldPassword, password rule errors,
// PASSWORD_MISMATCH, UNAUTHENTICATED.
func (s *Service) ChangePassword(ctx context.Context, oldPassword, newPassword, confirm string) error {
	v, err := signedIn(ctx)
	if err != nil {
		return err
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return err
	}
	hash := ""
	if u.PasswordHash != nil {
		hash = *u.PasswordHash
	}
	if !auth.VerifyPasswordOrDummy(oldPassword, hash) {
		return apperr.List{apperr.OnField("oldPassword", apperr.InvalidCredentials, "Your old password was entered incorrectly.")}
	}
	newHash, err := newPasswordHash(u, newPassword, confirm, "newPassword", "newPasswordConfirm")
	if err != nil {
		return err
	}
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.setPassword(ctx, tx, u, newHash); err != nil {
			return err
		}
		if err := s.Audit.Record(ctx, tx, audit.Entry{Action: audit.PasswordChanged, Target: &u.ID}); err != nil {
			return err
		}
		return s.revokeSessions(ctx, tx, u.ID, uuid.Nil, v.SessionID, RevokedPasswordChange)
	})
}
