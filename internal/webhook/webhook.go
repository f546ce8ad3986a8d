// Package webhook tells an app's backend what happened to its users:
// events signed as the Standard Webhooks specification says (webhook-id,
// webhook-timestamp, webhook-signature: HMAC-SHA256 with a whsec_ secret),
// written in the transaction of the change that causes them (they come from
// its audit events, package audit) and delivered after commit by a worker
// on any replica, each lease held by one, with retries and backoff: at
// least once, with a stable webhook-id to de-duplicate by, until the last
// attempt marks a delivery DEAD.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
)

// The event types, from the audit actions that cause them.
var eventTypes = map[audit.Action]string{
	audit.AccountCreated:   "user.created",
	audit.EmailVerified:    "user.email_verified",
	audit.LoginSucceeded:   "user.signed_in",
	audit.PasswordSet:      "user.password_changed",
	audit.PasswordChanged:  "user.password_changed",
	audit.PasswordReset:    "user.password_changed",
	audit.MfaEnabled:       "mfa.enabled",
	audit.MfaDisabled:      "mfa.disabled",
	audit.MfaReset:         "mfa.disabled",
	audit.PasskeyAdded:     "passkey.added",
	audit.PasskeyRemoved:   "passkey.removed",
	audit.IdentityLinked:   "identity.linked",
	audit.IdentityUnlinked: "identity.unlinked",
	audit.UserDeactivated:  "user.deactivated",
	audit.UserReactivated:  "user.reactivated",
	audit.AccountDeleted:   "user.deleted",
	audit.B2BAdminApproved: "b2b_admin.approved",
	audit.B2BAdminRejected: "b2b_admin.rejected",
	audit.WalletAdjusted:   "wallet.adjusted",
	audit.MetadataChanged:  "user.metadata_changed",
}

