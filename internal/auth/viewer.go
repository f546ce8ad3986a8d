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

// Client describes where a request came from, for sessions, rate limits and
// audit. UserAgent is already cut to a bounded length.
type Client struct {
	IP        string
	UserAgent string
	// Origin is this server's scheme://host for absolute URLs in answers:
	// PUBLIC_URL, else what a trusted proxy forwarded, else the address of
	// the socket the request reached; never a header a client writes.
	Origin string
	// OriginConfigured is true when Origin is PUBLIC_URL: answers built on
	// it are the same for everyone and may be cached publicly.
	OriginConfigured bool
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

// Require returns the caller when it has the capability can (a method of
// Viewer, such as Viewer.ManagesUsers); otherwise UNAUTHENTICATED for a
// request without one, FORBIDDEN for the rest.
func Require(ctx context.Context, can func(Viewer) bool) (Viewer, error) {
	v, err := SignedIn(ctx)
	if err == nil && !can(v) {
		err = apperr.ErrForbidden
	}
	return v, err
}
