package account

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/mail"
	"github.com/usergraph/usergraph/internal/page"
)

// CreateB2BAdminInput is the form of createB2BAdmin.
type CreateB2BAdminInput struct {
	PersonInput
	CompanyName string `json:"companyName" validate:"max=200"`
}

// CreateB2BAdmin creates a business customer's administrator: no password,
// a PENDING approval, and exactly one password-setup email, all in one
// transaction. Admins only.
//
// Errors: field errors (REQUIRED, INVALID, TOO_LONG, DUPLICATE), FORBIDDEN.
func (s *Service) CreateB2BAdmin(ctx context.Context, in CreateB2BAdminInput) (*User, error) {
	v, err := auth.Require(ctx, auth.Viewer.OnboardsB2BAdmins)
	if err != nil {
		return nil, err
	}
	in.trim()
	in.CompanyName = strings.TrimSpace(in.CompanyName)
	if err := checkNewAccount(ctx, s.db, in, in.Email, in.Mobile, nil); err != nil {
		return nil, err
	}
	u := s.newInvitee(in.PersonInput, auth.RoleB2BAdmin, v.UserID)
	if in.CompanyName != "" {
		u.CompanyName = &in.CompanyName
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.invite(ctx, tx, []*User{u}); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(&Approval{
			ID: uuid.New(), UserID: u.ID, Status: ApprovalPending, CreatedAt: s.now(),
		}).Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "B2B admin created", "user_id", u.ID, "actor_id", v.UserID)
	return u, nil
}

// ApprovalStatus is where a B2B admin's approval stands.
type ApprovalStatus string

// The approval statuses.
const (
	ApprovalPending  ApprovalStatus = "PENDING"
	ApprovalApproved ApprovalStatus = "APPROVED"
	ApprovalRejected ApprovalStatus = "REJECTED"
)

// Approval is the decision on one B2B admin.
type Approval struct {
	bun.BaseModel `bun:"table:approvals,alias:a"`

	ID              uuid.UUID      `bun:"id,pk,type:uuid"`
	UserID          uuid.UUID      `bun:"user_id,type:uuid"`
	Status          ApprovalStatus `bun:"status"`
	DecidedByID     *uuid.UUID     `bun:"decided_by_id,type:uuid"`
	DecidedAt       *time.Time     `bun:"decided_at"`
	RejectionReason *string        `bun:"rejection_reason"`
	CreatedAt       time.Time      `bun:"created_at"`
}

var errAlreadyDecided = apperr.List{apperr.OnField("userId", apperr.AlreadyDecided, "This B2B admin was already approved or rejected.")}

// ApproveB2BAdmin approves a pending B2B admin, records who decided and
// when, and emails the B2B admin. Admins only.
//
// Errors: NOT_FOUND (no B2B admin with that id), ALREADY_DECIDED, FORBIDDEN.
func (s *Service) ApproveB2BAdmin(ctx context.Context, userID uuid.UUID) (*Approval, error) {
	return s.decide(ctx, userID, ApprovalApproved, nil)
}

// RejectB2BAdmin rejects a pending B2B admin with a reason: the account is
// deactivated and its sessions end; the decision is recorded and emailed.
//
// Errors: REQUIRED reason, NOT_FOUND, ALREADY_DECIDED, FORBIDDEN.
func (s *Service) RejectB2BAdmin(ctx context.Context, userID uuid.UUID, reason string) (*Approval, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		if _, err := auth.Require(ctx, auth.Viewer.OnboardsB2BAdmins); err != nil {
			return nil, err
		}
		return nil, apperr.List{apperr.OnField("reason", apperr.Required, "Give the reason for the rejection.")}
	}
	if len(reason) > 2000 {
		return nil, apperr.List{apperr.OnField("reason", apperr.TooLong, "Ensure this field has no more than 2000 characters.")}
	}
	return s.decide(ctx, userID, ApprovalRejected, &reason)
}

func (s *Service) decide(ctx context.Context, userID uuid.UUID, status ApprovalStatus, reason *string) (*Approval, error) {
	v, err := auth.Require(ctx, auth.Viewer.OnboardsB2BAdmins)
	if err != nil {
		return nil, err
	}
	var a Approval
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		u := new(User)
		if err := tx.NewSelect().Model(u).Where("u.id = ? AND u.role = ?", userID, auth.RoleB2BAdmin).Scan(ctx); err != nil {
			return notFoundOr(err, "userId", "No such B2B admin.")
		}
		now := s.now()
		// Conditional on PENDING, so two admins deciding at once cannot both win.
		err := tx.NewUpdate().Model(&a).
			Set("status = ?", status).Set("decided_by_id = ?", v.UserID).Set("decided_at = ?", now).
			Set("rejection_reason = ?", reason).
			Where("user_id = ? AND status = ?", userID, ApprovalPending).Returning("*").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return errAlreadyDecided
		}
		if err != nil {
			return err
		}
		upd := tx.NewUpdate().Model(u).WherePK().Set("updated_at = ?", now)
		var msg mail.Message
		entry := audit.Entry{Action: audit.B2BAdminApproved, Target: &u.ID}
		if status == ApprovalApproved {
			upd = upd.Set("is_approved = ?", true)
			msg, err = s.mail.B2BAdminApproved(recipient(u))
		} else {
			upd = upd.Set("is_approved = ?", false).Set("is_active = ?", false)
			msg, err = s.mail.B2BAdminRejected(recipient(u), *reason)
			entry.Action, entry.Details = audit.B2BAdminRejected, map[string]any{"reason": *reason}
			if err == nil {
				err = s.revokeSessions(ctx, tx, u.ID, uuid.Nil, uuid.Nil, RevokedDeactivated)
			}
		}
		if err != nil {
			return err
		}
		if _, err := upd.Exec(ctx); err != nil {
			return err
		}
		if err := s.audit.Record(ctx, tx, entry); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, msg)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "B2B admin "+strings.ToLower(string(status)), "user_id", userID, "actor_id", v.UserID)
	return &a, nil
}

// Approvals lists approval records, newest first, optionally of one status.
// Admins only.
func (s *Service) Approvals(ctx context.Context, status *ApprovalStatus, args page.Args) (page.Page[*Approval], error) {
	if _, err := auth.Require(ctx, auth.Viewer.OnboardsB2BAdmins); err != nil {
		return page.Page[*Approval]{}, err
	}
	q := db.WhereSet(s.db.NewSelect().Model((*Approval)(nil)), "a.status = ?", status)
	return page.Load(ctx, q, page.Key{Expr: "a.created_at", Time: true, Desc: true}, args,
		func(a *Approval) (any, uuid.UUID) { return a.CreatedAt, a.ID })
}

// ApprovalsByUserIDs loads the approvals of the given users (for data loaders).
func (s *Service) ApprovalsByUserIDs(ctx context.Context, ids []uuid.UUID) ([]*Approval, error) {
	var out []*Approval
	err := s.db.NewSelect().Model(&out).Where("a.user_id IN (?)", bun.List(ids)).Scan(ctx)
	return out, err
}

// notFoundOr maps "no rows" to a NOT_FOUND error on field.
func notFoundOr(err error, field, message string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.List{apperr.OnField(field, apperr.NotFound, message)}
	}
	return err
}
