package account

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/mail"
	"github.com/usergraph/usergraph/internal/media"
	"github.com/usergraph/usergraph/internal/ratelimit"
	"github.com/usergraph/usergraph/internal/social"
	"github.com/usergraph/usergraph/internal/wallet"
)

// limits are the rate-limit rules of the account flows, made from Policy.
type limits struct {
	loginPerAccount       ratelimit.Rule // locks an email after repeated failed logins
	loginPerIP            ratelimit.Rule // logins from one client address
	passwordChangePerUser ratelimit.Rule // old-password guesses of changePassword
	tokenPerIP            ratelimit.Rule // setup and reset link uses (token guesses) from one address
	registerPerIP         ratelimit.Rule
	refreshPerIP          ratelimit.Rule
	resetPerIP            ratelimit.Rule
	resetPerEmail         ratelimit.Rule // reset emails to one address
	bulkProbes            ratelimit.Rule // bulk calls meeting addresses outside the caller's users
	exports               ratelimit.Rule // data exports by one user
	verifyPerUser         ratelimit.Rule // confirmation emails asked for by one user
}

// Policy is the account settings (config.Config fills it; .env.example
// says what each limit counts).
type Policy struct {
	// SocialBase is this server's origin as identity providers and
	// browsers reach it (PUBLIC_URL): /auth/start and /auth/callback hang
	// below it. SocialRedirects are where a social sign-in may return to:
	// APP_URL first, then SIGNIN_REDIRECT_URLS.
	SocialBase      string
	SocialRedirects []string
	// MetadataMaxBytes bounds each of a user's app and user metadata;
	// MetadataInToken copies app metadata into access tokens.
	MetadataMaxBytes int
	MetadataInToken  bool
	RefreshTTL       time.Duration
	// LoginMaxFailures password checks per email (and second-factor codes
	// and password confirmations per user) in LoginFailureWindow before a
	// lock of LoginLockout, which doubles on repeated locks.
	LoginMaxFailures   int
	LoginFailureWindow time.Duration
	LoginLockout       time.Duration
	// PerAddressPerMinute bounds each sign-in mutation per client address;
	// RefreshPerAddressPerMinute bounds refreshToken.
	PerAddressPerMinute        int
	RefreshPerAddressPerMinute int
	// ResetEmailsPerHour per address, VerifyEmailsPerHour per user.
	ResetEmailsPerHour  int
	VerifyEmailsPerHour int
	// BulkProbesPerHour bounds a B2B admin's creations that meet addresses
	// of accounts outside its users.
	BulkProbesPerHour int
	// MyDataPerHour bounds a user's data exports.
	MyDataPerHour int
	// MFATokenTTL is how long the first step of a two-factor sign-in waits
	// for its code.
	MFATokenTTL time.Duration
	// Links are how long setup, reset and email-confirmation links work.
	Links mail.LinkLifetimes
	// RequireVerifiedEmail refuses sign-in to B2C users whose email is not
	// confirmed.
	RequireVerifiedEmail bool
	// MFAIssuer names the service in authenticator apps.
	MFAIssuer string
	// AvatarMaxBytes and AvatarTypes limit avatar uploads (types by content sniffing).
	AvatarMaxBytes int64
	AvatarTypes    []string
	// AvatarMaxPixels bounds width × height, read from the image's header.
	AvatarMaxPixels int64
}

func (p Policy) limits() limits {
	perIP := ratelimit.Rule{Limit: p.PerAddressPerMinute, Window: time.Minute}
	perAccount := ratelimit.Rule{Limit: p.LoginMaxFailures, Window: p.LoginFailureWindow, Lockout: p.LoginLockout}
	hourly := func(n int) ratelimit.Rule { return ratelimit.Rule{Limit: n, Window: time.Hour} }
	return limits{
		loginPerAccount: perAccount, loginPerIP: perIP, passwordChangePerUser: perAccount, tokenPerIP: perIP,
		registerPerIP: perIP, refreshPerIP: ratelimit.Rule{Limit: p.RefreshPerAddressPerMinute, Window: time.Minute},
		resetPerIP: perIP, resetPerEmail: hourly(p.ResetEmailsPerHour),
		bulkProbes: hourly(p.BulkProbesPerHour), verifyPerUser: hourly(p.VerifyEmailsPerHour), exports: hourly(p.MyDataPerHour),
	}
}