// EventTypes are every event type, sorted.
func EventTypes() []string {
	var out []string
	for _, t := range eventTypes {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// Status is where a delivery stands.
type Status string

// Delivery statuses.
const (
	StatusPending   Status = "PENDING"
	StatusDelivered Status = "DELIVERED"
	StatusDead      Status = "DEAD" // gave up after MaxAttempts
)

// Delivery is one event for one endpoint.
type Delivery struct {
	bun.BaseModel `bun:"table:webhook_deliveries,alias:d"`

	ID            uuid.UUID  `bun:"id,pk,type:uuid"` // the webhook-id, the same on every attempt
	Endpoint      string     `bun:"endpoint"`
	EventType     string     `bun:"event_type"`
	Payload       string     `bun:"payload"`
	Status        Status     `bun:"status"`
	Attempts      int        `bun:"attempts"`
	NextAttemptAt time.Time  `bun:"next_attempt_at"`
	LockedUntil   *time.Time `bun:"locked_until"`
	LastError     *string    `bun:"last_error"`
	CreatedAt     time.Time  `bun:"created_at"`
	DeliveredAt   *time.Time `bun:"delivered_at"`
}

// Endpoint is where some events go.
type Endpoint struct {
	ID, URL string
	Secret  string   // whsec_…
	Events  []string // event types; empty: all
}

func (e Endpoint) wants(eventType string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, eventType)
}

// Config tunes delivery.
type Config struct {
	Endpoints    []Endpoint
	Timeout      time.Duration // per attempt
	MaxAttempts  int
	RetryBase    time.Duration // doubles per attempt, at most 1 h
	PollInterval time.Duration
	// AllowLocal lets endpoints be loopback or link-local addresses (this
	// machine, cloud metadata services): tests and single-machine setups.
	AllowLocal bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Hooks queues and delivers events. A nil *Hooks queues nothing.
type Hooks struct {
	db      *bun.DB
	cfg     Config
	signers map[string]*standardwebhooks.Webhook
	client  *http.Client
	log     *slog.Logger
	wake    chan struct{}
	// Outcome, when set, counts each attempt's outcome per endpoint
	// (delivered, failed, dead): metrics.
	Outcome func(endpoint, outcome string)
}

// New checks the endpoints (URLs, secrets, event types) and returns the
// hooks; start delivery with Run.
func New(database *bun.DB, cfg Config, log *slog.Logger) (*Hooks, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Hooks{db: database, cfg: cfg, signers: map[string]*standardwebhooks.Webhook{}, log: log, wake: make(chan struct{}, 1)}
	known := EventTypes()
	for _, e := range cfg.Endpoints {
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("WEBHOOK_%s_URL=%q: must be an http(s) URL", strings.ToUpper(e.ID), e.URL)
		}
		if !strings.HasPrefix(e.Secret, "whsec_") {
			return nil, fmt.Errorf("WEBHOOK_%s_SECRET: must be a whsec_ secret (whsec_ and base64 of 24 to 64 random bytes)", strings.ToUpper(e.ID))
		}
		signer, err := standardwebhooks.NewWebhook(e.Secret)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_%s_SECRET: %w", strings.ToUpper(e.ID), err)
		}
		for _, t := range e.Events {
			if !slices.Contains(known, t) {
				return nil, fmt.Errorf("WEBHOOK_%s_EVENTS: %q is no event; the events are %s", strings.ToUpper(e.ID), t, strings.Join(known, ", "))
			}
		}
		h.signers[e.ID] = signer
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !cfg.AllowLocal {
		dialer.Control = refuseLocal
	}
	transport := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: cfg.Timeout}
	h.client = &http.Client{Transport: transport, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h, nil
}

var errLocal = errors.New("the address is this machine's or link-local (WEBHOOK_ALLOW_LOCAL allows it)")

// refuseLocal refuses connections to loopback, link-local (cloud metadata
// services live there) and unspecified addresses, whatever name led there.
func refuseLocal(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() {
		return errLocal
	}
	return nil
}

// Record queues the events the audit entries stand for, through idb, the
// change's transaction (audit.Log calls it): they are delivered only if it
// commits.
func (h *Hooks) Record(ctx context.Context, idb bun.IDB, events []audit.Event) error {
	if h == nil || len(h.cfg.Endpoints) == 0 {
		return nil
	}
	var rows []Delivery
	now := h.cfg.Now().UTC()
	for _, ev := range events {
		t, ok := eventTypes[ev.Action]
		if !ok {
			continue
		}
		payload, err := h.payload(t, ev)
		if err != nil {
			return err
		}
		for _, e := range h.cfg.Endpoints {
			if e.wants(t) {
				rows = append(rows, Delivery{ID: uuid.New(), Endpoint: e.ID, EventType: t, Payload: payload,
					Status: StatusPending, NextAttemptAt: now, CreatedAt: now})
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if _, err := idb.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return err
	}
	db.AfterCommit(ctx, h.Notify)
	return nil
}

// payload is the event as sent: ids and facts (the audit event's details,
// less anything naming a person or where a request came from), never a
// secret or a token.
func (h *Hooks) payload(eventType string, ev audit.Event) (string, error) {
	data := map[string]any{}
	if ev.Details != "" {
		if err := json.Unmarshal([]byte(ev.Details), &data); err != nil {
			return "", err
		}
	}
	for _, k := range []string{"email", "ip", "userAgent", "name"} {
		delete(data, k)
	}
	if ev.TargetID != nil {
		data["userId"] = ev.TargetID.String()
	}
	if ev.ActorID != nil {
		data["actorId"] = ev.ActorID.String()
	}
	data["auditEventId"] = ev.ID.String()
	b, err := json.Marshal(map[string]any{"type": eventType, "timestamp": ev.At.UTC().Format(time.RFC3339Nano), "data": data})
	return string(b), err
}

// Notify asks the worker to look for due deliveries now. It never blocks.
func (h *Hooks) Notify() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Run delivers due events until ctx ends, picking up what earlier runs
// (or other replicas' crashed workers) left.
func (h *Hooks) Run(ctx context.Context) {
	if h == nil || len(h.cfg.Endpoints) == 0 {
		return
	}
	db.RunQueue(ctx, h.cfg.PollInterval, h.wake, h.deliverDue, func(err error) { h.log.Error("webhooks", "error", err.Error()) })
}

// deliverDue sends a batch of due deliveries and reports how many it
// handled. The lease outlasts an attempt, so two workers never send the
// same delivery at once.
func (h *Hooks) deliverDue(ctx context.Context) (int, error) {
	return db.TakeDue(ctx, h.db, h.cfg.Now().UTC(), h.cfg.Timeout+time.Minute, h.deliver)
}

// QueueID is the delivery's id (db.Queued).
func (d *Delivery) QueueID() uuid.UUID { return d.ID }

func (h *Hooks) deliver(ctx context.Context, d *Delivery) {
	err := h.send(ctx, d)
	now := h.cfg.Now().UTC()
	attempts := d.Attempts + 1
	q := h.db.NewUpdate().Model((*Delivery)(nil)).Where("id = ?", d.ID).Set("attempts = ?, locked_until = NULL", attempts)
	outcome := "delivered"
	if err == nil {
		q = q.Set("status = ?, delivered_at = ?, last_error = NULL", StatusDelivered, now)
	} else {
		status := StatusPending
		outcome = "failed"
		if attempts >= h.cfg.MaxAttempts {
			status, outcome = StatusDead, "dead"
		}
		msg := err.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		q = q.Set("status = ?, next_attempt_at = ?, last_error = ?", status, now.Add(h.backoff(attempts)), msg)
		h.log.Warn("webhook delivery failed", "delivery_id", d.ID, "endpoint", d.Endpoint, "event", d.EventType,
			"attempts", attempts, "status", status, "error", msg)
	}
	if h.Outcome != nil {
		h.Outcome(d.Endpoint, outcome)
	}
	// The result must be recorded even when ctx is ending (shutdown).
	if _, uerr := q.Exec(context.WithoutCancel(ctx)); uerr != nil {
		h.log.Error("webhooks: recording a delivery", "delivery_id", d.ID, "error", uerr.Error())
	}
}

// send makes one attempt: a signed POST that a 2xx answer accepts.
func (h *Hooks) send(ctx context.Context, d *Delivery) error {
	var endpoint *Endpoint
	for i := range h.cfg.Endpoints {
		if h.cfg.Endpoints[i].ID == d.Endpoint {
			endpoint = &h.cfg.Endpoints[i]
		}
	}
	if endpoint == nil {
		return fmt.Errorf("endpoint %s is no longer configured", d.Endpoint)
	}
	at := h.cfg.Now()
	signature, err := h.signers[endpoint.ID].Sign(d.ID.String(), at, []byte(d.Payload))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.URL, strings.NewReader(d.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "usergraph-webhooks")
	req.Header.Set(standardwebhooks.HeaderWebhookID, d.ID.String())
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(at.Unix()))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, signature)
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", endpoint.URL, resp.Status)
	}
	return nil
}

