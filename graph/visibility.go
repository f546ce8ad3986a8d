package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
)

// maySeePrivate is the rule of @private for this request, the one every
// path to a user's private fields applies: the caller's capability
// (auth.Viewer.MaySeePrivate), and the users a sign-in mutation of this
// request returned, whose tokens the caller now holds although the request
// carried none. UNAUTHENTICATED or FORBIDDEN otherwise.
func maySeePrivate(ctx context.Context, u *account.User) error {
	if wasSignedIn(ctx, u.ID) {
		return nil
	}
	v, err := auth.SignedIn(ctx)
	if err == nil && !v.MaySeePrivate(u.ID, u.CreatedByID) {
		err = apperr.ErrForbidden
	}
	return err
}

// visibleUser loads a related user and applies the rule of user(id)
// (maySeePrivate): one the caller may not look up by id is null along every
// other path too (createdBy, actor, target, decidedBy).
func visibleUser(ctx context.Context, id *uuid.UUID) (*account.User, error) {
	u, err := load(ctx, loaders(ctx).UserByID, id)
	if err != nil || u == nil || maySeePrivate(ctx, u) == nil {
		return u, err
	}
	return nil, nil
}

// mayManage allows a batch's members and owner only to those who manage it
// (auth.Viewer.ManagesBatch): a B2B user sees its batch's name, not its people.
func mayManage(ctx context.Context, b *batch.Batch) error {
	_, err := auth.Require(ctx, func(v auth.Viewer) bool { return v.ManagesBatch(b.CreatedByID) })
	return err
}
