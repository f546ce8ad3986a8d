package account

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
)

// Passkeys: a sign-in method (WebAuthn, with go-webauthn doing every check
// of the browser's answers). A passkey is registered by a signed-in user
// and then signs in on its own: it is both factors, since every passkey is
// asked for user verification (a PIN or biometric on the device).
//
// Each ceremony is two calls: start stores a challenge in the database
// (any replica finishes it; single use, PasskeyChallengeTTL), finish
// checks the browser's answer against it. A sign-in may name an email,
// which binds the challenge to that account's passkeys; the start looks
// nothing up either way, so its answer is the same for every email.

// PasskeyChallengeTTL is how long a started passkey ceremony may be finished.
const PasskeyChallengeTTL = 5 * time.Minute

// FreshSignIn is how recently a session must have started for a passkey to
// be added without the password.
const FreshSignIn = 5 * time.Minute

// MaxPasskeys bounds one user's passkeys.
const MaxPasskeys = 20

// maxCredentialBytes bounds the browser's answer a finish accepts.
const maxCredentialBytes = 64 << 10

// Passkey is a registered WebAuthn credential: its public key, never a secret.
type Passkey struct {
	bun.BaseModel `bun:"table:passkeys"`

	ID              uuid.UUID  `bun:"id,pk,type:uuid"`
	UserID          uuid.UUID  `bun:"user_id,type:uuid"`
	CredentialID    string     `bun:"credential_id"` // base64url, unpadded
	PublicKey       []byte     `bun:"public_key"`    // COSE
	AttestationType string     `bun:"attestation_type"`
	AAGUID          []byte     `bun:"aaguid"`
	SignCount       int64      `bun:"sign_count"`
	BackupEligible  bool       `bun:"backup_eligible"`
	BackupState     bool       `bun:"backup_state"`
	Transports      string     `bun:"transports"` // comma-separated
	Name            string     `bun:"name"`
	CreatedAt       time.Time  `bun:"created_at"`
	LastUsedAt      *time.Time `bun:"last_used_at"`
}

type passkeyChallenge struct {
	bun.BaseModel `bun:"table:passkey_challenges"`

	ID        uuid.UUID  `bun:"id,pk,type:uuid"`
	Kind      string     `bun:"kind"`
	UserID    *uuid.UUID `bun:"user_id,type:uuid"`
	EmailKey  *string    `bun:"email_key"`
	Challenge string     `bun:"challenge"`
	Session   string     `bun:"session"`
	ExpiresAt time.Time  `bun:"expires_at"`
}

const (
	ceremonyRegister = "register"
	ceremonySignIn   = "signin"
)

var (
	errPasskeyAnswer       = apperr.OnField("credential", apperr.Invalid, "This is not a passkey answer: send what navigator.credentials returned, as JSON.")
	errRegistrationExpired = apperr.OnField("credential", apperr.InvalidToken, "This passkey registration was not started, has expired or was finished already. Start again.")
	errSignInExpired       = apperr.OnField("challengeId", apperr.InvalidToken, "This passkey sign-in has expired or was finished already. Start again.")
	errPasskeyRefused      = apperr.New(apperr.InvalidCredentials, "This passkey cannot sign in here.")
	errNoPasskey           = apperr.List{apperr.OnField("id", apperr.NotFound, "No such passkey.")}
	errPasskeysOff         = apperr.New(apperr.BadRequest, "Passkeys are not set up on this server (WEBAUTHN_RP_ID).")
	errTooManyPasskeys     = apperr.New(apperr.Invalid, fmt.Sprintf("An account holds at most %d passkeys: remove one first.", MaxPasskeys))
)

// NewWebAuthn is the relying party of passkeys: rpID the domain they
// belong to, origins the pages that may use them, name what devices show.
func NewWebAuthn(rpID, name string, origins []string) (*webauthn.WebAuthn, error) {
	return webauthn.New(&webauthn.Config{
		RPID: rpID, RPDisplayName: name, RPOrigins: origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		},
		// The browser's own timeout; the database enforces the challenge's
		// lifetime with the service's clock.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: PasskeyChallengeTTL, TimeoutUVD: PasskeyChallengeTTL},
			Registration: webauthn.TimeoutConfig{Timeout: PasskeyChallengeTTL, TimeoutUVD: PasskeyChallengeTTL},
		},
	})
}

