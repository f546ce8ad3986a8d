package limits

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// defaults are the limits of .env.example.
var defaults = Limits{Tokens: 15000, Fields: 500, Depth: 15, Aliases: 15, Complexity: 5000, Mutations: 3}

// schema is the API's schema, read from schema.graphqls.
var schema = func() *ast.Schema {
	sdl, err := os.ReadFile("../../schema.graphqls")
	if err != nil {
		panic(err)
	}
	return gqlparser.MustLoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(sdl)})
}()

func check(t testing.TB, l Limits, query string, vars map[string]any) *gqlerror.Error {
	t.Helper()
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.Tokens)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return l.Check(doc, schema, "", vars)
}

// fragmentBomb is a query of n fragments, each spreading the one before
// twice: about 50 bytes a level, and 2^n fields once expanded.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString("query { me { ...F0 } }\nfragment F0 on User { id }\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "fragment F%d on User { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	// The query spreads the last fragment.
	return strings.Replace(b.String(), "...F0 } }", fmt.Sprintf("...F%d } }", n-1), 1)
}

func TestRefusals(t *testing.T) {
	repeated := "{ me { " + strings.Repeat("id ", 10000) + "} }"
	cases := []struct {
		name, query string
		vars        map[string]any
		limits      Limits
		want        string // a part of the refusal's message; "" means accepted
	}{
		{"fragment bomb, 28 levels", fragmentBomb(28), nil, defaults, "GRAPHQL_MAX_FIELDS"},
		{"fragment bomb, 60 levels (counts saturate)", fragmentBomb(60), nil, defaults, "GRAPHQL_MAX_FIELDS"},
		{"small fragment tree", fragmentBomb(5), nil, defaults, ""},
		{"myData once", "{ myData }", nil, defaults, ""},
		{"myData twice under aliases", "{ a: myData b: myData }", nil, defaults, "myData 2 times"},
		{"myData twice through a fragment", "{ myData ...F } fragment F on Query { myData }", nil, defaults, "myData 2 times"},
		{"myData priced by its weight", "{ myData }", nil, Limits{Tokens: 100, Fields: 10, Depth: 5, Aliases: 1, Complexity: 999, Mutations: 1}, "complexity is 1000"},
		{"one field repeated 10,000 times", repeated, nil, defaults, "GRAPHQL_MAX_FIELDS"},
		{"unused fragment of 600 fields", "{ me { id } } fragment Big on User { " + strings.Repeat("id ", 600) + "}", nil, defaults, "fragment Big selects 600 fields"},
		{"fragment cycle", "{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }", nil, defaults, "spreads itself"},
		{"two __schema", "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }", nil, defaults, "__schema or __type 2 times"},
		{"__schema and __type", `{ __schema { queryType { name } } __type(name: "User") { name } }`, nil, defaults, "__schema or __type 2 times"},
		{"aliases count introspection", "{ me { " + aliases("__typename", 16) + " } }", nil, defaults, "GRAPHQL_MAX_ALIASES"},
		{"depth counts introspection", `{ __type(name: "User") { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } } }`, nil, defaults, "17 levels deep"},
		{"first multiplies", "{ users(first: 100) { edges { node { batch { users(first: 100) { edges { node { id } } } } } } } }", nil, defaults, "GRAPHQL_MAX_COMPLEXITY"},
		{"first from a variable", "query($n: Int) { users(first: $n) { edges { node { batch { users(first: $n) { edges { node { id } } } } } } } }", map[string]any{"n": 100}, defaults, "complexity is 30401"},
		{"first from a variable's default", "query($n: Int = 3) { users(first: $n) { edges { node { id } } } }", nil, defaults, ""},
		{"first from the argument's default (20)", "{ users { edges { node { batch { users { edges { node { id } } } } } } } }", nil, defaults, ""},
		{"a huge first", "{ users(first: 99999999999999) { edges { node { id } } } }", nil, defaults, "GRAPHQL_MAX_COMPLEXITY"},
		{"a page of 100 users", "{ users(first: 100) { totalCount edges { cursor node { id email firstName lastName mobile role isActive isVerified isApproved dateJoined lastLogin } } } }", nil, defaults, ""},
		{"four mutations", "mutation { a: logout(input: {}) { errors { code } } b: logout(input: {}) { errors { code } } c: logout(input: {}) { errors { code } } d: logout(input: {}) { errors { code } } }", nil, defaults, "GRAPHQL_MAX_MUTATIONS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := check(t, tc.limits, tc.query, tc.vars)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("accepted, want a refusal naming %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Message, tc.want):
				t.Errorf("refusal %q does not name %q", err.Message, tc.want)
			case err != nil && err.Extensions["code"] != "BAD_REQUEST":
				t.Errorf("code = %v, want BAD_REQUEST", err.Extensions["code"])
			}
		})
	}
}

