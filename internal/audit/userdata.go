package audit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/userdata"
)

// UserTables declares the audit log, whose events are by and about users.
func (l *Log) UserTables() []userdata.Table {
	return []userdata.Table{{Name: "audit_events", Erasure: userdata.Anonymise, Export: []string{"auditEvents"},
		Reason: "the security record of what happened to an account stays readable: the person's email inside event details becomes the anonymous address, and the addresses and user agents the person's requests came from are removed"}}
}

// EraseUser replaces the person's email inside the details of the events
// by or about them, and removes where the person's own requests came from
// (events they did, and the anonymous ones about them: sign-ins that
// failed before anyone was signed in). Where an admin acted from stays.
func (l *Log) EraseUser(ctx context.Context, tx bun.IDB, p userdata.Person) error {
	_, err := tx.NewUpdate().Model((*Event)(nil)).
		Set("details = replace(replace(details, ?, ?), ?, ?)", p.EmailKey, p.Anonymous, p.Email, p.Anonymous).
		Set("ip = CASE WHEN "+byThePerson+" THEN '' ELSE ip END, user_agent = CASE WHEN "+byThePerson+" THEN '' ELSE user_agent END",
			p.ID, p.ID, p.ID, p.ID).
		Where("actor_id = ? OR target_id = ?", p.ID, p.ID).Exec(ctx)
	return err
}

// byThePerson selects the events a person's own requests made: those it
// did, and the anonymous ones about it.
const byThePerson = "(actor_id = ? OR (actor_id IS NULL AND target_id = ?))"

// ExportUser adds the events by or about the person, oldest first. Where a
// request came from is shown only for the person's own requests: an
// admin's address and user agent are not the person's data.
func (l *Log) ExportUser(ctx context.Context, idb bun.IDB, p userdata.Person, out userdata.Export) error {
	var events []Event
	if err := idb.NewSelect().Model(&events).Where("actor_id = ? OR target_id = ?", p.ID, p.ID).
		Order("at", "id").Limit(userdata.ExportLimit).Scan(ctx); err != nil {
		return err
	}
	list := make([]exportEvent, len(events))
	for i, e := range events {
		details := json.RawMessage(e.Details)
		if !json.Valid(details) {
			details = json.RawMessage("{}")
		}
		list[i] = exportEvent{At: e.At, Action: e.Action,
			ByYou: e.ActorID != nil && *e.ActorID == p.ID, AboutYou: e.TargetID != nil && *e.TargetID == p.ID,
			Details: details}
		if e.ActorID != nil && *e.ActorID == p.ID {
			list[i].IP, list[i].UserAgent = e.IP, e.UserAgent
		}
	}
	out["auditEvents"] = list
	return nil
}

type exportEvent struct {
	At        time.Time       `json:"at"`
	Action    Action          `json:"action"`
	ByYou     bool            `json:"byYou"`
	AboutYou  bool            `json:"aboutYou"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"userAgent"`
	Details   json.RawMessage `json:"details"`
}
