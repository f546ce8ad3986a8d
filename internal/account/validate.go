package account

import (
	"strings"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/validate"
)

// check validates an input struct (see package validate).
func check(in any) apperr.List { return validate.Struct(in) }

// passwordRules checks a password given on a sign-up form. An empty one is
// already REQUIRED by the form's validation, so it adds nothing then.
func passwordRules(password, confirm string, attributes ...string) apperr.List {
	if password == "" {
		return nil
	}
	return checkNewPassword(password, confirm, "password", "passwordConfirm", attributes...)
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

// normalizeMobile writes a valid mobile number in its one E.164 form;
// an invalid one is left for validation to report.
func normalizeMobile(mobile *string) {
	if e164, ok := validate.Mobile(*mobile); ok {
		*mobile = e164
	}
}
