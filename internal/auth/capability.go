package auth

import "github.com/google/uuid"

// Who may do what. Every permission check of usergraph is one of these
// capabilities of the viewer: the schema's directives, the services and the
// loaders call them, and nothing else compares roles (a new role is a change
// here and to the table in capability_test.go). Where a list needs a
// capability as a filter, its SQL form stands beside it and selects exactly
// the rows the Go form allows (account's tests hold the two together).
//
// SQL forms return a condition with ? placeholders and its arguments.

// ActsAs reports whether v holds role r with its powers: a B2B admin acts as
// one only once approved (pending and rejected ones may not). The schema's
// @hasRole directive is this capability.
func (v Viewer) ActsAs(r Role) bool { return v.Role == r && (!r.NeedsApproval() || v.Approved) }

// ManagesEveryUser: may act on any account (erase it, reset its second
// factor, end its sessions, remove its avatar) and read the whole directory.
func (v Viewer) ManagesEveryUser() bool { return v.ActsAs(RoleAdmin) }

// OnboardsB2BAdmins: may create business customers' administrators and
// approve or reject them.
func (v Viewer) OnboardsB2BAdmins() bool { return v.ActsAs(RoleAdmin) }

// AdjustsWallets: may credit, debit, block and unblock any wallet.
func (v Viewer) AdjustsWallets() bool { return v.ActsAs(RoleAdmin) }

// SeesClientAddresses: may read where audited requests came from (IP
// address and User-Agent).
func (v Viewer) SeesClientAddresses() bool { return v.ActsAs(RoleAdmin) }

// OnboardsB2BUsers: may create batches and B2B users in its own batches.
func (v Viewer) OnboardsB2BUsers() bool { return v.ActsAs(RoleB2BAdmin) }

// ManagesUsers: manages some users (ManagesUser): lists them, deactivates
// and reactivates them, reads the events about them.
func (v Viewer) ManagesUsers() bool { return v.ManagesEveryUser() || v.OnboardsB2BUsers() }

// ManagesUser: an admin manages everyone, an approved B2B admin the users it
// created (createdBy is the user's creator, nil for none).
func (v Viewer) ManagesUser(createdBy *uuid.UUID) bool {
	return v.ManagesEveryUser() || v.OnboardsB2BUsers() && createdBy != nil && *createdBy == v.UserID
}

// ManagedUsers is ManagesUser on rows of the users table under alias.
func (v Viewer) ManagedUsers(alias string) (string, []any) {
	switch {
	case v.ManagesEveryUser():
		return "TRUE", nil
	case v.OnboardsB2BUsers():
		return alias + ".created_by_id = ?", []any{v.UserID}
	}
	return "FALSE", nil
}

// ManagedUserIDs is ManagesUser on a column holding a user id (idColumn).
func (v Viewer) ManagedUserIDs(idColumn string) (string, []any) {
	cond, args := v.ManagedUsers("m")
	if cond == "TRUE" || cond == "FALSE" {
		return cond, args
	}
	return idColumn + " IN (SELECT m.id FROM users AS m WHERE " + cond + ")", args
}

// MaySeePrivate: may look a user up by id and read its private fields
// (email, mobile, profile, wallet, sessions, createdBy, approval): the user
// itself and whoever manages it.
func (v Viewer) MaySeePrivate(userID uuid.UUID, createdBy *uuid.UUID) bool {
	return userID == v.UserID || v.ManagesUser(createdBy)
}

// VisibleUsers is MaySeePrivate on a column holding a user id (idColumn).
func (v Viewer) VisibleUsers(idColumn string) (string, []any) {
	managed, args := v.ManagedUserIDs(idColumn)
	switch managed {
	case "TRUE":
		return managed, nil
	case "FALSE":
		return idColumn + " = ?", []any{v.UserID}
	}
	return "(" + idColumn + " = ? OR " + managed + ")", append([]any{v.UserID}, args...)
}

// ManagesBatches: may read and change batches (ManagesBatch).
func (v Viewer) ManagesBatches() bool { return v.ManagesEveryUser() || v.OnboardsB2BUsers() }

// ManagesBatch: an admin manages every batch, an approved B2B admin the
// batches it owns (owner is the batch's creator).
func (v Viewer) ManagesBatch(owner uuid.UUID) bool { return v.ManagesEveryUser() || v.OwnsBatch(owner) }

// OwnsBatch: the approved B2B admin that created the batch; only it adds
// users to the batch.
func (v Viewer) OwnsBatch(owner uuid.UUID) bool { return v.OnboardsB2BUsers() && owner == v.UserID }

// ManagedBatches is ManagesBatch on the owner column of batches.
func (v Viewer) ManagedBatches(ownerColumn string) (string, []any) {
	switch {
	case v.ManagesEveryUser():
		return "TRUE", nil
	case v.OnboardsB2BUsers():
		return ownerColumn + " = ?", []any{v.UserID}
	}
	return "FALSE", nil
}
