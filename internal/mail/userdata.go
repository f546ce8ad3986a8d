package mail

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/userdata"
)

// UserData is the outbox's share of what is held about people: the emails
// addressed to them.
type UserData struct{}

// UserTables declares the outbox, whose rows are addressed to people.
func (UserData) UserTables() []userdata.Table {
	return []userdata.Table{{Name: "mail_outbox", Erasure: userdata.Delete,
		Reason: "emails to the person: unsent ones carry links that sign in, sent ones keep the address until retention; not exported (the person received them)"}}
}

// EraseUser deletes every email addressed to the person, sent or not.
func (UserData) EraseUser(ctx context.Context, tx bun.IDB, p userdata.Person) error {
	_, err := tx.NewDelete().Model((*outboxRow)(nil)).Where("recipient = ?", p.Email).Exec(ctx)
	return err
}

// ExportUser adds nothing (UserTables says why).
func (UserData) ExportUser(context.Context, bun.IDB, userdata.Person, userdata.Export) error {
	return nil
}
