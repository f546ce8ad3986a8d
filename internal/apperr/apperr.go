// Package apperr defines the coded errors that services return. A code says
// what went wrong in machine terms; the message is safe to show to users.
// graph.mapError turns user-correctable codes into payload UserErrors and the
// rest into top-level GraphQL errors with extensions.code.
package apperr

import (
	"errors"
	"strings"
	"time"
)

// Code is a machine-readable error code.
type Code string

// User-correctable codes: they go into a mutation payload's errors list.
const (
	Invalid                 Code = "INVALID"
	Required                Code = "REQUIRED"
	TooShort                Code = "TOO_SHORT"
	TooLong                 Code = "TOO_LONG"
	PasswordTooCommon       Code = "PASSWORD_TOO_COMMON"
	PasswordTooSimilar      Code = "PASSWORD_TOO_SIMILAR"
	PasswordEntirelyNumeric Code = "PASSWORD_ENTIRELY_NUMERIC"
	PasswordMismatch        Code = "PASSWORD_MISMATCH"
	Duplicate               Code = "DUPLICATE"
	NotFound                Code = "NOT_FOUND"
	InvalidToken            Code = "INVALID_TOKEN"
	InvalidCredentials      Code = "INVALID_CREDENTIALS"
	BatchFull               Code = "BATCH_FULL"
	BatchInactive           Code = "BATCH_INACTIVE"
	AlreadyDecided          Code = "ALREADY_DECIDED"
	InsufficientFunds       Code = "INSUFFICIENT_FUNDS"
	IdempotencyConflict     Code = "IDEMPOTENCY_CONFLICT"
	FileTooLarge            Code = "FILE_TOO_LARGE"
	UnsupportedFileType     Code = "UNSUPPORTED_FILE_TYPE"
	EmailNotVerified        Code = "EMAIL_NOT_VERIFIED"
	MfaAlreadyEnabled       Code = "MFA_ALREADY_ENABLED"
	MfaNotEnabled           Code = "MFA_NOT_ENABLED"
	LastSignInMethod        Code = "LAST_SIGN_IN_METHOD"
	ProviderUnavailable     Code = "PROVIDER_UNAVAILABLE"
	AccountExists           Code = "ACCOUNT_EXISTS"
	IdentityInUse           Code = "IDENTITY_IN_USE"
)

// Request-level codes: they become top-level GraphQL errors.
const (
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	RateLimited     Code = "RATE_LIMITED"
	BadRequest      Code = "BAD_REQUEST"
	// Timeout: the request ran past REQUEST_TIMEOUT and was stopped; it may be retried.
	Timeout  Code = "TIMEOUT"
	Internal Code = "INTERNAL"
)

// IsUserCode reports whether c is reported in a payload rather than top-level.
func IsUserCode(c Code) bool {
	switch c {
	case Unauthenticated, Forbidden, RateLimited, BadRequest, Timeout, Internal:
		return false
	}
	return true
}

// Error is one coded error. Field names the input field at fault, as the
// path below the mutation's input (for example []string{"password"}).
type Error struct {
	Code       Code
	Field      []string
	Message    string
	RetryAfter time.Duration // only for RateLimited
}

func (e *Error) Error() string {
	if len(e.Field) > 0 {
		return string(e.Code) + " (" + strings.Join(e.Field, ".") + "): " + e.Message
	}
	return string(e.Code) + ": " + e.Message
}

// New returns an error not tied to one field.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// OnField returns an error about one input field.
func OnField(field string, code Code, message string) *Error {
	return &Error{Code: code, Field: []string{field}, Message: message}
}

// List is several user errors reported together, such as every problem of a
// form at once. A nil or empty List means no error.
type List []*Error

func (l List) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As find the coded errors inside l.
func (l List) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Err returns l as an error, or nil when it is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// The two access errors services return most.
var (
	ErrUnauthenticated = New(Unauthenticated, "Sign in required.")
	ErrForbidden       = New(Forbidden, "You are not allowed to do this.")
)

// Errors returns the coded errors in err (one, several, or none when err is not coded).
func Errors(err error) []*Error {
	var l List
	if errors.As(err, &l) {
		return l
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}
