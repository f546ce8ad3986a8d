package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/usergraph/usergraph/graph/model"
	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/page"
	"github.com/usergraph/usergraph/internal/wallet"
)

// pageArgs are a connection field's arguments; the list is counted only
// when the query selects totalCount (counting a million rows is the most
// expensive part of a page).
func pageArgs(ctx context.Context, first *int, after *string) page.Args {
	return page.Args{First: first, After: after, Count: slices.Contains(graphql.CollectAllFields(ctx), "totalCount")}
}

func pageInfo[T any](p page.Page[T], args page.Args) *model.PageInfo {
	info := &model.PageInfo{HasNextPage: p.HasNext, HasPreviousPage: args.After != nil && *args.After != ""}
	if n := len(p.Cursors); n > 0 {
		info.StartCursor, info.EndCursor = &p.Cursors[0], &p.Cursors[n-1]
	}
	return info
}

// edges builds a connection's edges from a page.
func edges[T, E any](p page.Page[T], edge func(cursor string, node T) E) []E {
	out := make([]E, len(p.Items))
	for i, item := range p.Items {
		out[i] = edge(p.Cursors[i], item)
	}
	return out
}

func userConnection(p page.Page[*account.User], args page.Args) *model.UserConnection {
	return &model.UserConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: edges(p,
		func(c string, n *account.User) *model.UserEdge { return &model.UserEdge{Cursor: c, Node: n} })}
}

func batchConnection(p page.Page[*batch.Batch], args page.Args) *model.BatchConnection {
	return &model.BatchConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: edges(p,
		func(c string, n *batch.Batch) *model.BatchEdge { return &model.BatchEdge{Cursor: c, Node: n} })}
}

func approvalConnection(p page.Page[*account.Approval], args page.Args) *model.ApprovalConnection {
	return &model.ApprovalConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: edges(p,
		func(c string, n *account.Approval) *model.ApprovalEdge {
			return &model.ApprovalEdge{Cursor: c, Node: n}
		})}
}

func transactionConnection(p page.Page[*wallet.Transaction], args page.Args) *model.WalletTransactionConnection {
	return &model.WalletTransactionConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: edges(p,
		func(c string, n *wallet.Transaction) *model.WalletTransactionEdge {
			return &model.WalletTransactionEdge{Cursor: c, Node: n}
		})}
}

func auditConnection(p page.Page[*audit.Event], args page.Args) *model.AuditEventConnection {
	return &model.AuditEventConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: edges(p,
		func(c string, n *audit.Event) *model.AuditEventEdge { return &model.AuditEventEdge{Cursor: c, Node: n} })}
}

// parseID reads an ID argument. A malformed id names nothing that exists, so
// it is reported like a missing record: NOT_FOUND on field.
func parseID(id, field string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, apperr.List{apperr.OnField(field, apperr.NotFound, "No record has this id.")}
	}
	return u, nil
}

// parseOptionalID is parseID for an optional id argument of a mutation.
func parseOptionalID(id *string, field string) (*uuid.UUID, error) {
	if id == nil {
		return nil, nil
	}
	u, err := parseID(*id, field)
	return &u, err
}

// filterID reads an id used as a list filter. A malformed id matches
// nothing, like an unknown one: it becomes uuid.Nil, which no row has.
func filterID(id *string) *uuid.UUID {
	if id == nil {
		return nil
	}
	u, err := uuid.Parse(*id)
	if err != nil {
		u = uuid.Nil
	}
	return &u
}
