package account

import (
	"context"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/auth"
)

// RegisterInput is a self-registration form. Field names (json tags) are the
// GraphQL input field names, so errors point at the right field.
type RegisterInput struct {
	Email           string `json:"email" validate:"required,max=254,mailbox"`
	Mobile          string `json:"mobile" validate:"required,mobile"`
	FirstName       string `json:"firstName" validate:"required,max=150"`
	LastName        string `json:"lastName" validate:"required,max=150"`
	Password        string `json:"password" validate:"required"`
	PasswordConfirm string `json:"passwordConfirm" validate:"required"`
}

// Register creates a B2C user, emails it a link to confirm its address, and
// signs it in (finishSignIn; when confirmed emails are required the SignIn
// has the user and no tokens).
//
// Errors: field errors (REQUIRED, INVALID, TOO_LONG, password rules,
// PASSWORD_MISMATCH, DUPLICATE) as apperr.List; RateLimited.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*SignIn, error) {
	if _, err := s.take(ctx, addressKey(ctx, "register"), s.limits.registerPerIP); err != nil {
		return nil, err
	}
	trim(&in.Email, &in.Mobile, &in.FirstName, &in.LastName)
	normalizeMobile(&in.Mobile)
	rules := passwordRules(in.Password, in.PasswordConfirm, in.Email, in.FirstName, in.LastName)
	if err := checkNewAccount(ctx, s.db, in, in.Email, in.Mobile, rules); err != nil {
		return nil, err
	}
	hash, err := s.passwords.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &User{
		ID: uuid.New(), Email: in.Email, EmailKey: EmailKey(in.Email), Mobile: in.Mobile,
		FirstName: in.FirstName, LastName: in.LastName, Role: auth.RoleB2CUser,
		IsActive: true, IsApproved: true, PasswordHash: &hash,
		DateJoined: now, UpdatedAt: now,
	}
	signedIn, err := s.finishSignIn(ctx, proof{user: u, method: MethodRegistration, signUp: true,
		writes: func(ctx context.Context, tx bun.Tx) error {
			if err := insertUser(ctx, tx, u); err != nil {
				return err
			}
			if err := s.created(ctx, tx, u); err != nil {
				return err
			}
			return s.sendVerification(ctx, tx, u)
		}})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", u.ID, "role", u.Role)
	return signedIn, nil
}
