package account

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
)

var errEmailNotVerified = apperr.New(apperr.EmailNotVerified,
	"Confirm your email address first: open the link we sent you, or ask for a new one.")

// sendVerification queues u's email-confirmation link inside tx; a new link
// voids the previous one.
func (s *Service) sendVerification(ctx context.Context, tx bun.IDB, u *User) error {
	tokens, err := s.issueTokens(ctx, tx, PurposeEmailVerify, u.ID)
	if err != nil {
		return err
	}
	msg, err := s.mail.EmailVerify(recipient(u), tokens[0])
	if err != nil {
		return err
	}
	return s.enqueue(ctx, tx, msg)
}

// VerifyEmail confirms the address of the user an emailed token was sent
// to. Uses count against the client's address before the token is looked
// up, like the password links.
//
// Errors: INVALID_TOKEN (payload), RateLimited.
func (s *Service) VerifyEmail(ctx context.Context, token string) (*User, error) {
	if _, err := s.take(ctx, addressKey(ctx, "token"), s.limits.tokenPerIP); err != nil {
		return nil, err
	}
	u, err := s.tokenUser(ctx, PurposeEmailVerify, token)
	if err != nil {
		return nil, err
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.consumeToken(ctx, tx, u, PurposeEmailVerify, token); err != nil {
			return err
		}
		u.IsVerified, u.UpdatedAt = true, s.now()
		if _, err := tx.NewUpdate().Model(u).Column("is_verified", "updated_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.EmailVerified, Actor: &u.ID, Target: &u.ID})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// ResendVerificationEmail sends the caller a new confirmation link, at most
// three an hour; an address confirmed already gets nothing, with the same
// answer. email, when given, must be the caller's current address.
//
// Errors: INVALID email, UNAUTHENTICATED, RateLimited.
func (s *Service) ResendVerificationEmail(ctx context.Context, email *string) error {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return err
	}
	if _, err := s.take(ctx, counterOf("verify", v.UserID), s.limits.verifyPerUser); err != nil {
		return err
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return err
	}
	if email != nil && EmailKey(*email) != u.EmailKey {
		return apperr.List{apperr.OnField("email", apperr.Invalid, "This is not your account's email address.")}
	}
	if u.IsVerified {
		return nil
	}
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		return s.sendVerification(ctx, tx, u)
	})
}
