package graph

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// Every type, field, argument, input field and enum value of the schema has
// a description: the playground's docs and generated frontend types show them.
func TestSchemaIsFullyDescribed(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	var missing []string
	for name, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		if def.Description == "" {
			missing = append(missing, "type "+name)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") { // introspection, added by the parser
				continue
			}
			if f.Description == "" {
				missing = append(missing, name+"."+f.Name)
			}
			for _, a := range f.Arguments {
				if a.Description == "" {
					missing = append(missing, name+"."+f.Name+"("+a.Name+")")
				}
			}
		}
		for _, v := range def.EnumValues {
			if v.Description == "" {
				missing = append(missing, name+"."+v.Name)
			}
		}
	}
	for name, d := range schema.Directives {
		if d.Position == nil || d.Position.Src.BuiltIn {
			continue
		}
		if d.Description == "" {
			missing = append(missing, "@"+name)
		}
		for _, a := range d.Arguments {
			if a.Description == "" {
				missing = append(missing, "@"+name+"("+a.Name+")")
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("undescribed in schema.graphqls: %s", strings.Join(missing, ", "))
	}
	if _, ok := schema.Types["Mutation"]; !ok || len(schema.Types["Mutation"].Fields) < 20 {
		t.Error("the schema did not load")
	}
}

// Every text a client sends (String and ID arguments and input fields) has
// a length bound (@maxLength), refused before anything counts, records or
// logs it.
func TestEveryTextInputIsBounded(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	var unbounded []string
	bounded := func(where string, typ *ast.Type, ds ast.DirectiveList) {
		if name := typ.Name(); (name == "String" || name == "ID") && ds.ForName("maxLength") == nil {
			unbounded = append(unbounded, where)
		}
	}
	for name, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if def.Kind == ast.InputObject {
				bounded(name+"."+f.Name, f.Type, f.Directives)
			}
			for _, a := range f.Arguments {
				bounded(name+"."+f.Name+"("+a.Name+")", a.Type, a.Directives)
			}
		}
	}
	if len(unbounded) > 0 {
		t.Errorf("text inputs without @maxLength: %s", strings.Join(unbounded, ", "))
	}
}
