package batch

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/userdata"
)

// UserData is the batches' share of what is held about people.
type UserData struct{}

// UserTables declares batches, which refer to the B2B admin that owns them.
func (UserData) UserTables() []userdata.Table {
	return []userdata.Table{{Name: "batches", Erasure: userdata.Keep,
		Reason: "a batch is the business customer's, not about a person: it stays, its owner now the anonymised account; not in the owner's export"}}
}

// EraseUser keeps the batches (UserTables says why).
func (UserData) EraseUser(context.Context, bun.IDB, userdata.Person) error { return nil }

// ExportUser adds nothing (UserTables says why).
func (UserData) ExportUser(context.Context, bun.IDB, userdata.Person, userdata.Export) error {
	return nil
}
