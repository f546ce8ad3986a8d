// Package limits measures a GraphQL request before it runs and refuses the
// ones that would cost too much. Every check is linear in the size of the
// request: the query is parsed with a token limit, and each fragment is
// measured once and its measure reused wherever it is spread, so a request
// whose fragments spread each other twice at every level costs no more to
// measure than its text is long.
//
// The structural checks (fields, depth, aliases, introspection roots) run
// before gqlgen validates the query, because validation itself costs time
// that grows with the square of a selection set; complexity runs then too,
// with the request's variables, so a query read from the parsed-query cache
// is still priced by the page sizes it asks for.
package limits

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Limits are the largest request usergraph runs. Each is a setting
// (GRAPHQL_MAX_*); zero values are not allowed.
type Limits struct {
	// Tokens bounds the parser: a query of more tokens is not parsed further.
	Tokens int
	// Fields bounds the fields selected, counted after fragments are
	// expanded, in each operation and fragment and in all operations of the
	// document together.
	Fields int
	// Depth bounds how deeply fields nest, introspection included.
	Depth int
	// Aliases bounds aliased fields after expansion (aliases would let one
	// request try login many times).
	Aliases int
	// Complexity bounds the estimated cost of the operation: each field
	// costs 1 (or the weight of its @cost directive), multiplied by the page
	// size (`first`, or its default) of every connection above it and by
	// ListFactor for every other list above it. A field whose @cost says
	// once may be selected once per operation.
	Complexity int
	// Mutations bounds the mutations one request runs.
	Mutations int
}

// ListFactor is what a list that is not a paged connection multiplies the
// cost of its items by. Such lists in the schema are short (payload errors,
// roles), or bounded by their input (bulk results).
const ListFactor = 10

// DefaultPageSize is the page size of a connection whose `first` is not given.
const DefaultPageSize = 20

// saturation keeps counts of exponentially expanding fragments finite.
const saturation = math.MaxInt32

func add(a, b int) int { return min(a+b, saturation) }

func mul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > saturation/b {
		return saturation
	}
	return a * b
}

// Extension enforces l in gqlgen. cache is the server's parsed-query cache:
// a query found there was measured before it was stored, so it is not
// parsed again here.
func (l Limits) Extension(cache graphql.Cache[*ast.QueryDocument]) graphql.HandlerExtension {
	return &extension{limits: l, cache: cache}
}

type extension struct {
	limits Limits
	cache  graphql.Cache[*ast.QueryDocument]
	schema *ast.Schema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = &extension{}

func (*extension) ExtensionName() string { return "RequestLimits" }

func (e *extension) Validate(s graphql.ExecutableSchema) error {
	e.schema = s.Schema()
	return nil
}

func (e *extension) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	doc, cached := e.cache.Get(ctx, p.Query)
	if !cached {
		var err error
		doc, err = parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, e.limits.Tokens)
		if err != nil {
			if strings.Contains(err.Error(), "token limit") {
				return refusal("the query has more than %d tokens (GRAPHQL_MAX_TOKENS)", e.limits.Tokens)
			}
			return nil // gqlgen parses again and reports the syntax error where it is
		}
	}
	return e.limits.Check(doc, e.schema, p.OperationName, p.Variables)
}

// Check measures doc and refuses it, with a BAD_REQUEST error that names
// the limit, when any limit is exceeded. Fields of doc that schema does not
// have are left for validation to report.
func (l Limits) Check(doc *ast.QueryDocument, schema *ast.Schema, operationName string, vars map[string]any) *gqlerror.Error {
	m := &meter{schema: schema, fragments: doc.Fragments, vars: vars, memo: map[string]*measure{}}
	total := 0
	var chosen *ast.OperationDefinition
	var chosenMeasure measure
	for _, op := range doc.Operations {
		m.op = op
		clear(m.memo) // variables (and their defaults) belong to one operation
		got, err := m.selectionSet(rootType(schema, op.Operation), op.SelectionSet)
		if err != nil {
			return err
		}
		if e := l.shape(got, "operation"); e != nil {
			return e
		}
		total = add(total, got.fields)
		if operationName == "" && chosen == nil || op.Name == operationName {
			chosen, chosenMeasure = op, got
		}
	}
	if total > l.Fields {
		return refusal("the document selects %s fields; at most %d are allowed (GRAPHQL_MAX_FIELDS)", count(total), l.Fields)
	}
	m.op = nil
	clear(m.memo)
	for _, f := range doc.Fragments {
		got, err := m.fragment(f)
		if err != nil {
			return err
		}
		if e := l.shape(got, "fragment "+f.Name); e != nil {
			return e
		}
	}
	if chosen == nil {
		return nil // gqlgen reports the unknown operation
	}
	switch {
	case chosenMeasure.introspectionRoots > 1:
		return refusal("the operation asks for __schema or __type %s times; at most once is allowed", count(chosenMeasure.introspectionRoots))
	case chosenMeasure.repeatedOnce() != "":
		name := chosenMeasure.repeatedOnce()
		return refusal("the operation asks for %s %s times; at most once is allowed", name, count(chosenMeasure.once[name]))
	case chosenMeasure.cost > l.Complexity:
		return refusal("the operation's complexity is %s; at most %d is allowed (GRAPHQL_MAX_COMPLEXITY)", count(chosenMeasure.cost), l.Complexity)
	case chosen.Operation == ast.Mutation && chosenMeasure.rootFields > l.Mutations:
		return refusal("the request runs %s mutations; at most %d are allowed (GRAPHQL_MAX_MUTATIONS)", count(chosenMeasure.rootFields), l.Mutations)
	}
	return nil
}