// backoff is RetryBase doubled per earlier attempt, at most one hour.
func (h *Hooks) backoff(attempts int) time.Duration { return db.Backoff(h.cfg.RetryBase, attempts) }

// Deliveries lists deliveries, newest first, of status ("" for any), at
// most limit (1 to 100): for admins to see what is dead.
//
// Errors: FORBIDDEN (not an admin), BAD_REQUEST limit, UNAUTHENTICATED.
func (h *Hooks) Deliveries(ctx context.Context, status Status, limit int) ([]*Delivery, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !v.ManagesEveryUser() {
		return nil, apperr.New(apperr.Forbidden, "Only administrators see webhook deliveries.")
	}
	if limit < 1 || limit > 100 {
		return nil, apperr.New(apperr.BadRequest, "first must be 1 to 100.")
	}
	var rows []*Delivery
	q := h.db.NewSelect().Model(&rows).Order("created_at DESC", "id").Limit(int64(limit))
	if status != "" {
		q = q.Where("status = ?", status)
	}
	return rows, q.Scan(ctx)
}

// Counts are the deliveries per status, for metrics.
func (h *Hooks) Counts(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Status string `bun:"status"`
		N      int    `bun:"n"`
	}
	err := h.db.NewSelect().Table("webhook_deliveries").ColumnExpr("status, count(*) AS n").Group("status").Scan(ctx, &rows)
	out := map[string]int{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}
