package account

import (
	"context"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/mail"
)

// The permission rules of accounts, in one place.

// CanSee reports whether v may look up u and read its private fields: the
// rule auth.Viewer.MaySeeUser, for a loaded user.
func CanSee(v auth.Viewer, u *User) bool { return v.MaySeeUser(u.ID, u.CreatedByID) }

func requireAdmin(ctx context.Context) (auth.Viewer, error) {
	v, err := auth.SignedIn(ctx)
	if err == nil && !v.IsAdmin() {
		err = apperr.ErrForbidden
	}
	return v, err
}

// requireApprovedB2BAdmin refuses pending and rejected B2B admins too.
func requireApprovedB2BAdmin(ctx context.Context) (auth.Viewer, error) {
	v, err := auth.SignedIn(ctx)
	if err == nil && !v.IsApprovedB2BAdmin() {
		err = apperr.ErrForbidden
	}
	return v, err
}

// recipient is how emails address u.
func recipient(u *User) mail.Recipient {
	r := mail.Recipient{Email: u.Email, Name: u.FullName()}
	if u.CompanyName != nil {
		r.Company = *u.CompanyName
	}
	return r
}
