// Package userdata is where usergraph declares what it holds about a
// person. Every package whose tables hold rows about users declares each
// such table once (Table): what erasing the user does to its rows, and
// what the data export shows of them; and it implements both for its own
// tables (Holder). Erasure and export run every Holder in one place
// (account), and a test holds the declarations against the migrated
// schema, so a table added later that refers to users cannot be forgotten.
package userdata

import (
	"context"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Erasure is what erasing a user does to its rows in a table.
type Erasure string

// What erasure does.
const (
	// Delete removes the person's rows.
	Delete Erasure = "delete"
	// Anonymise keeps the rows without what identifies the person.
	Anonymise Erasure = "anonymise"
	// Keep keeps the rows as they are, on purpose (Table.Reason says why).
	Keep Erasure = "keep"
)

// Table declares one table that holds rows about users.
type Table struct {
	Name    string
	Erasure Erasure
	// Reason says why rows are kept or only anonymised, and why a table
	// is not in the export when it is not.
	Reason string
	// Export names the parts of the export (myData) that show the table's
	// rows; none when the rows are secrets or not the person's own.
	Export []string
}

// Person is the user being erased or exported, as stored before erasure.
type Person struct {
	ID       uuid.UUID
	Email    string
	EmailKey string
	// Anonymous is the address that stands in for Email in what is kept.
	Anonymous string
}

// Export is the data export being assembled: part name → JSON value.
type Export map[string]any

// Holder is one package's share of what is held about people.
type Holder interface {
	// UserTables declares the package's tables that hold rows about users.
	UserTables() []Table
	// EraseUser applies the declarations to p's rows, inside tx: the
	// erasure's one transaction, shared by every Holder.
	EraseUser(ctx context.Context, tx bun.IDB, p Person) error
	// ExportUser adds p's rows to out under the names its declarations give.
	ExportUser(ctx context.Context, idb bun.IDB, p Person, out Export) error
}

// ExportLimit bounds each list of an export (a user's own records; far
// more than an account gathers).
const ExportLimit = 10_000
