// Package account owns users and their sign-in: registration, login, sessions
// with rotating refresh tokens, logout, and administrator bootstrap.
//
// Who may do what: anyone may register and log in; a session's refresh token
// is usable only by whoever holds it; logout accepts only the caller's own
// token; only the CLI or bootstrap settings create admins.
package account

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Role is what an account may do (SPEC section 1).
type Role string

// The roles.
const (
	RoleAdmin    Role = "ADMIN"
	RoleB2BAdmin Role = "B2B_ADMIN"
	RoleB2BUser  Role = "B2B_USER"
	RoleB2CUser  Role = "B2C_USER"
)

// IsValid reports whether r is one of the roles.
func (r Role) IsValid() bool {
	switch r {
	case RoleAdmin, RoleB2BAdmin, RoleB2BUser, RoleB2CUser:
		return true
	}
	return false
}

// MarshalGQL writes the role as a GraphQL enum value.
func (r Role) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a GraphQL enum value.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !Role(s).IsValid() {
		return fmt.Errorf("%v is not a valid Role", v)
	}
	*r = Role(s)
	return nil
}

// User is an account.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID           uuid.UUID  `bun:"id,pk,type:uuid"`
	Email        string     `bun:"email"`
	EmailKey     string     `bun:"email_key"`
	Mobile       string     `bun:"mobile"`
	FirstName    string     `bun:"first_name"`
	LastName     string     `bun:"last_name"`
	Role         Role       `bun:"role"`
	IsActive     bool       `bun:"is_active"`
	IsVerified   bool       `bun:"is_verified"`
	IsApproved   bool       `bun:"is_approved"`
	PasswordHash *string    `bun:"password_hash"`
	CreatedByID  *uuid.UUID `bun:"created_by_id,type:uuid"`
	DateJoined   time.Time  `bun:"date_joined"`
	LastLogin    *time.Time `bun:"last_login"`
	UpdatedAt    time.Time  `bun:"updated_at"`
}

// FullName is the first and last name joined by a space.
func (u *User) FullName() string {
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// EmailKey is the form of an email used for uniqueness and look-ups.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

var mobilePattern = regexp.MustCompile(`^\+?[0-9]{9,15}$`)

// maxNameLength is the longest first or last name (the original's limit).
const maxNameLength = 150
