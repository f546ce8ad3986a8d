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
	"github.com/usergraph/usergraph/internal/userdata"
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
	v, err := auth.Require(ctx, auth.Viewer.ManagesUsers)
	if err != nil {
		return nil, err
	}
	u, err := s.liveUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !v.ManagesUser(u.CreatedByID) {
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
	v, err := auth.Require(ctx, auth.Viewer.ManagesEveryUser)
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
// password (guesses counted like changePassword's). An account without a
// password (signed up with another provider) confirms by a fresh session
// instead: signed in within FreshSignIn.
//
// Errors: INVALID_CREDENTIALS or REQUIRED password, UNAUTHENTICATED,
// RateLimited.
func (s *Service) DeleteMyAccount(ctx context.Context, password string) error {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return err
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return err
	}
	if u.PasswordHash == nil {
		fresh, err := s.freshSession(ctx, v)
		if err != nil {
			return err
		}
		if !fresh {
			return apperr.List{apperr.OnField("password", apperr.Required,
				"Your account has no password: sign in again, then delete it within 5 minutes.")}
		}
	} else if u, err = s.confirmPassword(ctx, password); err != nil {
		return err
	}
	return s.erase(ctx, u, u.ID)
}

// erase removes what identifies u and everything that signs it in, as the
// UserData declarations say, in one transaction. The row stays,
// deactivated and anonymised, so the ledger still adds up and the audit
// trail still says what happened to an account.
func (s *Service) erase(ctx context.Context, u *User, actor uuid.UUID) error {
	p := userdata.Person{ID: u.ID, Email: u.Email, EmailKey: u.EmailKey,
		Anonymous: "deleted-" + u.ID.String() + "@deleted.invalid"}
	err := db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		for _, h := range s.UserData() {
			if err := h.EraseUser(ctx, tx, p); err != nil {
				return err
			}
		}
		if actor == u.ID { // erasing oneself: the event keeps no trace of where from
			ctx = auth.WithClient(ctx, auth.Client{})
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.AccountDeleted, Actor: &actor, Target: &u.ID})
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "account erased", "user_id", u.ID)
	return nil
}

// MyData returns everything held about the caller, as the UserData
// declarations export it: profile, sessions (ended ones too, until
// retention purges them), wallet and ledger, and the audit events by or
// about them. At most MY_DATA_PER_HOUR a user.
//
// Errors: UNAUTHENTICATED, RateLimited.
func (s *Service) MyData(ctx context.Context) (userdata.Export, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.take(ctx, counterOf("export", v.UserID), s.limits.exports); err != nil {
		return nil, err
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	p := userdata.Person{ID: u.ID, Email: u.Email, EmailKey: u.EmailKey}
	out := userdata.Export{"exportedAt": s.now()}
	for _, h := range s.UserData() {
		if err := h.ExportUser(ctx, s.db, p, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}
