package account

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/wallet"
)

var (
	errNoUser   = apperr.OnField("userId", apperr.NotFound, "No such user.")
	errYourself = apperr.OnField("userId", apperr.Invalid, "You cannot do this to your own account.")
)

// liveUser returns the user with id unless it does not exist or was
// erased: NOT_FOUND userId.
func (s *Service) liveUser(ctx context.Context, id uuid.UUID) (*User, error) {
	u := new(User)
	err := s.db.NewSelect().Model(u).Where("u.id = ? AND u.deleted_at IS NULL", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoUser
	}
	return u, err
}

// SetUserActive deactivates an account, ending every session at once, or
// reactivates it. Admins may do it to anyone but themselves, approved B2B
// admins to users they created; another caller learns nothing (NOT_FOUND).
//
// Errors: NOT_FOUND userId, INVALID userId (yourself), FORBIDDEN.
func (s *Service) SetUserActive(ctx context.Context, userID uuid.UUID, active bool) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !v.IsAdmin() && !v.IsApprovedB2BAdmin() {
		return nil, apperr.ErrForbidden
	}
	u, err := s.liveUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !v.IsAdmin() && (u.CreatedByID == nil || *u.CreatedByID != v.UserID) {
		return nil, errNoUser
	}
	if u.ID == v.UserID {
		return nil, errYourself
	}
	if u.IsActive == active {
		return u, nil
	}
	action := audit.UserReactivated
	if !active {
		action = audit.UserDeactivated
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		u.IsActive, u.UpdatedAt = active, s.now()
		if _, err := tx.NewUpdate().Model(u).Column("is_active", "updated_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		if !active {
			if err := s.revokeSessions(ctx, tx, u.ID, uuid.Nil, uuid.Nil, RevokedDeactivated); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: action, Actor: &v.UserID, Target: &u.ID})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// DeleteUser erases a user's personal data (see erase). Admins only, and
// not their own account (deleteMyAccount is for that).
//
// Errors: NOT_FOUND userId, INVALID userId (yourself), FORBIDDEN.
func (s *Service) DeleteUser(ctx context.Context, userID uuid.UUID) error {
	v, err := requireAdmin(ctx)
	if err != nil {
		return err
	}
	if userID == v.UserID {
		return errYourself
	}
	u, err := s.liveUser(ctx, userID)
	if err != nil {
		return err
	}
	return s.erase(ctx, u, v.UserID)
}

// DeleteMyAccount erases the caller's personal data after checking the
// password (guesses counted like changePassword's).
//
// Errors: INVALID_CREDENTIALS password, UNAUTHENTICATED, RateLimited.
func (s *Service) DeleteMyAccount(ctx context.Context, password string) error {
	u, err := s.confirmPassword(ctx, password)
	if err != nil {
		return err
	}
	return s.erase(ctx, u, u.ID)
}

// erase removes what identifies u (names, email, mobile, address, company,
// avatar, password, authenticator) and everything that signs it in
// (sessions, tokens), in one transaction. The row stays, deactivated and
// anonymised, so the ledger still adds up and the audit trail still says
// what happened to an account; the email inside audit details is replaced
// too, and unsent emails to the address are dropped. The email and mobile
// are free for a new account at once.
func (s *Service) erase(ctx context.Context, u *User, actor uuid.UUID) error {
	now := s.now()
	anon := "deleted-" + u.ID.String() + "@deleted.invalid"
	oldKey, oldEmail, avatar := u.EmailKey, u.Email, u.Avatar
	err := db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		*u = User{ID: u.ID, Email: anon, EmailKey: anon, Mobile: "deleted:" + u.ID.String(), Role: u.Role,
			CreatedByID: u.CreatedByID, BatchID: u.BatchID, IsApproved: u.IsApproved,
			DateJoined: u.DateJoined, UpdatedAt: now, DeletedAt: &now}
		if _, err := tx.NewUpdate().Model(u).WherePK().Exec(ctx); err != nil {
			return err
		}
		for _, q := range []*bun.DeleteQuery{
			tx.NewDelete().Model((*Session)(nil)).Where("user_id = ?", u.ID), // and their refresh tokens
			tx.NewDelete().Model((*oneTimeToken)(nil)).Where("user_id = ?", u.ID),
			tx.NewDelete().Table("mail_outbox").Where("recipient = ? AND status = 'PENDING'", oldEmail),
		} {
			if _, err := q.Exec(ctx); err != nil {
				return err
			}
		}
		if err := deleteMfa(ctx, tx, u.ID); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Table("audit_events").
			Set("details = replace(replace(details, ?, ?), ?, ?)", oldKey, anon, oldEmail, anon).
			Where("(actor_id = ? OR target_id = ?)", u.ID, u.ID).Exec(ctx); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.AccountDeleted, Actor: &actor, Target: &u.ID})
	})
	if err != nil {
		return err
	}
	if avatar != nil {
		if err := s.media.Delete(ctx, *avatar); err != nil {
			s.log.ErrorContext(ctx, "erase avatar", "user_id", u.ID, "error", err.Error())
		}
	}
	s.log.InfoContext(ctx, "account erased", "user_id", u.ID)
	return nil
}

// exportLimit bounds each list of MyData (a user's own records; far more
// than an account gathers).
const exportLimit = 10_000

// Export is everything usergraph holds about one user.
type Export struct {
	ExportedAt  time.Time       `json:"exportedAt"`
	Profile     exportProfile   `json:"profile"`
	Sessions    []exportSession `json:"sessions"`
	Wallet      *exportWallet   `json:"wallet"` // amounts in minor units (cents)
	Ledger      []exportEntry   `json:"ledger"`
	AuditEvents []exportEvent   `json:"auditEvents"`
}

