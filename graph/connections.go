package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/graph/model"
	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/page"
	"github.com/usergraph/usergraph/internal/wallet"
)

func pageInfo[T any](p page.Page[T], args page.Args) *model.PageInfo {
	info := &model.PageInfo{HasNextPage: p.HasNext, HasPreviousPage: args.After != nil && *args.After != ""}
	if n := len(p.Cursors); n > 0 {
		info.StartCursor, info.EndCursor = &p.Cursors[0], &p.Cursors[n-1]
	}
	return info
}

func userConnection(p page.Page[*account.User], args page.Args) *model.UserConnection {
	c := &model.UserConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: make([]*model.UserEdge, len(p.Items))}
	for i, u := range p.Items {
		c.Edges[i] = &model.UserEdge{Cursor: p.Cursors[i], Node: u}
	}
	return c
}

func batchConnection(p page.Page[*batch.Batch], args page.Args) *model.BatchConnection {
	c := &model.BatchConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: make([]*model.BatchEdge, len(p.Items))}
	for i, b := range p.Items {
		c.Edges[i] = &model.BatchEdge{Cursor: p.Cursors[i], Node: b}
	}
	return c
}

func approvalConnection(p page.Page[*account.Approval], args page.Args) *model.ApprovalConnection {
	c := &model.ApprovalConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: make([]*model.ApprovalEdge, len(p.Items))}
	for i, a := range p.Items {
		c.Edges[i] = &model.ApprovalEdge{Cursor: p.Cursors[i], Node: a}
	}
	return c
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

// parseOptionalID is parseID for nullable ids.
func parseOptionalID(id *string, field string) (*uuid.UUID, error) {
	if id == nil {
		return nil, nil
	}
	u, err := parseID(*id, field)
	return &u, err
}

func emptyUserConnection() *model.UserConnection {
	return &model.UserConnection{Edges: []*model.UserEdge{}, PageInfo: &model.PageInfo{}}
}

// withID parses id (reporting a malformed one on field) and calls f with it.
func withID[T any](id, field string, f func(context.Context, uuid.UUID) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		uid, err := parseID(id, field)
		if err != nil {
			var zero T
			return zero, err
		}
		return f(ctx, uid)
	}
}

func transactionConnection(p page.Page[*wallet.Transaction], args page.Args) *model.WalletTransactionConnection {
	c := &model.WalletTransactionConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: make([]*model.WalletTransactionEdge, len(p.Items))}
	for i, t := range p.Items {
		c.Edges[i] = &model.WalletTransactionEdge{Cursor: p.Cursors[i], Node: t}
	}
	return c
}

func auditConnection(p page.Page[*audit.Event], args page.Args) *model.AuditEventConnection {
	c := &model.AuditEventConnection{PageInfo: pageInfo(p, args), TotalCount: p.Total, Edges: make([]*model.AuditEventEdge, len(p.Items))}
	for i, e := range p.Items {
		c.Edges[i] = &model.AuditEventEdge{Cursor: p.Cursors[i], Node: e}
	}
	return c
}
