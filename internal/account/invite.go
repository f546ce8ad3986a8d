package account

import (
	"context"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/mail"
)

// PersonInput is who is invited: the fields every invited account needs.
type PersonInput struct {
	Email     string `json:"email" validate:"required,max=254,mailbox"`
	Mobile    string `json:"mobile" validate:"required,mobile"`
	FirstName string `json:"firstName" validate:"required,max=150"`
	LastName  string `json:"lastName" validate:"required,max=150"`
}

func (p *PersonInput) trim() {
	trim(&p.Email, &p.Mobile, &p.FirstName, &p.LastName)
	normalizeMobile(&p.Mobile)
}

// newInvitee builds an account without a password, created by creator.
func (s *Service) newInvitee(p PersonInput, role auth.Role, creator uuid.UUID) *User {
	now := s.now()
	return &User{
		ID: uuid.New(), Email: p.Email, EmailKey: EmailKey(p.Email), Mobile: p.Mobile,
		FirstName: p.FirstName, LastName: p.LastName, Role: role,
		IsActive: true, IsApproved: !role.NeedsApproval(), CreatedByID: &creator,
		DateJoined: now, UpdatedAt: now,
	}
}

// invite inserts users (already checked) inside tx with one password-setup
// token and one setup email each: all of it commits together or not at all,
// so an account never exists without its email, nor an email without it.
func (s *Service) invite(ctx context.Context, tx bun.IDB, users []*User) error {
	if len(users) == 0 {
		return nil
	}
	if _, err := tx.NewInsert().Model(&users).Exec(ctx); err != nil {
		return uniqueToFieldErrors(err)
	}
	if err := s.created(ctx, tx, users...); err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	tokens, err := s.issueTokens(ctx, tx, PurposePasswordSetup, ids...)
	if err != nil {
		return err
	}
	msgs := make([]mail.Message, len(users))
	for i, u := range users {
		if msgs[i], err = s.mail.PasswordSetup(recipient(u), tokens[i]); err != nil {
			return err
		}
	}
	return s.enqueue(ctx, tx, msgs...)
}

// enqueue queues emails in tx and wakes the outbox worker once tx commits.
func (s *Service) enqueue(ctx context.Context, tx bun.IDB, msgs ...mail.Message) error {
	if err := s.outbox.Enqueue(ctx, tx, msgs...); err != nil {
		return err
	}
	db.AfterCommit(ctx, s.outbox.Notify)
	return nil
}
