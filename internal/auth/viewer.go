// Package auth holds the cryptography and request identity of usergraph:
// password hashing and rules, signing keys, access tokens, opaque tokens, and
// the viewer (the signed-in caller) carried in a request's context.
package auth

import (
	"context"

	"github.com/google/uuid"
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