// passkeyOwner is a user as go-webauthn sees one: its id (the user
// handle devices keep) and its passkeys.
type passkeyOwner struct {
	u    *User
	keys []Passkey
}

func (o passkeyOwner) WebAuthnID() []byte   { return o.u.ID[:] }
func (o passkeyOwner) WebAuthnName() string { return o.u.Email }

func (o passkeyOwner) WebAuthnDisplayName() string {
	if n := o.u.FullName(); n != "" {
		return n
	}
	return o.u.Email
}

func (o passkeyOwner) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(o.keys))
	for _, k := range o.keys {
		id, err := base64.RawURLEncoding.DecodeString(k.CredentialID)
		if err != nil {
			continue
		}
		var transports []protocol.AuthenticatorTransport
		for _, t := range strings.Split(k.Transports, ",") {
			if t != "" {
				transports = append(transports, protocol.AuthenticatorTransport(t))
			}
		}
		out = append(out, webauthn.Credential{
			ID: id, PublicKey: k.PublicKey, AttestationType: k.AttestationType, Transport: transports,
			Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: true,
				BackupEligible: k.BackupEligible, BackupState: k.BackupState},
			Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: uint32(k.SignCount)},
		})
	}
	return out
}

// PasskeysOf returns the passkeys of users, oldest first.
func (s *Service) PasskeysOf(ctx context.Context, userIDs []uuid.UUID) (map[uuid.UUID][]*Passkey, error) {
	return ownedBy(ctx, s.db, userIDs, func(k *Passkey) uuid.UUID { return k.UserID })
}

// ownedBy loads the rows of T whose user_id is one of userIDs, oldest
// first, by user: one query for a whole list (the loaders').
func ownedBy[T any](ctx context.Context, idb bun.IDB, userIDs []uuid.UUID, owner func(*T) uuid.UUID) (map[uuid.UUID][]*T, error) {
	var rows []*T
	err := idb.NewSelect().Model(&rows).Where("user_id IN (?)", bun.List(userIDs)).Order("created_at", "id").Scan(ctx)
	out := make(map[uuid.UUID][]*T, len(userIDs))
	for _, r := range rows {
		out[owner(r)] = append(out[owner(r)], r)
	}
	return out, err
}

func (s *Service) passkeysOf(ctx context.Context, idb bun.IDB, userID uuid.UUID) ([]Passkey, error) {
	var keys []Passkey
	err := idb.NewSelect().Model(&keys).Where("user_id = ?", userID).Order("created_at", "id").Scan(ctx)
	return keys, err
}

// StartPasskeyRegistration begins adding a passkey to the caller's
// account and returns the options for navigator.credentials.create
// (PublicKeyCredentialCreationOptions): a discoverable credential with user
// verification, none of the caller's passkeys again. A stolen access token
// alone must not add a way in: the password is asked for (guesses counted
// like changePassword's) unless the session started within FreshSignIn.
//
// Errors: REQUIRED or INVALID_CREDENTIALS password, INVALID (MaxPasskeys
// reached), UNAUTHENTICATED, RateLimited.
func (s *Service) StartPasskeyRegistration(ctx context.Context, password string) (*protocol.PublicKeyCredentialCreationOptions, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.passkeyAttempt(ctx); err != nil {
		return nil, err
	}
	u, err := s.recentOrPassword(ctx, v, password, "add a passkey")
	if err != nil {
		return nil, err
	}
	keys, err := s.passkeysOf(ctx, s.db, u.ID)
	if err != nil {
		return nil, err
	}
	if len(keys) >= MaxPasskeys {
		return nil, errTooManyPasskeys
	}
	owner := passkeyOwner{u, keys}
	exclude := make([]protocol.CredentialDescriptor, 0, len(keys))
	for _, c := range owner.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.passkeys.BeginRegistration(owner, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, err
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := s.storeCeremony(ctx, tx, ceremonyRegister, &u.ID, nil, session); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.PasskeyRegistrationStarted, Actor: &u.ID, Target: &u.ID})
	})
	if err != nil {
		return nil, err
	}
	return &creation.Response, nil
}

