package account

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
)

// Purpose binds a one-time token to one flow: a reset token cannot set up a
// password, and the other way round.
type Purpose string

// The purposes. How long their tokens live is Config.Links (SETUP_LINK_TTL,
// RESET_LINK_TTL).
const (
	PurposePasswordSetup Purpose = "PASSWORD_SETUP"
	PurposePasswordReset Purpose = "PASSWORD_RESET"
	PurposeEmailVerify   Purpose = "EMAIL_VERIFY"
)

func (s *Service) tokenTTL(p Purpose) time.Duration {
	switch p {
	case PurposePasswordSetup:
		return s.policy.Links.Setup
	case PurposeEmailVerify:
		return s.policy.Links.Verify
	}
	return s.policy.Links.Reset
}

// oneTimeToken is the stored hash of an emailed token.
type oneTimeToken struct {
	bun.BaseModel `bun:"table:one_time_tokens"`

	TokenHash string     `bun:"token_hash,pk"`
	UserID    uuid.UUID  `bun:"user_id,type:uuid"`
	Purpose   Purpose    `bun:"purpose"`
	CreatedAt time.Time  `bun:"created_at"`
	ExpiresAt time.Time  `bun:"expires_at"`
	UsedAt    *time.Time `bun:"used_at"`
}

// issueTokens creates one token of purpose for each user inside tx and voids
// their older unused tokens of the same purpose. It returns the tokens in
// the order of userIDs; only their hashes are stored.
func (s *Service) issueTokens(ctx context.Context, tx bun.IDB, purpose Purpose, userIDs ...uuid.UUID) ([]string, error) {
	now := s.now()
	if _, err := tx.NewUpdate().Model((*oneTimeToken)(nil)).Set("used_at = ?", now).
		Where("user_id IN (?) AND purpose = ? AND used_at IS NULL", bun.List(userIDs), purpose).Exec(ctx); err != nil {
		return nil, err
	}
	tokens := make([]string, len(userIDs))
	rows := make([]oneTimeToken, len(userIDs))
	for i, id := range userIDs {
		tokens[i] = auth.NewOpaqueToken()
		rows[i] = oneTimeToken{
			TokenHash: auth.HashToken(tokens[i]), UserID: id, Purpose: purpose,
			CreatedAt: now, ExpiresAt: now.Add(s.tokenTTL(purpose)),
		}
	}
	_, err := tx.NewInsert().Model(&rows).Exec(ctx)
	return tokens, err
}

var errBadOneTimeToken = apperr.OnField("token", apperr.InvalidToken, "This link is invalid or has expired. Ask for a new one.")

// tokenUser returns the active user a valid, unspent token of purpose
// belongs to, without spending it, so the new password can be checked
// against the user's attributes before the token is used up.
func (s *Service) tokenUser(ctx context.Context, purpose Purpose, token string) (*User, error) {
	u := new(User)
	err := s.db.NewSelect().Model(u).
		Join("JOIN one_time_tokens AS t ON t.user_id = u.id").
		Where("t.token_hash = ? AND t.purpose = ? AND t.used_at IS NULL AND t.expires_at > ?",
			auth.HashToken(token), purpose, s.now()).
		Where("u.is_active").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.List{errBadOneTimeToken}
	}
	return u, err
}

// consumeToken spends u's token of purpose inside tx. The conditional
// update makes a token usable once even under concurrent use; a token spent
// or voided since tokenUser read it is INVALID_TOKEN.
func (s *Service) consumeToken(ctx context.Context, tx bun.IDB, u *User, purpose Purpose, token string) error {
	now := s.now()
	res, err := tx.NewUpdate().Model((*oneTimeToken)(nil)).Set("used_at = ?", now).
		Where("token_hash = ? AND user_id = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
			auth.HashToken(token), u.ID, purpose, now).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return apperr.List{errBadOneTimeToken}
	}
	return nil
}