// shape checks the limits that bound the cost of validating a selection.
func (l Limits) shape(m measure, what string) *gqlerror.Error {
	switch {
	case m.fields > l.Fields:
		return refusal("the %s selects %s fields; at most %d are allowed (GRAPHQL_MAX_FIELDS)", what, count(m.fields), l.Fields)
	case m.depth > l.Depth:
		return refusal("the %s is %s levels deep; at most %d are allowed (GRAPHQL_MAX_DEPTH)", what, count(m.depth), l.Depth)
	case m.aliases > l.Aliases:
		return refusal("the %s uses %s aliases; at most %d are allowed (GRAPHQL_MAX_ALIASES)", what, count(m.aliases), l.Aliases)
	}
	return nil
}

func count(n int) string {
	if n >= saturation {
		return "over " + strconv.Itoa(saturation)
	}
	return strconv.Itoa(n)
}

func refusal(format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "Request refused: " + fmt.Sprintf(format, args...) + ".",
		Extensions: map[string]any{"code": "BAD_REQUEST"},
	}
}

// measure is what a selection set costs, its fragments expanded.
type measure struct {
	fields, depth, aliases, cost int
	// introspectionRoots counts __schema and __type selections.
	introspectionRoots int
	// rootFields counts the fields of the set itself (mutations, at the root).
	rootFields int
	// once counts the selections of each field whose @cost says once.
	once map[string]int
}

// repeatedOnce names a field selected more than once that may be once only.
func (m measure) repeatedOnce() string {
	for name, n := range m.once {
		if n > 1 {
			return name
		}
	}
	return ""
}

// addOnce adds in's once-only selections to out's, times n.
func addOnce(out *measure, in map[string]int, n int) {
	for name, k := range in {
		if out.once == nil {
			out.once = map[string]int{}
		}
		out.once[name] = add(out.once[name], mul(k, n))
	}
}

// meter measures the selection sets of one document, each fragment once.
type meter struct {
	schema    *ast.Schema
	fragments ast.FragmentDefinitionList
	op        *ast.OperationDefinition
	vars      map[string]any
	memo      map[string]*measure // nil value: being measured (a cycle)
}

func rootType(s *ast.Schema, op ast.Operation) *ast.Definition {
	if s == nil {
		return nil
	}
	switch op {
	case ast.Mutation:
		return s.Mutation
	case ast.Subscription:
		return s.Subscription
	}
	return s.Query
}

func (m *meter) typeNamed(name string) *ast.Definition {
	if m.schema == nil {
		return nil
	}
	return m.schema.Types[name]
}

func (m *meter) fragment(f *ast.FragmentDefinition) (measure, *gqlerror.Error) {
	if got, ok := m.memo[f.Name]; ok {
		if got == nil {
			return measure{}, refusal("fragment %s spreads itself", f.Name)
		}
		return *got, nil
	}
	m.memo[f.Name] = nil
	got, err := m.selectionSet(m.typeNamed(f.TypeCondition), f.SelectionSet)
	if err != nil {
		return measure{}, err
	}
	m.memo[f.Name] = &got
	return got, nil
}

func (m *meter) selectionSet(parent *ast.Definition, set ast.SelectionSet) (measure, *gqlerror.Error) {
	var out measure
	merge := func(in measure) {
		out.fields = add(out.fields, in.fields)
		out.depth = max(out.depth, in.depth)
		out.aliases = add(out.aliases, in.aliases)
		out.cost = add(out.cost, in.cost)
		out.introspectionRoots = add(out.introspectionRoots, in.introspectionRoots)
		out.rootFields = add(out.rootFields, in.rootFields)
		addOnce(&out, in.once, 1)
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			got, err := m.field(parent, s)
			if err != nil {
				return out, err
			}
			merge(got)
		case *ast.InlineFragment:
			typ := parent
			if s.TypeCondition != "" {
				typ = m.typeNamed(s.TypeCondition)
			}
			got, err := m.selectionSet(typ, s.SelectionSet)
			if err != nil {
				return out, err
			}
			merge(got)
		case *ast.FragmentSpread:
			f := m.fragments.ForName(s.Name)
			if f == nil {
				continue // validation reports the unknown fragment
			}
			got, err := m.fragment(f)
			if err != nil {
				return out, err
			}
			merge(got)
		}
	}
	return out, nil
}

