package account

import (
	"context"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
)

// AdminInput describes an administrator created from the command line or
// the bootstrap settings.
type AdminInput struct {
	Email     string `json:"email" validate:"required,max=254,mailbox"`
	Mobile    string `json:"mobile" validate:"required,mobile"`
	FirstName string `json:"firstName" validate:"max=150"`
	LastName  string `json:"lastName" validate:"max=150"`
	Password  string `json:"password" validate:"required"`
}

// CreateAdmin creates an active, verified administrator. Only operators
// reach it (CLI and bootstrap settings); the GraphQL API cannot create admins.
// The password rules apply as everywhere else.
func (s *Service) CreateAdmin(ctx context.Context, in AdminInput) (*User, error) {
	trim(&in.Email, &in.Mobile, &in.FirstName, &in.LastName)
	normalizeMobile(&in.Mobile)
	rules := passwordRules(in.Password, in.Password, in.Email, in.FirstName, in.LastName)
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
		FirstName: in.FirstName, LastName: in.LastName, Role: auth.RoleAdmin,
		IsActive: true, IsVerified: true, IsApproved: true, PasswordHash: &hash,
		DateJoined: now, UpdatedAt: now,
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		return s.created(ctx, tx, u)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "administrator created", "user_id", u.ID)
	return u, nil
}

// EnsureBootstrapAdmin creates the admin described by in when no active
// administrator exists yet; it reports whether it created one.
func (s *Service) EnsureBootstrapAdmin(ctx context.Context, in AdminInput) (bool, error) {
	n, err := s.db.NewSelect().Model((*User)(nil)).
		Where("role = ? AND is_active", auth.RoleAdmin).Count(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	if _, err := s.CreateAdmin(ctx, in); err != nil {
		return false, err
	}
	return true, nil
}
