package account

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/social"
	"github.com/usergraph/usergraph/internal/validate"
)

// Signing in with another identity provider (OpenID Connect, GitHub):
//
//  1. startSocialSignIn (or linkIdentity, signed in) keeps a flow and
//     answers {PUBLIC_URL}/auth/start/{flow}: the app sends the browser there.
//  2. /auth/start binds the flow to that browser (a cookie whose hash the
//     flow keeps), makes its state, nonce and PKCE verifier, and sends the
//     browser to the provider (SocialAuthorization).
//  3. The provider returns to /auth/callback/{provider}: the state finds
//     the flow, the cookie must match it, the code is exchanged and the ID
//     token verified (package social), and the browser goes back to the
//     app's redirectTo with a one-time code, or with ?error=CODE
//     (SocialCallback).
//  4. The app redeems the code with completeSocialSignIn: here the account
//     is found, created or linked, and the sign-in ends as every sign-in
//     does (finishSignIn).
//
// Each step spends what the one before left, once.

// Lifetimes of a flow: until the provider answers, and then of its code.
const (
	SocialFlowTTL = 10 * time.Minute
	SocialCodeTTL = 2 * time.Minute
)

// MethodSocial is the sign-in method of another provider; the audit event
// names the provider too ("social:acme").
const MethodSocial Method = "social"

// Identity is an account at another provider linked to a user.
type Identity struct {
	bun.BaseModel `bun:"table:identities"`

	ID         uuid.UUID  `bun:"id,pk,type:uuid"`
	UserID     uuid.UUID  `bun:"user_id,type:uuid"`
	Provider   string     `bun:"provider"`
	Subject    string     `bun:"subject"`
	Email      string     `bun:"email"`
	CreatedAt  time.Time  `bun:"created_at"`
	LastUsedAt *time.Time `bun:"last_used_at"`
}

// socialFlow is a sign-in at another provider under way.
type socialFlow struct {
	bun.BaseModel `bun:"table:social_flows"`

	ID          uuid.UUID  `bun:"id,pk,type:uuid"`
	Provider    string     `bun:"provider"`
	StateHash   *string    `bun:"state_hash"`
	NonceHash   *string    `bun:"nonce_hash"`
	Verifier    *string    `bun:"verifier"`
	RedirectTo  string     `bun:"redirect_to"`
	UserID      *uuid.UUID `bun:"user_id,type:uuid"`
	BindingHash *string    `bun:"binding_hash"`
	Answered    bool       `bun:"answered"`
	CodeHash    *string    `bun:"code_hash"`
	Claims      *string    `bun:"claims"`
	ExpiresAt   time.Time  `bun:"expires_at"`
}

// ProviderInfo is a provider as sign-in pages show it.
type ProviderInfo struct{ ID, Name string }

// Error codes of social sign-in.
var (
	errProviderUnavailable = apperr.OnField("provider", apperr.ProviderUnavailable,
		"This sign-in provider is not available now. Try again later or sign in another way.")
	errRedirectNotAllowed = apperr.OnField("redirectTo", apperr.Invalid,
		"redirectTo must be a page of the app (APP_URL or SIGNIN_REDIRECT_URLS).")
	errBadSocialCode = apperr.OnField("code", apperr.InvalidToken,
		"This sign-in has expired or was used already. Start it again.")
)

// SignInProviders are the configured providers, in order.
func (s *Service) SignInProviders() []ProviderInfo {
	var out []ProviderInfo
	for _, p := range s.providers.List() {
		out = append(out, ProviderInfo{ID: p.ID, Name: p.Name})
	}
	return out
}

// StartSocialSignIn starts signing in with provider and returns where to
// send the browser; it comes back to redirectTo (a page of the app).
//
// Errors: PROVIDER_UNAVAILABLE provider, INVALID redirectTo, RateLimited.
func (s *Service) StartSocialSignIn(ctx context.Context, provider, redirectTo string) (string, error) {
	if err := s.socialAttempt(ctx); err != nil {
		return "", err
	}
	return s.startSocial(ctx, provider, redirectTo, nil)
}