// FinishPasskeyRegistration checks the browser's answer to
// StartPasskeyRegistration's options (the challenge it signed must be one
// this user started, unexpired and unused; origin, RP ID and user
// verification as configured) and stores the passkey under name.
//
// Errors: INVALID credential (not an answer, or it does not check out),
// INVALID_TOKEN credential (no such registration under way), DUPLICATE
// credential (registered already), INVALID or TOO_LONG name,
// UNAUTHENTICATED, RateLimited.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, credential []byte, name string) (*Passkey, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.passkeyAttempt(ctx); err != nil {
		return nil, err
	}
	if name, err = passkeyName(name); err != nil {
		return nil, err
	}
	parsed, err := parseCreation(credential)
	if err != nil {
		return nil, err
	}
	ch, err := s.takeCeremony(ctx, s.db.NewDelete().Where("kind = ? AND user_id = ? AND challenge = ?",
		ceremonyRegister, v.UserID, parsed.Response.CollectedClientData.Challenge))
	if err != nil {
		return nil, err
	}
	if ch == nil {
		return nil, apperr.List{errRegistrationExpired}
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	session, err := ch.session()
	if err != nil {
		return nil, err
	}
	// The exclusions went out with the options, and a passkey registered
	// already is refused by the unique credential id: the owner needs none.
	cred, err := s.passkeys.CreateCredential(passkeyOwner{u: u}, session, parsed)
	if err != nil {
		if rerr := s.passkeyFailed(ctx, &u.ID, "register", ceremonyProblem(err), nil); rerr != nil {
			return nil, rerr
		}
		return nil, apperr.List{apperr.OnField("credential", apperr.Invalid,
			"The passkey's answer does not check out for this site: "+ceremonyProblem(err)+".")}
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	key := &Passkey{
		ID: uuid.New(), UserID: u.ID, CredentialID: base64.RawURLEncoding.EncodeToString(cred.ID),
		PublicKey: cred.PublicKey, AttestationType: cred.AttestationType, AAGUID: cred.Authenticator.AAGUID,
		SignCount: int64(cred.Authenticator.SignCount), BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupState, Transports: strings.Join(transports, ","), Name: name, CreatedAt: s.now(),
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Model((*Passkey)(nil)).Where("user_id = ?", u.ID).Count(ctx)
		if err != nil {
			return err
		}
		if n >= MaxPasskeys {
			return errTooManyPasskeys
		}
		if _, err := tx.NewInsert().Model(key).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err, "credential_id") {
				return apperr.List{apperr.OnField("credential", apperr.Duplicate, "This passkey is registered already.")}
			}
			return err
		}
		err = s.audit.Record(ctx, tx, audit.Entry{Action: audit.PasskeyAdded, Actor: &u.ID, Target: &u.ID,
			Details: map[string]any{"passkeyId": key.ID.String(), "name": key.Name}})
		if err != nil {
			return err
		}
		msg, err := s.mail.PasskeyAdded(recipient(u), key.Name)
		if err != nil {
			return err
		}
		return s.enqueue(ctx, tx, msg)
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// StartPasskeySignIn begins a passkey sign-in and returns its id and the
// options for navigator.credentials.get (PublicKeyCredentialRequestOptions,
// user verification required). With an email only that account's passkeys
// will do; without, any account's the device holds (discoverable). The
// options list no passkeys either way and nothing is looked up, so the
// answer says nothing about whether the email has an account.
//
// Errors: RateLimited.
func (s *Service) StartPasskeySignIn(ctx context.Context, email string) (uuid.UUID, *protocol.PublicKeyCredentialRequestOptions, error) {
	if err := s.passkeyAttempt(ctx); err != nil {
		return uuid.Nil, nil, err
	}
	assertion, session, err := s.passkeys.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return uuid.Nil, nil, err
	}
	var emailKey *string
	if strings.TrimSpace(email) != "" {
		key := EmailKey(email)
		emailKey = &key
	}
	var id uuid.UUID
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if id, err = s.storeCeremony(ctx, tx, ceremonySignIn, nil, emailKey, session); err != nil {
			return err
		}
		// Nothing is known yet about who asks: the event names no one and
		// keeps no address, so it holds nothing erasure would have to find
		// (the finish's event names the account).
		return s.audit.Record(auth.WithClient(ctx, auth.Client{}), tx, audit.Entry{Action: audit.PasskeySignInStarted,
			Details: map[string]any{"challengeId": id.String(), "withEmail": emailKey != nil}})
	})
	if err != nil {
		return uuid.Nil, nil, err
	}
	return id, &assertion.Response, nil
}

