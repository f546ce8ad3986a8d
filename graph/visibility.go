package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
)

// visibleUser loads a related user and applies the rule of user(id)
// (auth.Viewer.MaySeeUser): one the caller may not look up by id is null
// along every other path too (createdBy, actor, target, decidedBy).
func visibleUser(ctx context.Context, id *uuid.UUID) (*account.User, error) {
	u, err := load(ctx, loaders(ctx).UserByID, id)
	if err != nil || u == nil || wasSignedIn(ctx, u.ID) {
		return u, err
	}
	if v, ok := auth.ViewerFrom(ctx); ok && account.CanSee(v, u) {
		return u, nil
	}
	return nil, nil
}

// mayManage allows a batch's members and owner only to those who manage it
// (batch.CanManage): a B2B user sees its batch's name, not its people.
func mayManage(ctx context.Context, b *batch.Batch) error {
	v, err := auth.SignedIn(ctx)
	if err == nil && !batch.CanManage(v, b) {
		err = apperr.ErrForbidden
	}
	return err
}
