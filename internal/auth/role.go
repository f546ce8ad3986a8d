package auth

import (
	"fmt"
	"io"
	"strconv"
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
