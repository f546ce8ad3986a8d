// Package audit keeps the security record: every security-relevant event is
// written to the audit_events table in the same transaction as the change
// it describes, and, once that commits, to the security log (slog). Events
// carry who acted, on whom, from which address and client, and never a
// secret (no passwords, tokens or token hashes).
//
// Who may read it: admins everything; approved B2B admins the events about
// the users they created.
package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/page"
)

// Action names an event.
type Action string

// The recorded actions.
const (
	LoginSucceeded         Action = "LOGIN_SUCCEEDED"
	LoginFailed            Action = "LOGIN_FAILED"
	LoginLockedOut         Action = "LOGIN_LOCKED_OUT"
	RefreshTokenReused     Action = "REFRESH_TOKEN_REUSED"
	LoggedOut              Action = "LOGGED_OUT"
	PasswordSet            Action = "PASSWORD_SET"
	PasswordChanged        Action = "PASSWORD_CHANGED"
	PasswordChangeFailed   Action = "PASSWORD_CHANGE_FAILED"
	PasswordResetRequested Action = "PASSWORD_RESET_REQUESTED"
	PasswordReset          Action = "PASSWORD_RESET"
	AccountCreated         Action = "ACCOUNT_CREATED"
	B2BAdminApproved       Action = "B2B_ADMIN_APPROVED"
	B2BAdminRejected       Action = "B2B_ADMIN_REJECTED"
	BatchCreated           Action = "BATCH_CREATED"
	BatchUpdated           Action = "BATCH_UPDATED"
	WalletAdjusted         Action = "WALLET_ADJUSTED"
	SessionRevoked         Action = "SESSION_REVOKED"
	AvatarChanged          Action = "AVATAR_CHANGED"
	ProfileUpdated         Action = "PROFILE_UPDATED"
	AddressesElsewhere     Action = "ADDRESSES_ELSEWHERE"
	EmailVerified          Action = "EMAIL_VERIFIED"
	MfaEnabled             Action = "MFA_ENABLED"
	MfaDisabled            Action = "MFA_DISABLED"
	MfaReset               Action = "MFA_RESET"
	MfaFailed              Action = "MFA_FAILED"
	RecoveryCodeUsed       Action = "RECOVERY_CODE_USED"
	UserDeactivated        Action = "USER_DEACTIVATED"
	UserReactivated        Action = "USER_REACTIVATED"
	AccountDeleted         Action = "ACCOUNT_DELETED"

	PasskeyRegistrationStarted Action = "PASSKEY_REGISTRATION_STARTED"
	PasskeySignInStarted       Action = "PASSKEY_SIGN_IN_STARTED"
	PasskeyAdded               Action = "PASSKEY_ADDED"
	PasskeyRenamed             Action = "PASSKEY_RENAMED"
	PasskeyRemoved             Action = "PASSKEY_REMOVED"
	PasskeyFailed              Action = "PASSKEY_FAILED"
	PasskeyCloneSuspected      Action = "PASSKEY_CLONE_SUSPECTED"
	IdentityLinked             Action = "IDENTITY_LINKED"
	IdentityUnlinked           Action = "IDENTITY_UNLINKED"
	SocialSignInFailed         Action = "SOCIAL_SIGN_IN_FAILED"
	MetadataChanged            Action = "METADATA_CHANGED"
)

// Event is one entry of the audit log.
type Event struct {
	bun.BaseModel `bun:"table:audit_events,alias:e"`

	ID        uuid.UUID  `bun:"id,pk,type:uuid"`
	At        time.Time  `bun:"at"`
	Action    Action     `bun:"action"`
	ActorID   *uuid.UUID `bun:"actor_id,type:uuid"`
	TargetID  *uuid.UUID `bun:"target_id,type:uuid"`
	IP        string     `bun:"ip"`
	UserAgent string     `bun:"user_agent"`
	Details   string     `bun:"details"` // a JSON object
}

