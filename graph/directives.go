package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
)

// Directives implements the schema's access directives. They are the first
// gate; services check again.
func Directives() DirectiveRoot {
	return DirectiveRoot{
		Auth: func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
			if _, ok := auth.ViewerFrom(ctx); !ok {
				return nil, apperr.ErrUnauthenticated
			}
			return next(ctx)
		},
		HasRole: func(ctx context.Context, _ any, next graphql.Resolver, roles []account.Role) (any, error) {
			v, ok := auth.ViewerFrom(ctx)
			if !ok {
				return nil, apperr.ErrUnauthenticated
			}
			if !slices.Contains(roles, account.Role(v.Role)) {
				return nil, apperr.ErrForbidden
			}
			return next(ctx)
		},
	}
}
