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

// Session is one sign-in of a user: a family of refresh tokens, each rotated
// on use. Access tokens carry the session id, so ending a session ends them.
type Session struct {
	bun.BaseModel `bun:"table:sessions"`

	ID           uuid.UUID  `bun:"id,pk,type:uuid"`
	UserID       uuid.UUID  `bun:"user_id,type:uuid"`
	CreatedAt    time.Time  `bun:"created_at"`
	LastUsedAt   time.Time  `bun:"last_used_at"`
	ExpiresAt    time.Time  `bun:"expires_at"`
	RevokedAt    *time.Time `bun:"revoked_at"`
	RevokeReason *string    `bun:"revoke_reason"`
	UserAgent    string     `bun:"user_agent"`
	IP           string     `bun:"ip"`
}

// refreshToken is the stored hash of one refresh token of a session.
type refreshToken struct {
	bun.BaseModel `bun:"table:refresh_tokens"`

	TokenHash string     `bun:"token_hash,pk"`
	SessionID uuid.UUID  `bun:"session_id,type:uuid"`
	CreatedAt time.Time  `bun:"created_at"`
	UsedAt    *time.Time `bun:"used_at"`
}

// Why sessions end, kept in sessions.revoke_reason.
const (
	RevokedLogout         = "logout"
	RevokedTokenReuse     = "refresh_token_reuse"
	RevokedPasswordChange = "password_changed"
	RevokedPasswordReset  = "password_reset"
	RevokedDeactivated    = "deactivated"
	RevokedByRequest      = "revoked"
	// RevokedPasswordGuesses: the session guessed the old password of
	// changePassword too often.
	RevokedPasswordGuesses = "password_guesses"
)

// SignIn is the result of every flow that signs a user in.
type SignIn struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int // seconds
	User         *User
	// MFAToken, instead of all the rest, when the password was right but
	// the account needs a code too (VerifyMfa).
	MFAToken string
}

// startSession creates a session for u inside tx and returns its first
// refresh token. The access token is signed by tokensFor after commit.
func (s *Service) startSession(ctx context.Context, tx bun.IDB, u *User) (*Session, string, error) {
	now := s.now()
	client := auth.ClientFrom(ctx)
	sess := &Session{
		ID: uuid.New(), UserID: u.ID, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(s.policy.RefreshTTL), UserAgent: client.UserAgent, IP: client.IP,
	}
	if _, err := tx.NewInsert().Model(sess).Exec(ctx); err != nil {
		return nil, "", err
	}
	token, err := s.addRefreshToken(ctx, tx, sess.ID)
	return sess, token, err
}

func (s *Service) addRefreshToken(ctx context.Context, tx bun.IDB, sessionID uuid.UUID) (string, error) {
	token := auth.NewOpaqueToken()
	return token, addRefreshTokenStmt.Exec(ctx, tx, auth.HashToken(token), sessionID, s.now())
}

var addRefreshTokenStmt = db.NewStmt(`INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)`)

// Authenticate turns verified access-token claims into the request's viewer
// and returns the request's context with it. It reads the session and the
// user on every request, in one query, so a revoked or expired session, or
// a deactivated user, is refused at once. The role comes from the database,
// not the token, so role changes apply immediately. The user row read stays
// with the request, so that `me` needs no second query.
func (s *Service) Authenticate(ctx context.Context, c auth.Claims) (context.Context, error) {
	u := new(User)
	err := authenticateStmt.Scan(ctx, s.db, []any{c.SessionID, c.UserID, s.now()}, u)
	if errors.Is(err, sql.ErrNoRows) {
		return ctx, apperr.ErrUnauthenticated
	}
	if err != nil {
		return ctx, err
	}
	ctx = auth.WithViewer(ctx, auth.Viewer{UserID: u.ID, Role: u.Role, Approved: u.IsApproved, SessionID: c.SessionID})
	return context.WithValue(ctx, signedInKey{}, u), nil
}

var authenticateStmt = db.NewStmt(`SELECT ` + db.Columns(User{}, "u") + ` FROM users AS u
JOIN sessions AS s ON s.id = ? AND s.user_id = u.id
WHERE u.id = ? AND u.is_active AND s.revoked_at IS NULL AND s.expires_at > ?`)

// signedInKey holds the caller's user row as Authenticate read it.
type signedInKey struct{}

// revokeSessions ends sessions of userID: all of them, or only id when id is
// not uuid.Nil, or all but the one in except when except is not uuid.Nil.
func (s *Service) revokeSessions(ctx context.Context, idb bun.IDB, userID, id, except uuid.UUID, reason string) error {
	q := idb.NewUpdate().Model((*Session)(nil)).
		Set("revoked_at = ?", s.now()).Set("revoke_reason = ?", reason).
		Where("user_id = ?", userID).Where("revoked_at IS NULL")
	if id != uuid.Nil {
		q = q.Where("id = ?", id)
	}
	if except != uuid.Nil {
		q = q.Where("id <> ?", except)
	}
	_, err := q.Exec(ctx)
	return err
}

// LiveSessions returns the sessions of each user that have not ended,
// newest first, in one query. It does not check who asks: callers check
// auth.Viewer.MaySeePrivate first.
func (s *Service) LiveSessions(ctx context.Context, userIDs []uuid.UUID) (map[uuid.UUID][]*Session, error) {
	var rows []*Session
	err := s.db.NewSelect().Model(&rows).
		Where("user_id IN (?) AND revoked_at IS NULL AND expires_at > ?", bun.List(userIDs), s.now()).
		Order("created_at DESC", "id DESC").Scan(ctx)
	out := make(map[uuid.UUID][]*Session, len(userIDs))
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], r)
	}
	return out, err
}

// RevokeSession ends one session at once: its access and refresh tokens stop
// working. Users end their own sessions; admins anyone's. Another user's
// session is NOT_FOUND to a non-admin.
func (s *Service) RevokeSession(ctx context.Context, id uuid.UUID) error {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return err
	}
	var sess Session
	err = s.db.NewSelect().Model(&sess).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && sess.UserID != v.UserID && !v.ManagesEveryUser()) {
		return apperr.List{apperr.OnField("id", apperr.NotFound, "No such session.")}
	}
	if err != nil {
		return err
	}
	return s.endSessions(ctx, sess.UserID, sess.ID, RevokedByRequest, audit.Entry{Action: audit.SessionRevoked,
		Target: &sess.UserID, Details: map[string]any{"sessionId": sess.ID.String()}})
}

// endSessions revokes the user's sessions (only that one, unless only is
// uuid.Nil) for reason and records e, in one transaction.
func (s *Service) endSessions(ctx context.Context, userID, only uuid.UUID, reason string, e audit.Entry) error {
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.revokeSessions(ctx, tx, userID, only, uuid.Nil, reason); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, e)
	})
}