// socialAttempt counts one step of a social sign-in for the client's
// address (like password sign-ins).
func (s *Service) socialAttempt(ctx context.Context) error {
	_, err := s.take(ctx, addressKey(ctx, "social"), s.limits.loginPerIP)
	return err
}

// LinkIdentity starts linking the caller's account at provider to the
// caller: the same flow as StartSocialSignIn, redeemed by the same user.
// Like adding a passkey, it asks for the password unless the session is
// fresh (recentOrPassword).
//
// Errors: those of StartSocialSignIn, REQUIRED or INVALID_CREDENTIALS
// password, UNAUTHENTICATED.
func (s *Service) LinkIdentity(ctx context.Context, provider, redirectTo, password string) (string, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return "", err
	}
	if err := s.socialAttempt(ctx); err != nil {
		return "", err
	}
	u, err := s.recentOrPassword(ctx, v, password, "link an account")
	if err != nil {
		return "", err
	}
	return s.startSocial(ctx, provider, redirectTo, &u.ID)
}

// startSocial keeps a flow for provider, returning to redirectTo, for a
// sign-in (userID nil) or a link to userID.
func (s *Service) startSocial(ctx context.Context, provider, redirectTo string, userID *uuid.UUID) (string, error) {
	if _, err := s.providers.Get(provider); err != nil {
		return "", apperr.List{errProviderUnavailable}
	}
	if !s.redirectAllowed(redirectTo) {
		return "", apperr.List{errRedirectNotAllowed}
	}
	f := &socialFlow{ID: uuid.New(), Provider: provider, RedirectTo: redirectTo, UserID: userID,
		ExpiresAt: s.now().Add(SocialFlowTTL)}
	if _, err := s.db.NewInsert().Model(f).Exec(ctx); err != nil {
		return "", err
	}
	return s.policy.SocialBase + "/auth/start/" + f.ID.String(), nil
}

// redirectAllowed reports whether raw is a page under APP_URL or one of
// SIGNIN_REDIRECT_URLS: same scheme and host, and a path below theirs.
func (s *Service) redirectAllowed(raw string) bool {
	if len(raw) > 2048 || strings.ContainsAny(raw, "\\\x00\r\n\t ") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	for _, allowed := range s.policy.SocialRedirects {
		a, err := url.Parse(allowed)
		if err != nil || !strings.EqualFold(a.Scheme, u.Scheme) || !strings.EqualFold(a.Host, u.Host) {
			continue
		}
		base := strings.TrimSuffix(a.Path, "/")
		if u.Path == base || strings.HasPrefix(u.Path, base+"/") {
			return true
		}
	}
	return false
}

// SocialAuthorization binds flow to the browser that opened
// /auth/start/{flow}, once: it returns the cookie value that proves it
// (binding) and the provider's authorization URL to send the browser to.
// A flow that is unknown, expired or bound already gives INVALID_TOKEN.
func (s *Service) SocialAuthorization(ctx context.Context, flowID uuid.UUID) (binding, authURL string, err error) {
	if err := s.socialAttempt(ctx); err != nil {
		return "", "", err
	}
	f := new(socialFlow)
	if err := s.db.NewSelect().Model(f).Where("id = ? AND expires_at > ?", flowID, s.now()).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", "", apperr.List{errBadSocialCode}
		}
		return "", "", err
	}
	p, err := s.providers.Get(f.Provider)
	if err != nil {
		return "", "", apperr.List{errProviderUnavailable}
	}
	binding, state, nonce, verifier := auth.NewOpaqueToken(), auth.NewOpaqueToken(), auth.NewOpaqueToken(), auth.NewOpaqueToken()
	res, err := s.db.NewUpdate().Model(f).
		Set("binding_hash = ?, state_hash = ?, nonce_hash = ?, verifier = ?", auth.HashToken(binding),
			auth.HashToken(state), auth.HashToken(nonce), s.sealer.Seal([]byte(verifier), "social_flow:"+f.ID.String())).
		Where("id = ? AND binding_hash IS NULL", f.ID).Exec(ctx)
	if err != nil {
		return "", "", err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", "", apperr.List{errBadSocialCode}
	}
	return binding, p.AuthCodeURL(state, nonce, verifier), nil
}

