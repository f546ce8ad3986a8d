// Package account owns users and their sign-in: registration, login, sessions
// with rotating refresh tokens, logout, and administrator bootstrap.
//
// Who may do what: anyone may register and log in; a session's refresh token
// is usable only by whoever holds it; logout accepts only the caller's own
// token; only the CLI or bootstrap settings create admins.
package account

import (
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/validate"
)

// User is an account.
type User struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID           uuid.UUID  `bun:"id,pk,type:uuid"`
	Email        string     `bun:"email"`
	EmailKey     string     `bun:"email_key"`
	Mobile       string     `bun:"mobile"`
	FirstName    string     `bun:"first_name"`
	LastName     string     `bun:"last_name"`
	Role         auth.Role  `bun:"role"`
	IsActive     bool       `bun:"is_active"`
	IsVerified   bool       `bun:"is_verified"`
	IsApproved   bool       `bun:"is_approved"`
	PasswordHash *string    `bun:"password_hash"`
	CreatedByID  *uuid.UUID `bun:"created_by_id,type:uuid"`
	BatchID      *uuid.UUID `bun:"batch_id,type:uuid"`
	CompanyName  *string    `bun:"company_name"`
	Avatar       *string    `bun:"avatar"` // media store name
	Address      string     `bun:"address"`
	City         string     `bun:"city"`
	DateJoined   time.Time  `bun:"date_joined"`
	LastLogin    *time.Time `bun:"last_login"`
	UpdatedAt    time.Time  `bun:"updated_at"`
	MfaEnabled   bool       `bun:"mfa_enabled"`
	DeletedAt    *time.Time `bun:"deleted_at"` // personal data erased
	// AppMetadata and UserMetadata are the app's own data on the user, JSON
	// objects (metadata.go).
	AppMetadata  string `bun:"app_metadata"`
	UserMetadata string `bun:"user_metadata"`
}

// FullName is the first and last name joined by a space.
func (u *User) FullName() string {
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// EmailKey is the form of an email used for uniqueness and look-ups.
func EmailKey(email string) string {
	key, _ := validate.EmailKey(email)
	return key
}