func aliases(field string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("a%d: %s", i, field)
	}
	return strings.Join(parts, " ")
}

// The introspection query of graphql-js 16 with every option on, as GraphiQL
// sends it, fits the default limits: the playground must work.
func TestStandardIntrospectionFits(t *testing.T) {
	query, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	doc, perr := parser.ParseQueryWithTokenLimit(&ast.Source{Input: string(query)}, defaults.Tokens)
	if perr != nil {
		t.Fatal(perr)
	}
	m := &meter{schema: schema, fragments: doc.Fragments, op: doc.Operations[0], memo: map[string]*measure{}}
	got, gerr := m.selectionSet(schema.Query, doc.Operations[0].SelectionSet)
	if gerr != nil {
		t.Fatal(gerr)
	}
	t.Logf("introspection: %d fields, depth %d, complexity %d", got.fields, got.depth, got.cost)
	if got.depth != 15 || got.fields < 200 {
		t.Errorf("measure = %+v; the query is 15 levels deep and selects over 200 fields", got)
	}
	if err := defaults.Check(doc, schema, "IntrospectionQuery", nil); err != nil {
		t.Errorf("refused: %v", err)
	}
	tighter := defaults
	tighter.Depth = 14
	if err := tighter.Check(doc, schema, "IntrospectionQuery", nil); err == nil {
		t.Error("accepted with a depth limit of 14")
	}
}

// The token limit stops the parser itself (abuse_test.go's
// TestTheTokenLimitIsTheSetting holds the server to GRAPHQL_MAX_TOKENS).
func TestParserStopsAtTheTokenLimit(t *testing.T) {
	_, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: "{ me { " + strings.Repeat("id ", 20000) + "} }"}, defaults.Tokens)
	if err == nil || !strings.Contains(err.Error(), "token limit") {
		t.Errorf("parse of 20,000 tokens: %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, seed := range []string{
		fragmentBomb(8),
		"{ me { id email wallet { balance transactions(first: 5) { edges { node { amount } } } } } }",
		"query($n: Int) { users(first: $n) { totalCount } }",
		"{ __schema { types { name fields { name type { name ofType { name } } } } } }",
		"mutation { login(input: {email: \"a@b.c\", password: \"x\"}) { accessToken errors { code } } }",
		"{ me { ...A } } fragment A on User { ...A }",
		"{ a: me { id } b: me { ... on User { id } } }",
	} {
		f.Add(seed, int64(50))
	}
	f.Fuzz(func(t *testing.T, query string, first int64) {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, 2000)
		if err != nil {
			return
		}
		small := Limits{Tokens: 2000, Fields: 50, Depth: 8, Aliases: 5, Complexity: 500, Mutations: 2}
		got := small.Check(doc, schema, "", map[string]any{"n": first, "first": first})
		if got != nil && (got.Extensions["code"] != "BAD_REQUEST" || !strings.HasPrefix(got.Message, "Request refused: ")) {
			t.Errorf("refusal without BAD_REQUEST: %v", got)
		}
		// Limits only refuse more when they are tighter.
		tighter := Limits{Tokens: 2000, Fields: 10, Depth: 3, Aliases: 1, Complexity: 50, Mutations: 1}
		if got != nil && tighter.Check(doc, schema, "", map[string]any{"n": first, "first": first}) == nil {
			t.Errorf("refused by the default limits (%v) but accepted by tighter ones", got)
		}
	})
}

// Parsing, measuring and validating are on every request's path that the
// query cache misses: a typical query, and the largest legitimate one
// (GraphiQL's introspection).
func BenchmarkCheck(b *testing.B) {
	introspection, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		b.Fatal(err)
	}
	for name, query := range map[string]string{
		"me":            "{ me { id email firstName lastName role wallet { balance } } }",
		"users page":    "query($n: Int) { users(first: $n) { totalCount edges { cursor node { id email createdBy { email } batch { name userCount } } } } }",
		"introspection": string(introspection),
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				doc, perr := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, defaults.Tokens)
				if perr != nil {
					b.Fatal(perr)
				}
				if err := defaults.Check(doc, schema, "", map[string]any{"n": 50}); err != nil {
					b.Fatal(err)
				}
				if errs := validator.Validate(schema, doc); len(errs) > 0 {
					b.Fatal(errs)
				}
			}
		})
	}
}