// SocialCallback handles the provider's return to
// /auth/callback/{provider}: state finds the flow, binding (the cookie of
// the browser, looked up by the flow's id) must be the one /auth/start set,
// the code is exchanged and the answer verified. It returns where to send
// the browser: the flow's redirectTo with ?code= (for
// completeSocialSignIn), or with ?error= and one of INVALID_STATE,
// ACCESS_DENIED, PROVIDER_REFUSED, PROVIDER_UNAVAILABLE, RATE_LIMITED,
// SERVER_ERROR (APP_URL when the flow is unknown). Nothing it answers is a
// bare error page.
func (s *Service) SocialCallback(ctx context.Context, provider, state, code, providerError string, binding func(flowID uuid.UUID) string) string {
	fail := func(to, errCode, why string, err error) string {
		if errCode != "RATE_LIMITED" {
			details := map[string]any{"provider": provider, "reason": why}
			if err != nil {
				details["error"] = err.Error()
			}
			if rerr := s.audit.Record(ctx, s.db, audit.Entry{Action: audit.SocialSignInFailed, Details: details}); rerr != nil {
				s.log.ErrorContext(ctx, "social sign-in: recording a failure", "error", rerr)
			}
		}
		return withQuery(to, "error", errCode)
	}
	home := s.policy.SocialRedirects[0]
	if err := s.socialAttempt(ctx); err != nil {
		return fail(home, "RATE_LIMITED", "", nil)
	}
	f := new(socialFlow)
	err := s.db.NewSelect().Model(f).Where("state_hash = ? AND provider = ?", auth.HashToken(state), provider).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows) || state == "":
		return fail(home, "INVALID_STATE", "unknown state", nil)
	case err != nil:
		s.log.ErrorContext(ctx, "social sign-in: reading the flow", "error", err)
		return withQuery(home, "error", "SERVER_ERROR")
	case !f.ExpiresAt.After(s.now()):
		return fail(f.RedirectTo, "INVALID_STATE", "expired flow", nil)
	case f.BindingHash == nil || subtle.ConstantTimeCompare([]byte(auth.HashToken(binding(f.ID))), []byte(*f.BindingHash)) != 1:
		return fail(f.RedirectTo, "INVALID_STATE", "another browser than the one that started the flow", nil)
	}
	// The state is spent here, whatever follows.
	res, err := s.db.NewUpdate().Model(f).Set("answered = ?", true).Where("id = ? AND NOT answered", f.ID).Exec(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "social sign-in: spending the state", "error", err)
		return withQuery(f.RedirectTo, "error", "SERVER_ERROR")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fail(f.RedirectTo, "INVALID_STATE", "state used already", nil)
	}
	if providerError != "" {
		return fail(f.RedirectTo, "ACCESS_DENIED", "the provider answered "+truncate(providerError, 64), nil)
	}
	p, err := s.providers.Get(f.Provider)
	if err != nil {
		return fail(f.RedirectTo, "PROVIDER_UNAVAILABLE", "provider unavailable", nil)
	}
	verifier, err := s.sealer.Open(*f.Verifier, "social_flow:"+f.ID.String())
	if err != nil {
		return fail(f.RedirectTo, "SERVER_ERROR", "the flow's verifier does not open", err)
	}
	claims, err := p.Exchange(ctx, code, string(verifier), func(nonce string) bool {
		return subtle.ConstantTimeCompare([]byte(auth.HashToken(nonce)), []byte(*f.NonceHash)) == 1
	})
	if errors.Is(err, social.ErrRefused) {
		return fail(f.RedirectTo, "PROVIDER_REFUSED", "the provider's answer was refused", err)
	}
	if err != nil || claims.Subject == "" {
		return fail(f.RedirectTo, "PROVIDER_UNAVAILABLE", "the provider could not be reached", err)
	}
	raw, _ := json.Marshal(claims)
	one := auth.NewOpaqueToken()
	_, err = s.db.NewUpdate().Model(f).Set("code_hash = ?, claims = ?, expires_at = ?", auth.HashToken(one), string(raw), s.now().Add(SocialCodeTTL)).
		Where("id = ?", f.ID).Exec(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "social sign-in: keeping the answer", "error", err)
		return withQuery(f.RedirectTo, "error", "SERVER_ERROR")
	}
	return withQuery(f.RedirectTo, "code", one)
}

