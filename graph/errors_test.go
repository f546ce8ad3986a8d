package graph

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/usergraph/usergraph/internal/apperr"
)

// Every user-correctable code the services can return (the Code constants
// of internal/apperr) is a value of the schema's UserErrorCode, and every
// value of it is such a code: a payload error can always be written.
func TestEveryUserCodeIsInTheSchema(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "../internal/apperr/apperr.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	ast.Inspect(file, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok || spec.Type == nil || len(spec.Values) != 1 {
			return true
		}
		if id, ok := spec.Type.(*ast.Ident); ok && id.Name == "Code" {
			if lit, ok := spec.Values[0].(*ast.BasicLit); ok {
				v, _ := strconv.Unquote(lit.Value)
				if apperr.IsUserCode(apperr.Code(v)) {
					codes = append(codes, v)
				}
			}
		}
		return true
	})
	var inSchema []string
	for _, v := range NewExecutableSchema(Config{}).Schema().Types["UserErrorCode"].EnumValues {
		inSchema = append(inSchema, v.Name)
	}
	slices.Sort(codes)
	slices.Sort(inSchema)
	if len(codes) < 10 || !slices.Equal(codes, inSchema) {
		t.Errorf("user codes in internal/apperr %v\nUserErrorCode in the schema %v", codes, inSchema)
	}
}

func TestErrorMapping(t *testing.T) {
	// User-correctable codes become payload errors with paths under "input".
	payload, err := userErrors(apperr.List{apperr.OnField("email", apperr.Duplicate, "taken"), apperr.New(apperr.Invalid, "bad")})
	if err != nil || len(payload) != 2 || strings.Join(payload[0].Field, ".") != "input.email" || payload[0].Code != apperr.Duplicate || payload[1].Field != nil {
		t.Errorf("payload errors: %+v %v", payload, err)
	}
	if payload, err := userErrors(nil); err != nil || payload == nil || len(payload) != 0 {
		t.Errorf("no error: %+v %v, want an empty list", payload, err)
	}
	// Everything else is top-level, each with its code; internals never show.
	present := ErrorPresenter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	cases := []struct {
		name, code, message string
		err                 error
		retryAfter          any
	}{
		{"coded", "FORBIDDEN", "You are not allowed to do this.", apperr.ErrForbidden, nil},
		{"rate limited", "RATE_LIMITED", "slow down", &apperr.Error{Code: apperr.RateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, 2},
		{"internal", "INTERNAL", "Internal error.", topLevel(errors.New("pq: password authentication failed for user x")), nil},
		{"deadline", "TIMEOUT", "The request took too long and was stopped.", topLevel(fmt.Errorf("query: %w", context.DeadlineExceeded)), nil},
		{"raised by gqlgen", "BAD_REQUEST", "", gqlerror.Errorf("bad argument"), nil},
	}
	// Whatever fails after the request's context ended failed because it ended.
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if got := present(ended, topLevel(errors.New("driver: bad connection"))); got.Extensions["code"] != "TIMEOUT" {
		t.Errorf("an error after the request ended: %v, want TIMEOUT", got.Extensions)
	}
	for _, tc := range cases {
		got := present(ctx, tc.err)
		if got.Extensions["code"] != tc.code || (tc.message != "" && got.Message != tc.message) || got.Extensions["retryAfter"] != tc.retryAfter {
			t.Errorf("%s: %q %v", tc.name, got.Message, got.Extensions)
		}
	}
}
