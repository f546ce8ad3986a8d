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
		err := spendRefreshStmt.Scan(ctx, tx, []any{now, hash}, &sessionID)
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
		err = extendSessionStmt.Scan(ctx, tx, []any{now, now.Add(s.policy.RefreshTTL), sessionID, now}, &sess)
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidRefresh
		}
		if err != nil {
			return err
		}
		err = activeUserStmt.Scan(ctx, tx, []any{sess.UserID}, &u)
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
	return s.tokensFor(&u, sess.ID, newTok)
}

// The statements of a refresh, prepared once per connection (db.Stmt).
var (
	spendRefreshStmt  = db.NewStmt(`UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL RETURNING session_id`)
	extendSessionStmt = db.NewStmt(`UPDATE sessions SET last_used_at = ?, expires_at = ?
WHERE id = ? AND revoked_at IS NULL AND expires_at > ? RETURNING ` + db.Columns(Session{}, ""))
	activeUserStmt = db.NewStmt(`SELECT ` + db.Columns(User{}, "") + ` FROM users WHERE id = ? AND is_active`)
)

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
