package graph

import (
	"context"
	"fmt"
	"slices"
	"unicode/utf8"

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
			if _, err := auth.SignedIn(ctx); err != nil {
				return nil, err
			}
			return next(ctx)
		},
		// A B2B admin acts as B2B_ADMIN only once approved (auth.Viewer.ActsAs).
		HasRole: func(ctx context.Context, _ any, next graphql.Resolver, roles []auth.Role) (any, error) {
			v, err := auth.SignedIn(ctx)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(roles, v.ActsAs) {
				return nil, apperr.ErrForbidden
			}
			return next(ctx)
		},
		MaxLength: func(ctx context.Context, _ any, next graphql.Resolver, max int) (any, error) {
			v, err := next(ctx)
			if err != nil {
				return v, err
			}
			s, ok := v.(string)
			if p, isPtr := v.(*string); isPtr && p != nil {
				s, ok = *p, true
			}
			if ok && utf8.RuneCountInString(s) > max {
				return nil, apperr.New(apperr.BadRequest, fmt.Sprintf("Request refused: %s is longer than %d characters.", graphql.GetPath(ctx), max))
			}
			return v, nil
		},
		// Cost is priced by the request limits before anything runs (graph/limits).
		Cost: func(ctx context.Context, _ any, next graphql.Resolver, _ int, _ bool) (any, error) { return next(ctx) },
		Private: func(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
			u, isUser := obj.(*account.User)
			if !isUser {
				return nil, apperr.ErrForbidden
			}
			if err := maySeePrivate(ctx, u); err != nil {
				return nil, err
			}
			return next(ctx)
		},
	}
}