// Deps are the services the account service uses.
type Deps struct {
	Tokens *auth.Issuer
	// Passwords hashes and checks passwords within a bound on concurrent work.
	Passwords *auth.Hasher
	Mail      mail.Composer
	// Outbox queues emails in the change's transaction and sends them after.
	Outbox  *mail.Outbox
	Log     *slog.Logger
	Audit   *audit.Log
	Wallets *wallet.Service
	Media   media.Store
	// Sealer keeps authenticator secrets encrypted at rest.
	Sealer *auth.Sealer
	// Limiter counts attempts (the rate limits of Policy).
	Limiter *ratelimit.Limiter
	// Passkeys is the relying party of passkeys (NewWebAuthn).
	Passkeys *webauthn.WebAuthn
	// Providers are the other identity providers people may sign in with.
	Providers *social.Registry
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
}

// Service is the account service. Its methods take the caller from the
// context (auth.SignedIn) and return *apperr.Error or apperr.List for
// problems a user can act on.
type Service struct {
	db        *bun.DB
	limiter   *ratelimit.Limiter
	now       func() time.Time
	tokens    *auth.Issuer
	passwords *auth.Hasher
	mail      mail.Composer
	outbox    *mail.Outbox
	log       *slog.Logger
	audit     *audit.Log
	wallets   *wallet.Service
	media     media.Store
	sealer    *auth.Sealer
	passkeys  *webauthn.WebAuthn
	providers *social.Registry
	// passkeyChecked, in tests, runs between a passkey answer's check and
	// the sign-in's writes: where a racing sign-in would slip in.
	passkeyChecked func()
	policy         Policy
	limits         limits
}

// NewService returns the account service.
func NewService(database *bun.DB, deps Deps, policy Policy) *Service {
	now := time.Now
	if deps.Now != nil {
		now = deps.Now
	}
	return &Service{
		db: database, limiter: deps.Limiter, now: func() time.Time { return now().UTC() },
		tokens: deps.Tokens, passwords: deps.Passwords, mail: deps.Mail, outbox: deps.Outbox, log: deps.Log,
		audit: deps.Audit, wallets: deps.Wallets, media: deps.Media, sealer: deps.Sealer, passkeys: deps.Passkeys, providers: deps.Providers, policy: policy, limits: policy.limits(),
	}
}

// UserByID returns the user with id, or a NotFound error.
func (s *Service) UserByID(ctx context.Context, id uuid.UUID) (*User, error) {
	u := new(User)
	err := s.db.NewSelect().Model(u).Where("u.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUnknownUser
	}
	return u, err
}

var errUnknownUser = apperr.New(apperr.NotFound, "No such user.")

// Me returns the signed-in caller: the row Authenticate read for this
// request (queries do not change it), or a fresh one.
func (s *Service) Me(ctx context.Context) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	if u, ok := ctx.Value(signedInKey{}).(*User); ok && u.ID == v.UserID {
		me := *u
		return &me, nil
	}
	return s.UserByID(ctx, v.UserID)
}

// created opens the wallets of new users and records their creation, inside
// the transaction that inserts them.
func (s *Service) created(ctx context.Context, tx bun.IDB, users ...*User) error {
	ids := make([]uuid.UUID, len(users))
	entries := make([]audit.Entry, len(users))
	for i, u := range users {
		ids[i] = u.ID
		entries[i] = audit.Entry{Action: audit.AccountCreated, Target: &u.ID, Details: map[string]any{"role": u.Role}}
		if u.CreatedByID == nil {
			entries[i].Actor = &u.ID // self-registered (or CLI admin): no other actor
		}
	}
	if err := s.wallets.Open(ctx, tx, ids...); err != nil {
		return err
	}
	return s.audit.Record(ctx, tx, entries...)
}

// take counts one attempt for key under rule, before the work it guards,
// and returns RATE_LIMITED when the attempt may not go ahead.
func (s *Service) take(ctx context.Context, key string, rule ratelimit.Rule) (ratelimit.Verdict, error) {
	v, err := s.limiter.Take(ctx, key, rule)
	if err == nil && v.Wait > 0 {
		err = &apperr.Error{Code: apperr.RateLimited, Message: "Too many attempts. Try again later.", RetryAfter: v.Wait}
	}
	return v, err
}

// The names of the rate-limit counters. Those named after a person (an
// email, a user id) are erased with the account (personalCounters).

// addressKey names the counter of flow for the request's client address
// (its /64 for IPv6).
func addressKey(ctx context.Context, flow string) string {
	return flow + ":ip:" + ratelimit.Address(auth.ClientFrom(ctx).IP)
}

// loginKey names the sign-in counter of an email key.
func loginKey(emailKey string) string { return "login:email:" + emailKey }