// field measures one field and what it selects.
func (m *meter) field(parent *ast.Definition, f *ast.Field) (measure, *gqlerror.Error) {
	var def *ast.FieldDefinition
	if parent != nil {
		def = parent.Fields.ForName(f.Name)
	}
	var child *ast.Definition
	if def != nil {
		child = m.typeNamed(def.Type.Name())
	}
	sub, err := m.selectionSet(child, f.SelectionSet)
	if err != nil {
		return measure{}, err
	}
	weight, once := fieldCost(def)
	out := measure{
		fields:             add(sub.fields, 1),
		depth:              add(sub.depth, 1),
		aliases:            sub.aliases,
		cost:               add(weight, mul(m.multiplier(parent, def, f), sub.cost)),
		introspectionRoots: sub.introspectionRoots,
		rootFields:         1,
	}
	addOnce(&out, sub.once, 1)
	if once {
		addOnce(&out, map[string]int{def.Name: 1}, 1)
	}
	if f.Alias != "" && f.Alias != f.Name {
		out.aliases = add(out.aliases, 1)
	}
	if f.Name == "__schema" || f.Name == "__type" {
		out.introspectionRoots = add(out.introspectionRoots, 1)
	}
	return out, nil
}

// fieldCost reads a field's @cost directive: its weight (1 without one),
// and whether it may be selected once only.
func fieldCost(def *ast.FieldDefinition) (weight int, once bool) {
	if def == nil {
		return 1, false
	}
	d := def.Directives.ForName("cost")
	if d == nil {
		return 1, false
	}
	weight = 1
	if a := d.Arguments.ForName("weight"); a != nil && a.Value != nil {
		weight, _ = atoi(a.Value.Raw)
	}
	if a := d.Arguments.ForName("once"); a != nil && a.Value != nil {
		once = a.Value.Raw == "true"
	}
	return weight, once
}

// multiplier is how many times a field's selection is expected to repeat:
// the page size of a connection, ListFactor for other lists, else 1.
// Introspection lists are bounded by the schema (and their nesting by
// validation's MaxIntrospectionDepth), so they count once.
func (m *meter) multiplier(parent *ast.Definition, def *ast.FieldDefinition, f *ast.Field) int {
	if def == nil || strings.HasPrefix(def.Type.Name(), "__") || parent != nil && strings.HasPrefix(parent.Name, "__") {
		return 1
	}
	if first := def.Arguments.ForName("first"); first != nil && strings.HasSuffix(def.Type.Name(), "Connection") {
		return m.pageSize(f, first)
	}
	if def.Type.Elem != nil && !(parent != nil && strings.HasSuffix(parent.Name, "Connection")) {
		return ListFactor // edges of a connection are priced by the connection
	}
	return 1
}

// pageSize is the value of a connection's `first`: a literal, a variable
// (or its default), or the argument's default.
func (m *meter) pageSize(f *ast.Field, arg *ast.ArgumentDefinition) int {
	n, ok := -1, false
	if a := f.Arguments.ForName("first"); a != nil && a.Value != nil {
		n, ok = m.intValue(a.Value)
	} else if arg.DefaultValue != nil {
		n, ok = m.intValue(arg.DefaultValue)
	}
	if !ok || n < 0 {
		return DefaultPageSize
	}
	return n
}

func (m *meter) intValue(v *ast.Value) (int, bool) {
	switch v.Kind {
	case ast.IntValue:
		return atoi(v.Raw)
	case ast.Variable:
		if raw, ok := m.vars[v.Raw]; ok {
			return number(raw)
		}
		if m.op != nil {
			if d := m.op.VariableDefinitions.ForName(v.Raw); d != nil && d.DefaultValue != nil && d.DefaultValue.Kind == ast.IntValue {
				return atoi(d.DefaultValue.Raw)
			}
		}
	}
	return 0, false
}

func atoi(s string) (int, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return saturation, true // too large for an Int: priced as huge
	}
	return int(min(max(n, -1), saturation)), true
}

// number reads a JSON-decoded variable value as an integer.
func number(v any) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		return atoi(x.String())
	case float64:
		return int(min(max(x, -1), saturation)), true
	case int:
		return min(max(x, -1), saturation), true
	case int64:
		return int(min(max(x, -1), saturation)), true
	}
	return 0, false
}
