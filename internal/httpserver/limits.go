package httpserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// queryLimits refuses operations that are too deep, use too many aliases, or
// run too many mutations at once. Aliases and mutation counts matter for
// security: without them one request could try login a hundred times.
// Introspection fields are not counted; their depth is fixed by the schema.
type queryLimits struct {
	maxDepth, maxAliases, maxMutations int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = queryLimits{}

func (queryLimits) ExtensionName() string                   { return "QueryLimits" }
func (queryLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l queryLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Operation
	depth, aliases := measure(op.SelectionSet, oc.Doc.Fragments, 0)
	switch {
	case depth > l.maxDepth:
		return limitError("the operation is %d levels deep; at most %d are allowed", depth, l.maxDepth)
	case aliases > l.maxAliases:
		return limitError("the operation uses %d aliases; at most %d are allowed", aliases, l.maxAliases)
	}
	if op.Operation == ast.Mutation {
		if n := len(graphql.CollectFields(oc, op.SelectionSet, nil)); n > l.maxMutations {
			return limitError("the request runs %d mutations; at most %d are allowed", n, l.maxMutations)
		}
	}
	return nil
}

// measure returns the depth of a selection set and the aliases used in it.
func measure(set ast.SelectionSet, fragments ast.FragmentDefinitionList, seen int) (depth, aliases int) {
	if seen > 64 { // fragment cycles are rejected by validation; this is a backstop
		return seen, 0
	}
	for _, sel := range set {
		var d, a int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			if s.Alias != "" && s.Alias != s.Name {
				a++
			}
			sub, subA := measure(s.SelectionSet, fragments, seen+1)
			d, a = sub+1, a+subA
		case *ast.InlineFragment:
			d, a = measure(s.SelectionSet, fragments, seen+1)
		case *ast.FragmentSpread:
			if f := fragments.ForName(s.Name); f != nil {
				d, a = measure(f.SelectionSet, fragments, seen+1)
			}
		}
		depth = max(depth, d)
		aliases += a
	}
	return depth, aliases
}

func limitError(format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "Request refused: " + fmt.Sprintf(format, args...) + ".",
		Extensions: map[string]any{"code": "BAD_REQUEST"},
	}
}