// resetKey names the counter of reset emails to an email key.
func resetKey(emailKey string) string { return "reset:email:" + emailKey }

// userFlows are the flows counted per user (counterOf).
var userFlows = [...]string{"password", "mfa", "passkey", "verify", "bulk", "export"}

// counterOf names the counter of flow for a user: "password" (password
// confirmations), "mfa" (second-factor codes), "passkey" (passkey
// sign-ins), "verify" (confirmation
// emails), "bulk" (bulk creations meeting others' addresses), "export"
// (data exports).
func counterOf(flow string, userID uuid.UUID) string { return flow + ":user:" + userID.String() }

// personalCounters are the counters named after p.
func personalCounters(emailKey string, userID uuid.UUID) []string {
	keys := []string{loginKey(emailKey), resetKey(emailKey)}
	for _, flow := range userFlows {
		keys = append(keys, counterOf(flow, userID))
	}
	return keys
}

// refundIfBusy takes back the attempts counted for keys when err says the
// password check never ran (the server was too busy, or the request ended
// while it waited), so a burst does not lock anyone out.
func (s *Service) refundIfBusy(ctx context.Context, err error, keys ...string) error {
	coded := apperr.Errors(err)
	busy := len(coded) == 1 && coded[0].Code == apperr.RateLimited
	if !busy && ctx.Err() == nil {
		return err
	}
	// The request's own context may have ended; the refund should still
	// land. It is bookkeeping: one that fails (behind a transaction pooler
	// a connection cut with the request can fail the first try) is tried
	// once more, then logged, and the attempt stays counted, the safe side.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, k := range keys {
		rerr := s.limiter.Refund(rctx, k)
		if rerr != nil {
			rerr = s.limiter.Refund(rctx, k)
		}
		if rerr != nil {
			s.log.WarnContext(ctx, "an attempt could not be refunded; it stays counted", "error", rerr)
		}
	}
	return err
}

// insertUser adds u, reporting a taken email or mobile as Duplicate field errors.
func insertUser(ctx context.Context, idb bun.IDB, u *User) error {
	_, err := idb.NewInsert().Model(u).Exec(ctx)
	return uniqueToFieldErrors(err)
}

// The errors for an email or mobile that another account uses.
var (
	errEmailTaken  = apperr.OnField("email", apperr.Duplicate, "A user with this email already exists.")
	errMobileTaken = apperr.OnField("mobile", apperr.Duplicate, "A user with this mobile number already exists.")
)

// uniqueToFieldErrors reports a unique-index failure on users as the field
// error a form shows; a concurrent writer can take an email between the
// check and the insert.
func uniqueToFieldErrors(err error) error {
	switch {
	case db.IsUniqueViolation(err, "email_key"):
		return apperr.List{errEmailTaken}
	case db.IsUniqueViolation(err, "mobile"):
		return apperr.List{errMobileTaken}
	}
	return err
}

// takenBy returns which of the email keys and mobiles accounts already use,
// each with the account's creator (nil for none), in one query. The unique
// indexes remain the guarantee under concurrent writes (see
// uniqueToFieldErrors).
func takenBy(ctx context.Context, idb bun.IDB, emailKeys, mobiles []string) (emails, phones map[string]*uuid.UUID, err error) {
	var taken []User
	err = idb.NewSelect().Model(&taken).Column("email_key", "mobile", "created_by_id").
		Where("email_key IN (?) OR mobile IN (?)", bun.List(emailKeys), bun.List(mobiles)).Scan(ctx)
	emails, phones = map[string]*uuid.UUID{}, map[string]*uuid.UUID{}
	for _, u := range taken {
		emails[u.EmailKey], phones[u.Mobile] = u.CreatedByID, u.CreatedByID
	}
	return emails, phones, err
}

// checkNewAccount validates a form that creates an account, together with
// more problems found by the caller (the password rules), then reports an
// email or mobile that another account uses; every problem at once.
func checkNewAccount(ctx context.Context, idb bun.IDB, form any, email, mobile string, more apperr.List) error {
	if problems := append(check(form), more...); len(problems) > 0 {
		return problems
	}
	emails, phones, err := takenBy(ctx, idb, []string{EmailKey(email)}, []string{mobile})
	if err != nil {
		return err
	}
	var taken apperr.List
	if _, ok := emails[EmailKey(email)]; ok {
		taken = append(taken, errEmailTaken)
	}
	if _, ok := phones[mobile]; ok {
		taken = append(taken, errMobileTaken)
	}
	return taken.Err()
}
