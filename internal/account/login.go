package account

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
)

var errInvalidCredentials = apperr.New(apperr.InvalidCredentials, "Invalid email or password.")

// Login checks an email and password and signs the user in.
//
// Wrong email, wrong password, no password set yet and a deactivated account
// all give the same INVALID_CREDENTIALS error after the same argon2id work,
// so neither the answer nor its timing reveals which accounts exist. Failures
// are counted per email and per client IP; too many give RateLimited. The
// per-email lockout applies whether or not the email has an account.
func (s *Service) Login(ctx context.Context, email, password string) (*SignIn, error) {
	key := EmailKey(email)
	accountKey, ipKey := "login:email:"+key, "login:ip:"+auth.ClientFrom(ctx).IP
	if err := rateLimited(s.limiter.Check(ctx, ipKey, s.Limits.LoginPerIP)); err != nil {
		return nil, err
	}
	if err := rateLimited(s.limiter.Check(ctx, accountKey, s.Limits.LoginPerAccount)); err != nil {
		return nil, err
	}

	u := new(User)
	err := s.db.NewSelect().Model(u).Where("email_key = ?", key).Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	hash := ""
	if err == nil && u.PasswordHash != nil {
		hash = *u.PasswordHash
	}
	if !auth.VerifyPasswordOrDummy(password, hash) || !u.IsActive {
		return nil, s.loginFailed(ctx, key, u, accountKey, ipKey)
	}
	if err := s.limiter.Reset(ctx, accountKey); err != nil {
		return nil, err
	}

	var refresh string
	var sess *Session
	now := s.now()
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewUpdate().Model(u).Set("last_login = ?", now).WherePK().Exec(ctx); err != nil {
			return err
		}
		if sess, refresh, err = s.startSession(ctx, tx, u); err != nil {
			return err
		}
		return s.Audit.Record(ctx, tx, audit.Entry{Action: audit.LoginSucceeded, Actor: &u.ID, Target: &u.ID,
			Details: map[string]any{"sessionId": sess.ID.String()}})
	})
	if err != nil {
		return nil, err
	}
	u.LastLogin = &now
	return s.signIn(u, sess.ID, refresh)
}

// loginFailed counts a failure against the email and the client address and
// records it; u is the zero User when no account has the email.
func (s *Service) loginFailed(ctx context.Context, emailKey string, u *User, accountKey, ipKey string) error {
	if _, err := s.limiter.Hit(ctx, ipKey, s.Limits.LoginPerIP); err != nil {
		return err
	}
	wait, err := s.limiter.Hit(ctx, accountKey, s.Limits.LoginPerAccount)
	if err != nil {
		return err
	}
	var target *uuid.UUID
	reason := "unknown_email"
	switch {
	case u.ID != uuid.Nil && !u.IsActive:
		target, reason = &u.ID, "inactive_account"
	case u.ID != uuid.Nil:
		target, reason = &u.ID, "wrong_password"
	}
	entries := []audit.Entry{{Action: audit.LoginFailed, Target: target, Details: map[string]any{"email": emailKey, "reason": reason}}}
	if wait > 0 {
		entries = append(entries, audit.Entry{Action: audit.LoginLockedOut, Target: target,
			Details: map[string]any{"email": emailKey, "seconds": int(wait.Seconds())}})
	}
	if err := s.Audit.Record(ctx, s.db, entries...); err != nil {
		return err
	}
	return errInvalidCredentials
}
