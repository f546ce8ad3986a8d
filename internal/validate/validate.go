// Package validate checks input structs with go-playground/validator and
// reports problems as coded field errors named after the GraphQL input field
// (the struct's json tag).
package validate

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/usergraph/usergraph/internal/apperr"
)

// MobilePattern is the mobile number format: optional + then 9 to 15 digits.
var MobilePattern = regexp.MustCompile(`^\+?[0-9]{9,15}$`)

var v = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		return strings.SplitN(f.Tag.Get("json"), ",", 2)[0]
	})
	_ = v.RegisterValidation("mobile", func(fl validator.FieldLevel) bool {
		return MobilePattern.MatchString(fl.Field().String())
	})
	return v
}()

// Struct validates in and returns every problem, or nil.
func Struct(in any) apperr.List {
	err := v.Struct(in)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		if err != nil {
			return apperr.List{apperr.New(apperr.Invalid, err.Error())}
		}
		return nil
	}
	list := make(apperr.List, 0, len(verrs))
	for _, fe := range verrs {
		list = append(list, fieldError(fe))
	}
	return list
}

func fieldError(fe validator.FieldError) *apperr.Error {
	// Namespace is "Struct.field[2].sub"; drop the struct name for the field path.
	path := strings.Split(fe.Namespace(), ".")[1:]
	var parts []string
	for _, p := range path {
		name, index, found := strings.Cut(p, "[")
		parts = append(parts, name)
		if found {
			parts = append(parts, strings.TrimSuffix(index, "]"))
		}
	}
	e := &apperr.Error{Field: parts}
	numeric := fe.Kind() == reflect.Int || fe.Kind() == reflect.Int64
	switch fe.Tag() {
	case "required":
		e.Code, e.Message = apperr.Required, "This field is required."
	case "max":
		e.Code, e.Message = apperr.TooLong, fmt.Sprintf("Ensure this field has no more than %s characters.", fe.Param())
		if numeric {
			e.Code, e.Message = apperr.Invalid, "Ensure this value is at most "+fe.Param()+"."
		}
	case "min":
		e.Code, e.Message = apperr.TooShort, fmt.Sprintf("Ensure this field has at least %s characters.", fe.Param())
		if numeric {
			e.Code, e.Message = apperr.Invalid, "Ensure this value is at least "+fe.Param()+"."
		}
	case "email":
		e.Code, e.Message = apperr.Invalid, "Enter a valid email address."
	case "mobile":
		e.Code, e.Message = apperr.Invalid, "Enter a valid mobile number: optional + then 9 to 15 digits."
	default:
		e.Code, e.Message = apperr.Invalid, "Enter a valid value."
	}
	return e
}