type exportWallet struct {
	Balance  int64  `json:"balance"`
	Blocked  int64  `json:"blocked"`
	Currency string `json:"currency"`
}

type exportEntry struct {
	Seq           int64       `json:"seq"`
	Type          wallet.Type `json:"type"`
	Amount        int64       `json:"amount"`
	BalanceAfter  int64       `json:"balanceAfter"`
	BlockedAfter  int64       `json:"blockedAfter"`
	Description   string      `json:"description"`
	CreatedAt     time.Time   `json:"createdAt"`
	ByAnotherUser bool        `json:"byAnotherUser"`
}

type exportEvent struct {
	At        time.Time       `json:"at"`
	Action    audit.Action    `json:"action"`
	ByYou     bool            `json:"byYou"`
	AboutYou  bool            `json:"aboutYou"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"userAgent"`
	Details   json.RawMessage `json:"details"`
}

type exportProfile struct {
	ID          uuid.UUID  `json:"id"`
	Email       string     `json:"email"`
	Mobile      string     `json:"mobile"`
	FirstName   string     `json:"firstName"`
	LastName    string     `json:"lastName"`
	Role        auth.Role  `json:"role"`
	CompanyName *string    `json:"companyName"`
	Address     string     `json:"address"`
	City        string     `json:"city"`
	HasAvatar   bool       `json:"hasAvatar"`
	IsActive    bool       `json:"isActive"`
	IsVerified  bool       `json:"isVerified"`
	IsApproved  bool       `json:"isApproved"`
	MfaEnabled  bool       `json:"mfaEnabled"`
	CreatedByID *uuid.UUID `json:"createdById"`
	BatchID     *uuid.UUID `json:"batchId"`
	DateJoined  time.Time  `json:"dateJoined"`
	LastLogin   *time.Time `json:"lastLogin"`
}

type exportSession struct {
	ID           uuid.UUID  `json:"id"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastUsedAt   time.Time  `json:"lastUsedAt"`
	ExpiresAt    time.Time  `json:"expiresAt"`
	RevokedAt    *time.Time `json:"revokedAt"`
	RevokeReason *string    `json:"revokeReason"`
	UserAgent    string     `json:"userAgent"`
	IP           string     `json:"ip"`
}

// MyData returns everything held about the caller: profile, sessions
// (ended ones too, until retention purges them), wallet and ledger, and the
// audit events by or about them.
func (s *Service) MyData(ctx context.Context) (*Export, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	out := &Export{ExportedAt: s.now(), Profile: exportProfile{ID: u.ID, Email: u.Email, Mobile: u.Mobile,
		FirstName: u.FirstName, LastName: u.LastName, Role: u.Role, CompanyName: u.CompanyName, Address: u.Address,
		City: u.City, HasAvatar: u.Avatar != nil, IsActive: u.IsActive, IsVerified: u.IsVerified,
		IsApproved: u.IsApproved, MfaEnabled: u.MfaEnabled, CreatedByID: u.CreatedByID, BatchID: u.BatchID,
		DateJoined: u.DateJoined, LastLogin: u.LastLogin},
		Sessions: []exportSession{}, Ledger: []exportEntry{}, AuditEvents: []exportEvent{}}
	var sessions []Session
	if err := s.db.NewSelect().Model(&sessions).Where("user_id = ?", u.ID).Order("created_at DESC").Limit(exportLimit).Scan(ctx); err != nil {
		return nil, err
	}
	for _, x := range sessions {
		out.Sessions = append(out.Sessions, x.exported())
	}
	w := new(wallet.Wallet)
	switch err := s.db.NewSelect().Model(w).Where("user_id = ?", u.ID).Scan(ctx); {
	case err == nil:
		out.Wallet = &exportWallet{Balance: w.Balance, Blocked: w.Blocked, Currency: w.Currency}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	var ledger []wallet.Transaction
	if err := s.db.NewSelect().Model(&ledger).Where("user_id = ?", u.ID).Order("seq").Limit(exportLimit).Scan(ctx); err != nil {
		return nil, err
	}
	for _, t := range ledger {
		out.Ledger = append(out.Ledger, exportEntry{Seq: t.Seq, Type: t.Type, Amount: t.Amount, BalanceAfter: t.BalanceAfter,
			BlockedAfter: t.BlockedAfter, Description: t.Description, CreatedAt: t.CreatedAt,
			ByAnotherUser: t.ActorID != nil && *t.ActorID != u.ID})
	}
	var events []audit.Event
	if err := s.db.NewSelect().Model(&events).Where("actor_id = ? OR target_id = ?", u.ID, u.ID).
		Order("at", "id").Limit(exportLimit).Scan(ctx); err != nil {
		return nil, err
	}
	for _, e := range events {
		details := json.RawMessage(e.Details)
		if !json.Valid(details) {
			details = json.RawMessage("{}")
		}
		out.AuditEvents = append(out.AuditEvents, exportEvent{At: e.At, Action: e.Action,
			ByYou: e.ActorID != nil && *e.ActorID == u.ID, AboutYou: e.TargetID != nil && *e.TargetID == u.ID,
			IP: e.IP, UserAgent: e.UserAgent, Details: details})
	}
	return out, nil
}

func (x Session) exported() exportSession {
	return exportSession{ID: x.ID, CreatedAt: x.CreatedAt, LastUsedAt: x.LastUsedAt, ExpiresAt: x.ExpiresAt,
		RevokedAt: x.RevokedAt, RevokeReason: x.RevokeReason, UserAgent: x.UserAgent, IP: x.IP}
}