// FinishPasskeySignIn checks the browser's answer to StartPasskeySignIn's
// options and signs its passkey's owner in (finishSignIn): a user-verified
// passkey is both factors. The challenge is spent by the first finish,
// whatever its outcome. Refusals are counted per address and, once the
// passkey names an account, per account like wrong passwords; each is
// audited. A signature counter that did not go up (for an authenticator
// that counts) means a copy of the passkey may exist: the sign-in is
// refused and audited as PASSKEY_CLONE_SUSPECTED.
//
// Errors: INVALID_TOKEN challengeId, INVALID credential (not an answer),
// INVALID_CREDENTIALS (unknown passkey, another account's, an answer that
// does not check out, a deactivated account), EMAIL_NOT_VERIFIED,
// RateLimited.
func (s *Service) FinishPasskeySignIn(ctx context.Context, challengeID uuid.UUID, credential []byte) (*SignIn, error) {
	if err := s.passkeyAttempt(ctx); err != nil {
		return nil, err
	}
	parsed, err := parseAssertion(credential)
	if err != nil {
		return nil, err
	}
	ch, err := s.takeCeremony(ctx, s.db.NewDelete().Where("id = ? AND kind = ?", challengeID, ceremonySignIn))
	if err != nil {
		return nil, err
	}
	if ch == nil {
		return nil, apperr.List{errSignInExpired}
	}
	key := new(Passkey)
	err = s.db.NewSelect().Model(key).Where("credential_id = ?", base64.RawURLEncoding.EncodeToString(parsed.RawID)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.refusePasskey(ctx, nil, "unknown passkey", nil)
	}
	if err != nil {
		return nil, err
	}
	u, err := s.UserByID(ctx, key.UserID)
	if err != nil {
		return nil, err
	}
	if ch.EmailKey != nil && *ch.EmailKey != u.EmailKey {
		return nil, s.refusePasskey(ctx, &u.ID, "the passkey of another account than the email's", key)
	}
	accountKey := counterOf("passkey", u.ID)
	if _, err := s.take(ctx, accountKey, s.limits.loginPerAccount); err != nil {
		return nil, err
	}
	session, err := ch.session()
	if err != nil {
		return nil, err
	}
	// The passkey found above is the only one the answer can be checked
	// against; go-webauthn checks the user handle is its owner's id.
	owner := passkeyOwner{u, []Passkey{*key}}
	_, cred, err := s.passkeys.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return owner, nil }, session, parsed)
	if err != nil {
		return nil, s.refusePasskey(ctx, &u.ID, ceremonyProblem(err), key)
	}
	if cred.Authenticator.CloneWarning {
		err := s.audit.Record(ctx, s.db, audit.Entry{Action: audit.PasskeyCloneSuspected, Target: &u.ID,
			Details: map[string]any{"passkeyId": key.ID.String(), "storedCounter": key.SignCount,
				"presentedCounter": parsed.Response.AuthenticatorData.Counter}})
		if err != nil {
			return nil, err
		}
		return nil, errPasskeyRefused
	}
	if s.passkeyChecked != nil {
		s.passkeyChecked()
	}
	now := s.now()
	in, err := s.finishSignIn(ctx, proof{user: u, method: MethodPasskey, secondFactor: cred.Flags.UserVerified,
		refused: func() error { return s.refusePasskey(ctx, &u.ID, "inactive account", key) },
		writes: func(ctx context.Context, tx bun.Tx) error {
			// Counters only go up: of two sign-ins racing with copies of one
			// passkey, the second finds the counter moved and is refused.
			res, err := tx.NewUpdate().Model(key).
				Set("sign_count = ?, backup_state = ?, last_used_at = ?", int64(cred.Authenticator.SignCount), cred.Flags.BackupState, now).
				Where("id = ? AND (sign_count < ? OR sign_count = 0)", key.ID, int64(cred.Authenticator.SignCount)).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errPasskeyRefused
			}
			return nil
		}})
	if err != nil {
		return nil, err
	}
	return in, s.limiter.Reset(ctx, accountKey)
}