// Entry is what a service reports; the rest comes from the request.
type Entry struct {
	Action Action
	// Actor acts; nil means the signed-in caller, if any.
	Actor *uuid.UUID
	// Target is the user the event is about.
	Target  *uuid.UUID
	Details map[string]any
}

// Log writes and reads audit events.
type Log struct {
	db       *bun.DB
	security *slog.Logger
	sink     Sink
}

// Sink is told of every recorded event inside the transaction that records
// it (package webhook queues its events so).
type Sink interface {
	Record(ctx context.Context, idb bun.IDB, events []Event) error
}

// SetSink makes Record tell s of every event; call it before serving.
func (l *Log) SetSink(s Sink) { l.sink = s }

// New returns a Log over database that also writes each event to security.
func New(database *bun.DB, security *slog.Logger) *Log { return &Log{db: database, security: security} }

// Record writes entries through idb: pass the change's transaction so the
// record and the change commit together. The security log line follows the
// commit (see db.AfterCommit).
func (l *Log) Record(ctx context.Context, idb bun.IDB, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	client := auth.ClientFrom(ctx)
	viewer, signedIn := auth.ViewerFrom(ctx)
	now := time.Now().UTC()
	events := make([]Event, len(entries))
	for i, e := range entries {
		details, err := json.Marshal(e.Details)
		if err != nil {
			return err
		}
		if e.Details == nil {
			details = []byte("{}")
		}
		actor := e.Actor
		if actor == nil && signedIn {
			actor = &viewer.UserID
		}
		events[i] = Event{ID: uuid.New(), At: now, Action: e.Action, ActorID: actor, TargetID: e.Target,
			IP: client.IP, UserAgent: client.UserAgent, Details: string(details)}
	}
	if _, err := idb.NewInsert().Model(&events).Exec(ctx); err != nil {
		return err
	}
	if l.sink != nil {
		if err := l.sink.Record(ctx, idb, events); err != nil {
			return err
		}
	}
	db.AfterCommit(ctx, func() {
		for _, ev := range events {
			l.security.LogAttrs(ctx, slog.LevelInfo, "security event",
				slog.String("action", string(ev.Action)), slog.String("event_id", ev.ID.String()),
				slog.Any("actor_id", ev.ActorID), slog.Any("target_id", ev.TargetID),
				slog.String("ip", ev.IP), slog.String("user_agent", ev.UserAgent),
				slog.String("details", ev.Details))
		}
	})
	return nil
}

// Filter narrows List; nil fields do not filter.
type Filter struct {
	Action   *Action
	ActorID  *uuid.UUID
	TargetID *uuid.UUID
	Since    *time.Time
	Until    *time.Time
}

// List returns events, newest first: all of them for an admin, those about
// the users it created for an approved B2B admin, without the address and
// user agent they came from (only admins see those).
func (l *Log) List(ctx context.Context, f Filter, args page.Args) (page.Page[*Event], error) {
	v, err := auth.Require(ctx, auth.Viewer.ManagesUsers)
	if err != nil {
		return page.Page[*Event]{}, err
	}
	about, aboutArgs := v.ManagedUserIDs("e.target_id")
	q := l.db.NewSelect().Model((*Event)(nil)).Where(about, aboutArgs...)
	q = db.WhereSet(q, "e.action = ?", f.Action)
	q = db.WhereSet(q, "e.actor_id = ?", f.ActorID)
	q = db.WhereSet(q, "e.target_id = ?", f.TargetID)
	q = db.WhereSet(q, "e.at >= ?", f.Since) // times are written in UTC, like every stored time
	q = db.WhereSet(q, "e.at < ?", f.Until)
	p, err := page.Load(ctx, q, page.Key{Expr: "e.at", Time: true, Desc: true}, args,
		func(e *Event) (any, uuid.UUID) { return e.At, e.ID })
	if !v.SeesClientAddresses() {
		// Where an administrator acted from is not the business of a B2B admin.
		for _, e := range p.Items {
			e.IP, e.UserAgent = "", ""
		}
	}
	return p, err
}
