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

var errInvalidRefresh = apperr.OnField("refreshToken", apperr.InvalidToken, "The refresh token is invalid or expired.")

// RefreshToken rotates a refresh token: the presented token is spent and a
// new pair is returned. Presenting a spent token again means it leaked (or a
// client misbehaves): the whole session is ended, so neither holder keeps access.
//
// A refresh costs the address's count and one rotation: on PostgreSQL a
// single statement (one round trip, one commit), on SQLite one transaction.
// Only a refused token costs more (refused).
//
// Errors: InvalidToken (payload), RateLimited.
func (s *Service) RefreshToken(ctx context.Context, token string) (*SignIn, error) {
	if _, err := s.take(ctx, addressKey(ctx, "refresh"), s.limits.refreshPerIP); err != nil {
		return nil, err
	}
	hash, next, now := auth.HashToken(token), auth.NewOpaqueToken(), s.now()
	expires, nextHash := now.Add(s.policy.RefreshTTL), auth.HashToken(next)
	var r rotation
	var err error
	if db.IsPostgres(s.db) {
		err = rotateStmt.Scan(ctx, s.db, []any{now, expires, hash, now, now, hash, nextHash, now}, &r)
	} else {
		err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
			return rotateInTx(ctx, tx, now, expires, hash, nextHash, &r)
		})
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.refused(ctx, hash)
	}
	if err != nil {
		return nil, err
	}
	return s.tokensFor(&r.User, r.SessionID, next)
}

// rotation is what a rotation returns: the session it extended and its
// user, who is active.
type rotation struct {
	User
	SessionID uuid.UUID `bun:"rotated_session_id,type:uuid"`
}

// A rotation, in the order that keeps every guarantee under concurrency:
//  1. extend the token's session, if the token is unspent, the session live
//     and its user active: the session's row lock orders concurrent
//     refreshes of one session, and a session ended meanwhile is seen;
//  2. spend the token, only if still unspent: of two concurrent uses one
//     spends it, the other finds it spent, which is reuse;
//  3. add the next token and read the user.
//
// Any step finding nothing rotates nothing (refused tells why).
const (
	extendSQL = `UPDATE sessions SET last_used_at = ?, expires_at = ?
WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ? AND used_at IS NULL)
  AND revoked_at IS NULL AND expires_at > ?
  AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id AND users.is_active)
RETURNING id, user_id`
	spendSQL = `UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL RETURNING session_id`
)

// rotateStmt is the rotation as one PostgreSQL statement. Its parts see one
// snapshot, and each UPDATE re-checks its conditions on a row another
// transaction changed meanwhile, so the steps keep the guarantees they have
// one by one.
var rotateStmt = db.NewStmt(`WITH extended AS (
` + extendSQL + `
), spent AS (
  UPDATE refresh_tokens SET used_at = ? FROM extended
  WHERE token_hash = ? AND used_at IS NULL AND refresh_tokens.session_id = extended.id
  RETURNING extended.id, extended.user_id
), added AS (
  INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT CAST(? AS text), id, CAST(? AS timestamptz) FROM spent
)
SELECT ` + db.Columns(User{}, "u") + `, spent.id AS rotated_session_id
FROM spent JOIN users AS u ON u.id = spent.user_id`)

// rotateInTx is the rotation as statements in tx (SQLite, where a statement
// cannot hold several writes; in-process, a statement costs no round trip).
func rotateInTx(ctx context.Context, tx bun.Tx, now, expires time.Time, hash, nextHash string, r *rotation) error {
	var userID uuid.UUID
	if err := tx.NewRaw(extendSQL, now, expires, hash, now).Scan(ctx, &r.SessionID, &userID); err != nil {
		return err
	}
	var spentFrom uuid.UUID
	if err := tx.NewRaw(spendSQL, now, hash).Scan(ctx, &spentFrom); err != nil {
		return err
	}
	if err := addRefreshTokenStmt.Exec(ctx, tx, nextHash, r.SessionID, now); err != nil {
		return err
	}
	return tx.NewSelect().Model(&r.User).Where("id = ?", userID).Scan(ctx)
}

// refused answers a token that rotated nothing: unknown, its session ended,
// its user deactivated, or spent before. Spent before is reuse: the session
// ends, its newest token included, and the event is audited.
func (s *Service) refused(ctx context.Context, hash string) error {
	var sess Session
	err := s.db.NewSelect().Model(&sess).
		Join("JOIN refresh_tokens AS rt ON rt.session_id = session.id").
		Where("rt.token_hash = ? AND rt.used_at IS NOT NULL", hash).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return errInvalidRefresh
	}
	if err != nil {
		return err
	}
	err = s.endSessions(ctx, sess.UserID, sess.ID, RevokedTokenReuse, audit.Entry{Action: audit.RefreshTokenReused,
		Target: &sess.UserID, Details: map[string]any{"sessionId": sess.ID.String(), "sessionRevoked": true}})
	if err != nil {
		return err
	}
	return errInvalidRefresh
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
	return s.endSessions(ctx, v.UserID, only, RevokedLogout, audit.Entry{Action: audit.LoggedOut, Target: &v.UserID,
		Details: map[string]any{"sessionId": sess.ID.String(), "everywhere": everywhere}})
}