// refusePasskey records a refused passkey sign-in and returns its answer.
func (s *Service) refusePasskey(ctx context.Context, userID *uuid.UUID, why string, key *Passkey) error {
	if err := s.passkeyFailed(ctx, userID, "signIn", why, key); err != nil {
		return err
	}
	return errPasskeyRefused
}

// passkeyFailed records a refused passkey step.
func (s *Service) passkeyFailed(ctx context.Context, userID *uuid.UUID, step, why string, key *Passkey) error {
	details := map[string]any{"step": step, "reason": why}
	if key != nil {
		details["passkeyId"] = key.ID.String()
	}
	return s.audit.Record(ctx, s.db, audit.Entry{Action: audit.PasskeyFailed, Target: userID, Details: details})
}

// ceremonyProblem is what go-webauthn found wrong with an answer, in words
// safe to show and to record.
func ceremonyProblem(err error) string {
	var perr *protocol.Error
	if errors.As(err, &perr) && perr.Details != "" {
		return strings.TrimSuffix(perr.Details, ".")
	}
	return "invalid answer"
}

// RenamePasskey renames one of the caller's passkeys.
//
// Errors: NOT_FOUND id, REQUIRED or TOO_LONG name, UNAUTHENTICATED.
func (s *Service) RenamePasskey(ctx context.Context, id uuid.UUID, name string) (*Passkey, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	if name, err = passkeyName(name); err != nil {
		return nil, err
	}
	key := new(Passkey)
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*Passkey)(nil)).Set("name = ?", name).
			Where("id = ? AND user_id = ?", id, v.UserID).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errNoPasskey
		}
		if err := tx.NewSelect().Model(key).Where("id = ?", id).Scan(ctx); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.PasskeyRenamed, Actor: &v.UserID, Target: &v.UserID,
			Details: map[string]any{"passkeyId": id.String(), "name": name}})
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// RemovePasskey removes one of the caller's passkeys, unless it is the
// account's last way to sign in.
//
// Errors: NOT_FOUND id, LAST_SIGN_IN_METHOD, UNAUTHENTICATED.
func (s *Service) RemovePasskey(ctx context.Context, id uuid.UUID) error {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return err
	}
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		key := new(Passkey)
		err := db.ForUpdate(tx.NewSelect().Model(key).Where("id = ? AND user_id = ?", id, v.UserID)).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoPasskey
		}
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(key).WherePK().Exec(ctx); err != nil {
			return err
		}
		if err := s.keepsAWayIn(ctx, tx, v.UserID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.PasskeyRemoved, Actor: &v.UserID, Target: &v.UserID,
			Details: map[string]any{"passkeyId": id.String(), "name": key.Name}})
	})
}

// keepsAWayIn fails with LAST_SIGN_IN_METHOD when, inside tx after a
// removal, the user has no way left to sign in: no password, no passkey,
// no linked identity.
// The user's row is locked first, so two removals racing cannot both see
// the other's passkey left.
func (s *Service) keepsAWayIn(ctx context.Context, tx bun.Tx, userID uuid.UUID) error {
	u := new(User)
	if err := db.ForUpdate(tx.NewSelect().Model(u).Column("password_hash").Where("u.id = ?", userID)).Scan(ctx); err != nil {
		return err
	}
	if u.PasswordHash != nil {
		return nil
	}
	for _, model := range []any{(*Passkey)(nil), (*Identity)(nil)} {
		n, err := tx.NewSelect().Model(model).Where("user_id = ?", userID).Count(ctx)
		if err != nil || n > 0 {
			return err
		}
	}
	return apperr.List{apperr.OnField("id", apperr.LastSignInMethod,
		"This is your last way to sign in: set a password, add a passkey or link another account first.")}
}

