package mail

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
)

// Outbox statuses.
const (
	StatusPending = "PENDING"
	StatusSent    = "SENT"
	StatusFailed  = "FAILED" // gave up after MaxAttempts
)

// outboxRow is one email in the outbox table.
type outboxRow struct {
	bun.BaseModel `bun:"table:mail_outbox"`

	ID            uuid.UUID  `bun:"id,pk,type:uuid"`
	Template      string     `bun:"template"`
	Recipient     string     `bun:"recipient"`
	Subject       string     `bun:"subject"`
	TextBody      string     `bun:"text_body"`
	HTMLBody      string     `bun:"html_body"`
	Status        string     `bun:"status"`
	Attempts      int        `bun:"attempts"`
	NextAttemptAt time.Time  `bun:"next_attempt_at"`
	LockedUntil   *time.Time `bun:"locked_until"`
	LastError     *string    `bun:"last_error"`
	CreatedAt     time.Time  `bun:"created_at"`
	SentAt        *time.Time `bun:"sent_at"`
}

// Sealer keeps the bodies of queued emails encrypted at rest (auth.Sealer):
// they carry links that sign in, and a database's files keep copies of
// what was written (SQLite's WAL, freed pages) long after a row is cleared.
type Sealer interface {
	Seal(plain []byte, context string) string
	Open(sealed, context string) ([]byte, error)
}

// Enqueue adds messages to the outbox through idb, which should be the
// transaction of the change that causes them: they are sent only if it
// commits. Their bodies are stored sealed, bound to their row. Call Notify
// after the commit to send at once.
func (o *Outbox) Enqueue(ctx context.Context, idb bun.IDB, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	rows := make([]outboxRow, len(msgs))
	for i, m := range msgs {
		id := uuid.New()
		rows[i] = outboxRow{
			ID: id, Template: m.Template, Recipient: m.To, Subject: m.Subject,
			TextBody: o.cfg.Sealer.Seal([]byte(m.Text), id.String()+":text"), HTMLBody: o.cfg.Sealer.Seal([]byte(m.HTML), id.String()+":html"),
			Status: StatusPending, NextAttemptAt: now, CreatedAt: now,
		}
	}
	_, err := idb.NewInsert().Model(&rows).Exec(ctx)
	return err
}

// open reads a stored body: sealed, or as it is when queued before bodies
// were sealed.
func (o *Outbox) open(body string, id uuid.UUID, part string) (string, error) {
	if !strings.HasPrefix(body, "gcm1:") && !strings.HasPrefix(body, "plain:") {
		return body, nil
	}
	plain, err := o.cfg.Sealer.Open(body, id.String()+":"+part)
	return string(plain), err
}

// OutboxConfig tunes delivery.
type OutboxConfig struct {
	From         string
	PollInterval time.Duration // how often to look for due emails without a Notify
	RetryBase    time.Duration // first retry delay; doubles per attempt, at most 1 h
	MaxAttempts  int
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// Sealer seals bodies at rest (required).
	Sealer Sealer
}

// Outbox delivers queued emails. Several replicas may run it at once: each
// email is leased by one worker before it is sent.
type Outbox struct {
	db     *bun.DB
	driver Driver
	cfg    OutboxConfig
	log    *slog.Logger
	wake   chan struct{}
}

// NewOutbox returns the delivery worker; start it with Run.
func NewOutbox(db *bun.DB, driver Driver, cfg OutboxConfig, log *slog.Logger) *Outbox {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Outbox{db: db, driver: driver, cfg: cfg, log: log, wake: make(chan struct{}, 1)}
}

// Notify asks the worker to look for due emails now. It never blocks.
func (o *Outbox) Notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run delivers due emails until ctx ends. On start it picks up whatever an
// earlier run left pending, so a restart resumes delivery.
func (o *Outbox) Run(ctx context.Context) {
	db.RunQueue(ctx, o.cfg.PollInterval, o.wake, o.deliverDue, func(err error) { o.log.Error("mail outbox", "error", err.Error()) })
}

// lease is how long a claimed email stays reserved for one worker; longer
// than any send may take, so two workers never send it at the same time.
const lease = 2 * time.Minute

// deliverDue sends a batch of due emails and reports how many it handled.
func (o *Outbox) deliverDue(ctx context.Context) (int, error) {
	return db.TakeDue(ctx, o.db, o.cfg.Now().UTC(), lease, o.deliver)
}

// QueueID is the email's id (db.Queued).
func (r *outboxRow) QueueID() uuid.UUID { return r.ID }

func (o *Outbox) deliver(ctx context.Context, row *outboxRow) {
	text, err := o.open(row.TextBody, row.ID, "text")
	html, herr := o.open(row.HTMLBody, row.ID, "html")
	if err = errors.Join(err, herr); err == nil {
		sendCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = o.driver.Send(sendCtx, Envelope{
			ID: row.ID, From: o.cfg.From, CreatedAt: row.CreatedAt,
			Message: Message{Template: row.Template, To: row.Recipient, Subject: row.Subject, Text: text, HTML: html},
		})
		cancel()
	}
	now := o.cfg.Now().UTC()
	attempts := row.Attempts + 1
	q := o.db.NewUpdate().Model((*outboxRow)(nil)).Where("id = ?", row.ID).
		Set("attempts = ?", attempts).Set("locked_until = NULL")
	// Once an email is sent, or given up, its bodies go: they hold links
	// that work, and the outbox is no place to keep them.
	done := func(q *bun.UpdateQuery) *bun.UpdateQuery { return q.Set("text_body = ''").Set("html_body = ''") }
	if err == nil {
		q = done(q.Set("status = ?", StatusSent).Set("sent_at = ?", now).Set("last_error = NULL"))
		o.log.Info("email sent", "outbox_id", row.ID, "template", row.Template, "attempts", attempts)
	} else {
		status, next := StatusPending, now.Add(o.backoff(attempts))
		if attempts >= o.cfg.MaxAttempts {
			status = StatusFailed
			q = done(q)
		}
		msg := err.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		q = q.Set("status = ?", status).Set("next_attempt_at = ?", next).Set("last_error = ?", msg)
		o.log.Warn("email delivery failed", "outbox_id", row.ID, "template", row.Template,
			"attempts", attempts, "status", status, "error", msg)
	}
	// The result must be recorded even when ctx is ending (shutdown).
	if _, uerr := q.Exec(context.WithoutCancel(ctx)); uerr != nil {
		o.log.Error("mail outbox: recording delivery", "outbox_id", row.ID, "error", uerr.Error())
	}
}

// backoff is RetryBase doubled per earlier attempt, at most one hour.
func (o *Outbox) backoff(attempts int) time.Duration { return db.Backoff(o.cfg.RetryBase, attempts) }
