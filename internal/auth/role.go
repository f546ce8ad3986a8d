package auth

import (
	"io"

	"github.com/usergraph/usergraph/internal/enum"
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

// MarshalGQL writes the role as a GraphQL enum value.
func (r Role) MarshalGQL(w io.Writer) { enum.Marshal(w, r) }

// UnmarshalGQL reads a GraphQL enum value.
func (r *Role) UnmarshalGQL(v any) error {
	return enum.Unmarshal(r, v, RoleAdmin, RoleB2BAdmin, RoleB2BUser, RoleB2CUser)
}
