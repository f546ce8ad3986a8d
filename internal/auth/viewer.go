// Package auth holds the cryptography and request identity of usergraph:
// password hashing and rules, signing keys, access tokens, opaque tokens, and
// the viewer (the signed-in caller) carried in a request's context.
package auth

import (
	"context"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/apperr"
)

// Viewer is the authenticated caller of a request, as the database says now
// (not as the token said when it was signed).
type Viewer struct {
	UserID    uuid.UUID
	Role      Role
	Approved  bool
	SessionID uuid.UUID
}

// IsAdmin reports whether the viewer is an administrator.
func (v Viewer) IsAdmin() bool { return v.Role == RoleAdmin }

// IsApprovedB2BAdmin reports whether the viewer may act as a B2B admin: a
// pending or rejected one may not.
func (v Viewer) IsApprovedB2BAdmin() bool { return v.Role == RoleB2BAdmin && v.Approved }

// Client describes where a request came from, for sessions, rate limits and
// audit. UserAgent is already cut to a bounded length.
type Client struct {
	IP        string
	UserAgent string
	// Origin is how the client reached this server (scheme://host), for
	// absolute URLs when PUBLIC_URL is not set.
	Origin string
}

type viewerKey struct{}
type clientKey struct{}

// WithViewer returns ctx carrying v.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFrom returns the signed-in caller, if any.
func ViewerFrom(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(Viewer)
	return v, ok
}

// WithClient returns ctx carrying c.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the request's client, or the zero Client.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}

type failureKey struct{}

// WithFailure returns ctx carrying why the request's credentials were
// refused (an invalid or expired token, an ended session): every operation
// of the request then fails with it, even those anyone may call.
func WithFailure(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, failureKey{}, err)
}

// FailureFrom returns the refusal WithFailure recorded, if any.
func FailureFrom(ctx context.Context) error {
	err, _ := ctx.Value(failureKey{}).(error)
	return err
}

// SignedIn returns the caller, or UNAUTHENTICATED when the request has none:
// the one viewer check every service uses.
func SignedIn(ctx context.Context) (Viewer, error) {
	v, ok := ViewerFrom(ctx)
	if !ok {
		return v, apperr.ErrUnauthenticated
	}
	return v, nil
}

// MaySeeUser is the rule of who may look up a user and read its private
// fields (email, mobile, wallet, sessions, createdBy, approval): an admin
// anyone, a user itself, an approved B2B admin the users it created.
// VisibleUsers is the same rule in SQL.
func (v Viewer) MaySeeUser(userID uuid.UUID, createdByID *uuid.UUID) bool {
	return v.IsAdmin() || userID == v.UserID || v.IsApprovedB2BAdmin() && createdByID != nil && *createdByID == v.UserID
}

// VisibleUsers is MaySeeUser as an SQL condition on the users-table column
// idColumn (for example "u.id" or "e.target_id"), with its arguments.
func (v Viewer) VisibleUsers(idColumn string) (string, []any) {
	switch {
	case v.IsAdmin():
		return "TRUE", nil
	case v.IsApprovedB2BAdmin():
		return "(" + idColumn + " = ? OR " + CreatedBy(idColumn) + ")", []any{v.UserID, v.UserID}
	}
	return idColumn + " = ?", []any{v.UserID}
}

// CreatedBy is an SQL condition: the user idColumn names was created by
// the user given as its one argument.
func CreatedBy(idColumn string) string {
	return idColumn + " IN (SELECT id FROM users WHERE created_by_id = ?)"
}
