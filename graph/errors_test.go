package graph

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

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
