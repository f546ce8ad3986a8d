package auth

// Role is what an account may do (SPEC section 1).
type Role string

// The roles.
const (
	RoleAdmin    Role = "ADMIN"
	RoleB2BAdmin Role = "B2B_ADMIN"
	RoleB2BUser  Role = "B2B_USER"
	RoleB2CUser  Role = "B2C_USER"
)