// CompleteSocialSignIn redeems the one-time code a social sign-in
// returned with. A sign-in flow signs the person in: by the identity
// linked before; or, new to this server, a new consumer account (verified
// when the provider says the email is); or, when an account has the email,
// that account, linked now, only when the provider asserts the email is
// verified and the account has confirmed it too (otherwise ACCOUNT_EXISTS:
// sign in another way and use linkIdentity). A link flow (linkIdentity)
// links the identity to the signed-in user who started it and answers the
// user without new tokens. The sign-in ends as every sign-in does
// (finishSignIn): deactivated accounts are refused, a second factor is
// asked for where on.
//
// Errors: INVALID_TOKEN code, ACCOUNT_EXISTS, IDENTITY_IN_USE, DUPLICATE
// (a link to the provider already), INVALID (the provider shared no usable
// email), finishSignIn's, RateLimited.
func (s *Service) CompleteSocialSignIn(ctx context.Context, code string) (*SignIn, error) {
	if err := s.socialAttempt(ctx); err != nil {
		return nil, err
	}
	if code == "" || len(code) > 128 {
		return nil, apperr.List{errBadSocialCode}
	}
	var rows []socialFlow
	if err := s.db.NewDelete().Model(&rows).Where("code_hash = ?", auth.HashToken(code)).Returning("*").Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(rows) != 1 || !rows[0].ExpiresAt.After(s.now()) || rows[0].Claims == nil {
		return nil, apperr.List{errBadSocialCode}
	}
	f := rows[0]
	var c social.Claims
	if err := json.Unmarshal([]byte(*f.Claims), &c); err != nil {
		return nil, err
	}
	if f.UserID != nil {
		return s.completeLink(ctx, f, c)
	}
	method := MethodSocial + Method(":"+f.Provider)
	known := new(Identity)
	err := s.db.NewSelect().Model(known).Where("provider = ? AND subject = ?", f.Provider, c.Subject).Scan(ctx)
	if err == nil {
		u, err := s.UserByID(ctx, known.UserID)
		if err != nil {
			return nil, err
		}
		return s.finishSignIn(ctx, proof{user: u, method: method, writes: func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.NewUpdate().Model(known).Set("last_used_at = ?, email = ?", s.now(), truncate(c.Email, 254)).WherePK().Exec(ctx)
			return err
		}})
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	key, ok := validate.EmailKey(c.Email)
	if !ok || len(c.Email) > 254 {
		return nil, apperr.List{apperr.OnField("code", apperr.Invalid,
			"The provider did not share a usable email address. Sign up with your email instead.")}
	}
	identity := &Identity{ID: uuid.New(), Provider: f.Provider, Subject: c.Subject, Email: c.Email, CreatedAt: s.now()}
	link := func(u *User) func(ctx context.Context, tx bun.Tx) error {
		return func(ctx context.Context, tx bun.Tx) error {
			identity.UserID, identity.LastUsedAt = u.ID, &identity.CreatedAt
			return s.insertIdentity(ctx, tx, identity, u.ID)
		}
	}
	existing := new(User)
	err = s.db.NewSelect().Model(existing).Where("email_key = ?", key).Scan(ctx)
	switch {
	case err == nil && c.EmailVerified && existing.IsVerified:
		return s.finishSignIn(ctx, proof{user: existing, method: method, writes: link(existing)})
	case err == nil:
		if err := s.audit.Record(ctx, s.db, audit.Entry{Action: audit.SocialSignInFailed, Target: &existing.ID,
			Details: map[string]any{"provider": f.Provider, "reason": "an account has the email; not linked automatically"}}); err != nil {
			return nil, err
		}
		return nil, apperr.List{apperr.OnField("code", apperr.AccountExists,
			"An account with this email exists. Sign in to it another way, then link this provider from your account.")}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	now := s.now()
	u := &User{
		ID: uuid.New(), Email: c.Email, EmailKey: key, FirstName: name(c.GivenName), LastName: name(c.FamilyName),
		Role: auth.RoleB2CUser, IsActive: true, IsApproved: true, IsVerified: c.EmailVerified,
		DateJoined: now, UpdatedAt: now,
	}
	return s.finishSignIn(ctx, proof{user: u, method: method, signUp: true,
		writes: func(ctx context.Context, tx bun.Tx) error {
			if err := insertUser(ctx, tx, u); err != nil {
				return err
			}
			if err := s.created(ctx, tx, u); err != nil {
				return err
			}
			if err := link(u)(ctx, tx); err != nil {
				return err
			}
			if u.IsVerified {
				return nil
			}
			return s.sendVerification(ctx, tx, u)
		}})
}

// completeLink links the identity of a linkIdentity flow to the user who
// started it, who must be the caller.
func (s *Service) completeLink(ctx context.Context, f socialFlow, c social.Claims) (*SignIn, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil || v.UserID != *f.UserID {
		return nil, apperr.List{errBadSocialCode}
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	identity := &Identity{ID: uuid.New(), UserID: u.ID, Provider: f.Provider, Subject: c.Subject,
		Email: truncate(c.Email, 254), CreatedAt: now, LastUsedAt: &now}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error { return s.insertIdentity(ctx, tx, identity, v.UserID) })
	if err != nil {
		return nil, err
	}
	return &SignIn{User: u}, nil
}

// insertIdentity links identity inside tx and records it (actor: actor).
func (s *Service) insertIdentity(ctx context.Context, tx bun.Tx, identity *Identity, actor uuid.UUID) error {
	if _, err := tx.NewInsert().Model(identity).Exec(ctx); err != nil {
		switch {
		case db.IsUniqueViolation(err, "subject"):
			return apperr.List{apperr.OnField("code", apperr.IdentityInUse,
				"This account at the provider is linked to another user already.")}
		case db.IsUniqueViolation(err, "user_id"), db.IsUniqueViolation(err, "provider"):
			return apperr.List{apperr.OnField("code", apperr.Duplicate,
				"An account at this provider is linked already: unlink it first.")}
		}
		return err
	}
	return s.audit.Record(ctx, tx, audit.Entry{Action: audit.IdentityLinked, Actor: &actor, Target: &identity.UserID,
		Details: map[string]any{"identityId": identity.ID.String(), "provider": identity.Provider}})
}

// IdentitiesOf returns the linked identities of each user, oldest first.
func (s *Service) IdentitiesOf(ctx context.Context, userIDs []uuid.UUID) (map[uuid.UUID][]*Identity, error) {
	return ownedBy(ctx, s.db, userIDs, func(i *Identity) uuid.UUID { return i.UserID })
}

// ProviderName is the display name of a configured provider, or its id.
func (s *Service) ProviderName(id string) string {
	for _, p := range s.providers.List() {
		if p.ID == id {
			return p.Name
		}
	}
	return id
}

// UnlinkIdentity removes one of the caller's linked identities, unless it
// is the last way to sign in.
//
// Errors: NOT_FOUND id, LAST_SIGN_IN_METHOD, UNAUTHENTICATED.
func (s *Service) UnlinkIdentity(ctx context.Context, id uuid.UUID) error {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return err
	}
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		var gone []Identity
		if err := tx.NewDelete().Model(&gone).Where("id = ? AND user_id = ?", id, v.UserID).Returning("*").Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(gone) != 1 {
			return apperr.List{apperr.OnField("id", apperr.NotFound, "No such linked account.")}
		}
		if err := s.keepsAWayIn(ctx, tx, v.UserID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.IdentityUnlinked, Actor: &v.UserID, Target: &v.UserID,
			Details: map[string]any{"identityId": id.String(), "provider": gone[0].Provider}})
	})
}

// withQuery returns raw with the query parameter k set to v.
func withQuery(raw, k, v string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

// name is a provider's name part as a user's: trimmed, at most 150
// characters, no control characters.
func name(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	return truncate(s, 150)
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
