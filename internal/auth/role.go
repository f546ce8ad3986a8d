package auth

// Role is what an account may do (SPEC section 1). What each role allows is
// written once, as the viewer's capabilities (capability.go).
type Role string

// The roles.
const (
	RoleAdmin    Role = "ADMIN"
	RoleB2BAdmin Role = "B2B_ADMIN"
	RoleB2BUser  Role = "B2B_USER"
	RoleB2CUser  Role = "B2C_USER"
)

// Roles lists every role, for tables of who may do what.
func Roles() []Role { return []Role{RoleAdmin, RoleB2BAdmin, RoleB2BUser, RoleB2CUser} }

// NeedsApproval reports whether an account of role r acts in it only once an
// admin approved it (B2B admins); other accounts are approved from the start.
func (r Role) NeedsApproval() bool { return r == RoleB2BAdmin }

// SignsUpItself reports whether accounts of role r are made by their owner
// (registration) rather than by someone who vouches for the address: only
// they may have to confirm their email before signing in.
func (r Role) SignsUpItself() bool { return r == RoleB2CUser }
