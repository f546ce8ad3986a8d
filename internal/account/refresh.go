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

var errInvalidRefresh = apperr.OnField("refreshToken", apperr.InvalidToken, "The refresh token is invalid or expired.")

// errReused marks a refresh token presented after it was rotated.
var errReused = errors.New("refresh token reused")

// RefreshToken rotates a refresh token: the presented token is spent and a
// new pair is returned. Presenting a spent token again means it leaked (or a
// client misbehaves): the whole session is ended, so neither holder keeps access.
//
// Errors: InvalidToken (payload), RateLimited.
func (s *Service) RefreshToken(ctx context.Context, token string) (*SignIn, error) {
	if _, err := s.take(ctx, addressKey(ctx, "refresh"), s.limits.refreshPerIP); err != nil {
		return nil, err
	}
	var (
		u      User
		newTok string
		sess   Session
	)
	// Four statements: spend the token (finding it), extend its session
	// if live, read the user if active, add the next token.
	err := db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		hash, now := auth.HashToken(token), s.now()
		// The condition makes two concurrent uses count as reuse.
		var sessionID uuid.UUID
		err := tx.NewUpdate().Model((*refreshToken)(nil)).Set("used_at = ?", now).
			Where("token_hash = ? AND used_at IS NULL", hash).Returning("session_id").Scan(ctx, &sessionID)
		if errors.Is(err, sql.ErrNoRows) { // unknown, or spent before
			err = tx.NewSelect().Model((*refreshToken)(nil)).Column("session_id").Where("token_hash = ?", hash).Scan(ctx, &sessionID)
			if errors.Is(err, sql.ErrNoRows) {
				return errInvalidRefresh
			}
			if err == nil {
				err = tx.NewSelect().Model(&sess).Where("id = ?", sessionID).Scan(ctx)
			}
			if err == nil {
				err = errReused
			}
			return err
		}
		if err != nil {
			return err
		}
		err = tx.NewUpdate().Model(&sess).
			Set("last_used_at = ?", now).Set("expires_at = ?", now.Add(s.policy.RefreshTTL)).
			Where("id = ? AND revoked_at IS NULL AND expires_at > ?", sessionID, now).Returning("*").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidRefresh
		}
		if err != nil {
			return err
		}
		err = tx.NewSelect().Model(&u).Where("id = ? AND is_active", sess.UserID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidRefresh
		}
		if err != nil {
			return err
		}
		newTok, err = s.addRefreshToken(ctx, tx, sess.ID)
		return err
	})
	if errors.Is(err, errReused) {
		err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
			if err := s.revokeSessions(ctx, tx, sess.UserID, sess.ID, uuid.Nil, RevokedTokenReuse); err != nil {
				return err
			}
			return s.audit.Record(ctx, tx, audit.Entry{Action: audit.RefreshTokenReused, Target: &sess.UserID,
				Details: map[string]any{"sessionId": sess.ID.String(), "sessionRevoked": true}})
		})
		if err != nil {
			return nil, err
		}
		return nil, errInvalidRefresh
	}
	if err != nil {
		return nil, err
	}
	return s.signIn(&u, sess.ID, newTok)
}

// Logout ends the session that refreshToken belongs to, or every session of
// the caller when everywhere is true. The token must belong to the caller:
// anyone else's token, or an unknown one, is InvalidToken and changes nothing.
func (s *Service) Logout(ctx context.Context, token string, everywhere bool) error {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return err
	}
	var sess Session
	err = s.db.NewSelect().Model(&sess).
		Join("JOIN refresh_tokens AS rt ON rt.session_id = session.id").
		Where("rt.token_hash = ?", auth.HashToken(token)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && sess.UserID != v.UserID) {
		return errInvalidRefresh
	}
	if err != nil {
		return err
	}
	only := sess.ID
	if everywhere {
		only = uuid.Nil
	}
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.revokeSessions(ctx, tx, v.UserID, only, uuid.Nil, RevokedLogout); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.LoggedOut, Target: &v.UserID,
			Details: map[string]any{"sessionId": sess.ID.String(), "everywhere": everywhere}})
	})
}
