package account

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/mail"
	"github.com/usergraph/usergraph/internal/media"
	"github.com/usergraph/usergraph/internal/ratelimit"
	"github.com/usergraph/usergraph/internal/testdb"
	"github.com/usergraph/usergraph/internal/wallet"
)

// The account service's package tests run the service itself on a migrated
// database (SQLite and PostgreSQL), with a clock the test moves.

const password = "velvet-Lantern-42"

// clock is a time the test sets.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// fixture is a service with its database and clock.
type fixture struct {
	t     *testing.T
	s     *Service
	db    *bun.DB
	clock *clock
	anon  context.Context // a request from a client address, signed in as nobody
}

func testPolicy() Policy {
	return Policy{RefreshTTL: 7 * 24 * time.Hour, LoginMaxFailures: 3, LoginFailureWindow: 15 * time.Minute,
		LoginLockout: 5 * time.Minute, PerAddressPerMinute: 1000, RefreshPerAddressPerMinute: 1000,
		ResetEmailsPerHour: 3, VerifyEmailsPerHour: 3, BulkProbesPerHour: 20, MyDataPerHour: 10, MFATokenTTL: 5 * time.Minute,
		Links: mail.LinkLifetimes{Setup: 24 * time.Hour, Reset: time.Hour, Verify: 24 * time.Hour}, MFAIssuer: "test",
		AvatarMaxBytes: 1 << 20, AvatarTypes: []string{"image/png"}, AvatarMaxPixels: 1 << 20}
}

// newFixture returns an account service on a fresh database of dbURL's
// dialect; change adjusts the policy.
func newFixture(t *testing.T, dbURL string, change func(*Policy)) *fixture {
	t.Helper()
	conn := testdb.Open(t, dbURL)
	keys, err := auth.LoadOrCreateKeys(filepath.Join(t.TempDir(), "keys.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := auth.NewSealer("a key-encryption key of at least 32 characters")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	auditLog := audit.New(conn, log)
	policy := testPolicy()
	if change != nil {
		change(&policy)
	}
	s := NewService(conn, Deps{
		Tokens:    auth.NewIssuer(keys, "test", "test", 15*time.Minute),
		Passwords: auth.NewHasher(2, 64, 30*time.Second),
		Mail:      mail.NewComposer("http://app.test", policy.Links),
		Outbox:    mail.NewOutbox(conn, mail.FileDriver{Dir: t.TempDir()}, mail.OutboxConfig{Sealer: sealer}, log),
		Log:       log, Audit: auditLog,
		Wallets: wallet.NewService(conn, auditLog, 100, "COIN"),
		Media:   media.Disk{Dir: t.TempDir()}, Sealer: sealer,
		Limiter: ratelimit.New(conn, c.Now), Now: c.Now,
	}, policy)
	anon := auth.WithClient(context.Background(), auth.Client{IP: "192.0.2.7", UserAgent: "account-test"})
	return &fixture{t: t, s: s, db: conn, clock: c, anon: anon}
}

// as returns the request context of u signed in on session sid.
func (f *fixture) as(u *User, sid uuid.UUID) context.Context {
	return auth.WithViewer(f.anon, auth.Viewer{UserID: u.ID, Role: u.Role, Approved: u.IsApproved, SessionID: sid})
}

// register creates a consumer signed in at once and returns its sign-in.
func (f *fixture) register(email, mobile string) *SignIn {
	f.t.Helper()
	in, err := f.s.Register(f.anon, RegisterInput{Email: email, Mobile: mobile, FirstName: "Ann", LastName: "Lee",
		Password: password, PasswordConfirm: password})
	if err != nil {
		f.t.Fatalf("register %s: %v", email, err)
	}
	return in
}

// signedIn returns u's context for a sign-in that has a session.
func (f *fixture) signedIn(in *SignIn) context.Context {
	f.t.Helper()
	claims, err := f.s.tokens.Verify(in.AccessToken)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.as(in.User, claims.SessionID)
}

// code is secret's TOTP code at the test's clock, offset by steps.
func (f *fixture) code(secret string, steps int) string {
	f.t.Helper()
	c, err := totp.GenerateCodeCustom(secret, f.clock.Now().Add(time.Duration(steps*totpPeriod)*time.Second), totpOpts)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// withTotp registers a consumer and turns two-factor sign-in on; it
// returns the user, the authenticator secret and the recovery codes.
func (f *fixture) withTotp(email, mobile string) (*User, string, []string) {
	f.t.Helper()
	in := f.register(email, mobile)
	ctx := f.signedIn(in)
	e, err := f.s.EnrollTotp(ctx, password, "")
	if err != nil {
		f.t.Fatal(err)
	}
	codes, err := f.s.ConfirmTotp(ctx, f.code(e.Secret, 0))
	if err != nil {
		f.t.Fatal(err)
	}
	f.clock.Advance(totpPeriod * time.Second) // the confirming code is spent
	return in.User, e.Secret, codes
}

// mfaToken signs email in with the password and returns the mfaToken.
func (f *fixture) mfaToken(email string) string {
	f.t.Helper()
	in, err := f.s.Login(f.anon, email, password)
	if err != nil || in.MFAToken == "" {
		f.t.Fatalf("login of %s: %+v %v, want an mfaToken", email, in, err)
	}
	return in.MFAToken
}

// code returns err's first code, or "".
func codeOf(err error) apperr.Code {
	if coded := apperr.Errors(err); len(coded) > 0 {
		return coded[0].Code
	}
	return ""
}

// count runs a count query.
func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.db.NewRaw(query, args...).Scan(context.Background(), &n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}