// deletePasskeys removes userID's passkeys and its ceremonies under way
// inside tx.
func deletePasskeys(ctx context.Context, tx bun.IDB, userID uuid.UUID) error {
	for _, model := range []any{(*Passkey)(nil), (*passkeyChallenge)(nil)} {
		if _, err := tx.NewDelete().Model(model).Where("user_id = ?", userID).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// storeCeremony keeps a started ceremony's session data for its finish
// and returns its id.
func (s *Service) storeCeremony(ctx context.Context, tx bun.IDB, kind string, userID *uuid.UUID, emailKey *string, session *webauthn.SessionData) (uuid.UUID, error) {
	data, err := json.Marshal(session)
	if err != nil {
		return uuid.Nil, err
	}
	ch := &passkeyChallenge{ID: uuid.New(), Kind: kind, UserID: userID, EmailKey: emailKey,
		Challenge: session.Challenge, Session: string(data), ExpiresAt: s.now().Add(PasskeyChallengeTTL)}
	_, err = tx.NewInsert().Model(ch).Exec(ctx)
	return ch.ID, err
}

// takeCeremony deletes the ceremony q selects and returns it, or nil when
// there is none or it expired: whoever deletes it first has it, once.
func (s *Service) takeCeremony(ctx context.Context, q *bun.DeleteQuery) (*passkeyChallenge, error) {
	var rows []passkeyChallenge
	if err := q.Model(&rows).Returning("*").Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(rows) != 1 || !rows[0].ExpiresAt.After(s.now()) {
		return nil, nil
	}
	return &rows[0], nil
}

// parseCreation reads a browser's answer to navigator.credentials.create.
func parseCreation(credential []byte) (*protocol.ParsedCredentialCreationData, error) {
	if len(credential) > maxCredentialBytes {
		return nil, apperr.List{errPasskeyAnswer}
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, apperr.List{errPasskeyAnswer}
	}
	return parsed, nil
}

// parseAssertion reads a browser's answer to navigator.credentials.get.
func parseAssertion(credential []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(credential) > maxCredentialBytes {
		return nil, apperr.List{errPasskeyAnswer}
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, apperr.List{errPasskeyAnswer}
	}
	return parsed, nil
}

// passkeyName checks a passkey's name: 1 to 100 characters, no control
// characters.
func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", apperr.List{apperr.OnField("name", apperr.Required, "Name the passkey (the device or app that holds it).")}
	case utf8.RuneCountInString(name) > 100:
		return "", apperr.List{apperr.OnField("name", apperr.TooLong, "At most 100 characters.")}
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", apperr.List{apperr.OnField("name", apperr.Invalid, "No control characters.")}
	}
	return name, nil
}

// recentOrPassword is the signed-in user of v when its session started
// within FreshSignIn, or when password is theirs (guesses counted like
// changePassword's): a stolen access token alone must not add a way in.
//
// Errors: REQUIRED or INVALID_CREDENTIALS password, RateLimited.
func (s *Service) recentOrPassword(ctx context.Context, v auth.Viewer, password, what string) (*User, error) {
	fresh, err := s.freshSession(ctx, v)
	switch {
	case err != nil:
		return nil, err
	case fresh:
		return s.UserByID(ctx, v.UserID)
	case password == "":
		return nil, apperr.List{apperr.OnField("password", apperr.Required,
			"Enter your password to "+what+" (or sign in again: within 5 minutes of signing in it is not asked for).")}
	}
	return s.checkPassword(ctx, v, password, "password", "Your password was entered incorrectly.")
}

// freshSession reports whether v's session started within FreshSignIn.
func (s *Service) freshSession(ctx context.Context, v auth.Viewer) (bool, error) {
	return s.db.NewSelect().Model((*Session)(nil)).
		Where("id = ? AND created_at > ?", v.SessionID, s.now().Add(-FreshSignIn)).Exists(ctx)
}

// passkeyAttempt admits one passkey step: passkeys are on, and the client
// address has an attempt left (counted like password sign-ins).
func (s *Service) passkeyAttempt(ctx context.Context) error {
	if s.passkeys == nil {
		return errPasskeysOff
	}
	_, err := s.take(ctx, addressKey(ctx, "passkey"), s.limits.loginPerIP)
	return err
}

// session is the go-webauthn session data kept when the ceremony started.
func (ch *passkeyChallenge) session() (webauthn.SessionData, error) {
	var session webauthn.SessionData
	err := json.Unmarshal([]byte(ch.Session), &session)
	return session, err
}
