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
		Reason: "the security record of what happened to an account stays readable: the person's email inside event details becomes the anonymous address"}}
}

// EraseUser replaces the person's email inside the details of the events
// by or about them.
func (l *Log) EraseUser(ctx context.Context, tx bun.IDB, p userdata.Person) error {
	_, err := tx.NewUpdate().Model((*Event)(nil)).
		Set("details = replace(replace(details, ?, ?), ?, ?)", p.EmailKey, p.Anonymous, p.Email, p.Anonymous).
		Where("actor_id = ? OR target_id = ?", p.ID, p.ID).Exec(ctx)
	return err
}

// ExportUser adds the events by or about the person, oldest first.
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
			IP: e.IP, UserAgent: e.UserAgent, Details: details}
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
