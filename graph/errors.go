package graph

import (
	"context"
	"errors"
	"log/slog"
	"math"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/usergraph/usergraph/graph/model"
	"github.com/usergraph/usergraph/internal/apperr"
)

// userErrors splits a service error: user-correctable problems become payload
// errors (with field paths under "input"); anything else is returned as the
// resolver's error, which ErrorPresenter turns into a top-level error.
func userErrors(err error) ([]*model.UserError, error) {
	if err == nil {
		return []*model.UserError{}, nil
	}
	coded := apperr.Errors(err)
	if len(coded) == 0 || !apperr.IsUserCode(coded[0].Code) {
		return nil, topLevel(err)
	}
	out := make([]*model.UserError, len(coded))
	for i, e := range coded {
		var field []string
		if len(e.Field) > 0 {
			field = append([]string{"input"}, e.Field...)
		}
		out[i] = &model.UserError{Field: field, Code: e.Code, Message: e.Message}
	}
	return out, nil
}

// internalError marks an unexpected error from a service (database down, a
// bug): it is logged and shown only as INTERNAL.
type internalError struct{ err error }

func (e *internalError) Error() string { return e.err.Error() }
func (e *internalError) Unwrap() error { return e.err }

// topLevel returns a service error for a resolver to return as a top-level
// error: coded errors as they are, anything else marked internal.
func topLevel(err error) error {
	if err == nil || len(apperr.Errors(err)) > 0 {
		return err
	}
	return &internalError{err}
}

// ErrorPresenter gives every top-level error an extensions.code. Coded
// service errors keep their code and message; errors gqlgen raises itself
// while reading a request are BAD_REQUEST; unexpected errors are INTERNAL,
// logged, and shown without details.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var coded *apperr.Error
		if errors.As(err, &coded) {
			gqlErr.Message = coded.Message
			gqlErr.Extensions = map[string]any{"code": string(coded.Code)}
			if coded.RetryAfter > 0 {
				gqlErr.Extensions["retryAfter"] = int(math.Ceil(coded.RetryAfter.Seconds()))
			}
			return gqlErr
		}
		// The request's deadline passed (REQUEST_TIMEOUT) or its client left:
		// whatever failed then (a query cut off, a connection the driver
		// dropped) failed because the request ended.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
			gqlErr.Message = "The request took too long and was stopped."
			gqlErr.Extensions = map[string]any{"code": string(apperr.Timeout)}
			return gqlErr
		}
		var internal *internalError
		if errors.As(err, &internal) {
			log.ErrorContext(ctx, "internal error", "error", internal.Error(), "path", gqlErr.Path.String())
			gqlErr.Message = "Internal error."
			gqlErr.Extensions = map[string]any{"code": string(apperr.Internal)}
			return gqlErr
		}
		// Raised by gqlgen itself while reading the request: bad argument values and the like.
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		gqlErr.Extensions["code"] = string(apperr.BadRequest)
		return gqlErr
	}
}

// Recover turns a resolver panic into an INTERNAL error instead of a crash.
func Recover(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p)
		return apperr.New(apperr.Internal, "Internal error.")
	}
}
