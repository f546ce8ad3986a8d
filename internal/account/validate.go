package account

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
)

// validate checks input structs; field names in errors are the `json` tag,
// which is the GraphQL input field name.
var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		return strings.SplitN(f.Tag.Get("json"), ",", 2)[0]
	})
	_ = v.RegisterValidation("mobile", func(fl validator.FieldLevel) bool {
		return mobilePattern.MatchString(fl.Field().String())
	})
	return v
}()

// check validates in and returns every problem as coded field errors.
func check(in any) apperr.List {
	err := validate.Struct(in)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		if err != nil {
			return apperr.List{apperr.New(apperr.Invalid, err.Error())}
		}
		return nil
	}
	var list apperr.List
	for _, fe := range verrs {
		list = append(list, fieldError(fe))
	}
	return list
}

func fieldError(fe validator.FieldError) *apperr.Error {
	name := fe.Field()
	switch fe.Tag() {
	case "required":
		return apperr.OnField(name, apperr.Required, "This field is required.")
	case "max":
		return apperr.OnField(name, apperr.TooLong, fmt.Sprintf("Ensure this field has no more than %s characters.", fe.Param()))
	case "min":
		return apperr.OnField(name, apperr.TooShort, fmt.Sprintf("Ensure this field has at least %s characters.", fe.Param()))
	case "email":
		return apperr.OnField(name, apperr.Invalid, "Enter a valid email address.")
	case "mobile":
		return apperr.OnField(name, apperr.Invalid, "Enter a valid mobile number: optional + then 9 to 15 digits.")
	}
	return apperr.OnField(name, apperr.Invalid, "Enter a valid value.")
}

// checkNewPassword applies the password rules and the confirmation check,
// reporting problems on the given input field names.
func checkNewPassword(password, confirm, passwordField, confirmField string, attributes ...string) apperr.List {
	var list apperr.List
	for _, err := range auth.CheckPassword(password, attributes...) {
		code := apperr.Invalid
		switch err {
		case auth.ErrPasswordTooShort:
			code = apperr.TooShort
		case auth.ErrPasswordTooCommon:
			code = apperr.PasswordTooCommon
		case auth.ErrPasswordNumeric:
			code = apperr.PasswordEntirelyNumeric
		case auth.ErrPasswordTooSimilar:
			code = apperr.PasswordTooSimilar
		}
		list = append(list, apperr.OnField(passwordField, code, err.Error()))
	}
	if password != confirm {
		list = append(list, apperr.OnField(confirmField, apperr.PasswordMismatch, "The two password fields didn't match."))
	}
	return list
}

// trim trims every listed string in place; passwords are never trimmed.
func trim(fields ...*string) {
	for _, f := range fields {
		*f = strings.TrimSpace(*f)
	}
}
