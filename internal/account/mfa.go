package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
)

// TOTP as authenticator apps expect it (RFC 6238): SHA-1, 6 digits, 30 s
// steps, and codes of the step before or after accepted for clock drift.
const (
	totpPeriod = 30
	totpDrift  = 1
	// recoveryCodes are issued by confirmTotp, each 80 random bits.
	recoveryCodes = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpSecret is a user's authenticator secret (sealed at rest).
type totpSecret struct {
	bun.BaseModel `bun:"table:totp_secrets"`

	UserID      uuid.UUID  `bun:"user_id,pk,type:uuid"`
	Secret      string     `bun:"secret"`
	ConfirmedAt *time.Time `bun:"confirmed_at"`
	LastStep    int64      `bun:"last_step"`
	CreatedAt   time.Time  `bun:"created_at"`
}

type recoveryCode struct {
	bun.BaseModel `bun:"table:recovery_codes"`

	CodeHash string     `bun:"code_hash,pk"`
	UserID   uuid.UUID  `bun:"user_id,type:uuid"`
	UsedAt   *time.Time `bun:"used_at"`
}

type mfaChallenge struct {
	bun.BaseModel `bun:"table:mfa_challenges"`

	TokenHash string     `bun:"token_hash,pk"`
	UserID    uuid.UUID  `bun:"user_id,type:uuid"`
	ExpiresAt time.Time  `bun:"expires_at"`
	UsedAt    *time.Time `bun:"used_at"`
}

var (
	errMfaOn       = apperr.New(apperr.MfaAlreadyEnabled, "Two-factor sign-in is on already; turn it off first to enrol a new authenticator.")
	errMfaOff      = apperr.New(apperr.MfaNotEnabled, "Two-factor sign-in is not on for this account.")
	errNotEnrolled = apperr.New(apperr.MfaNotEnabled, "Start with enrollTotp: there is no authenticator waiting for confirmation.")
	errWrongCode   = apperr.OnField("code", apperr.InvalidCredentials, "This code is not valid. Use the current code from your authenticator app, or a recovery code.")
	errBadMfaToken = apperr.OnField("mfaToken", apperr.InvalidToken, "This sign-in has expired or was completed. Sign in again.")
)

// Enrollment is a new authenticator secret waiting for confirmTotp.
type Enrollment struct{ Secret, URI string }

// EnrollTotp creates a new authenticator secret for the caller after
// checking its password (guesses counted like disableTotp's): a stolen
// access token alone must not put a second factor the owner does not have
// in front of the account. It signs nothing in until ConfirmTotp shows the
// app has it. A new enrolment replaces one not yet confirmed.
//
// Errors: INVALID_CREDENTIALS password, MFA_ALREADY_ENABLED,
// UNAUTHENTICATED, RateLimited.
func (s *Service) EnrollTotp(ctx context.Context, password, label string) (*Enrollment, error) {
	u, err := s.confirmPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	if u.MfaEnabled {
		return nil, errMfaOn
	}
	if label = strings.TrimSpace(label); label == "" {
		label = u.Email
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.policy.MFAIssuer, AccountName: label,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	row := &totpSecret{UserID: u.ID, Secret: s.sealer.Seal([]byte(key.Secret()), u.ID.String()), CreatedAt: s.now()}
	_, err = s.db.NewInsert().Model(row).
		On("CONFLICT (user_id) DO UPDATE").Set("secret = EXCLUDED.secret, confirmed_at = NULL, last_step = 0, created_at = EXCLUDED.created_at").
		Exec(ctx)
	if err != nil {
		return nil, err
	}
	return &Enrollment{Secret: key.Secret(), URI: key.URL()}, nil
}

// ConfirmTotp turns two-factor sign-in on with a current code from the
// enrolled app and returns the recovery codes (stored hashed: shown once).
// Wrong codes count like changePassword guesses.
//
// Errors: INVALID_CREDENTIALS code, MFA_ALREADY_ENABLED, MFA_NOT_ENABLED
// (nothing enrolled), UNAUTHENTICATED, RateLimited.
func (s *Service) ConfirmTotp(ctx context.Context, code string) ([]string, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.take(ctx, counterOf("mfa", v.UserID), s.limits.loginPerAccount); err != nil {
		return nil, err
	}
	row := new(totpSecret)
	err = s.db.NewSelect().Model(row).Where("user_id = ?", v.UserID).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errNotEnrolled
	case err != nil:
		return nil, err
	case row.ConfirmedAt != nil:
		return nil, errMfaOn
	}
	step, ok, err := s.checkTotp(row, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.mfaFailed(ctx, v.UserID, "confirmTotp")
	}
	codes := make([]string, recoveryCodes)
	rows := make([]recoveryCode, recoveryCodes)
	for i := range codes {
		codes[i] = newRecoveryCode()
		rows[i] = recoveryCode{CodeHash: auth.HashToken(codes[i]), UserID: v.UserID}
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		res, err := tx.NewUpdate().Model((*totpSecret)(nil)).Set("confirmed_at = ?", now).Set("last_step = ?", step).
			Where("user_id = ? AND confirmed_at IS NULL AND secret = ?", v.UserID, row.Secret).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 { // enrolled again or confirmed meanwhile
			return errNotEnrolled
		}
		if _, err := tx.NewDelete().Model((*recoveryCode)(nil)).Where("user_id = ?", v.UserID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return err
		}
		u := new(User)
		if err := tx.NewUpdate().Model(u).Set("mfa_enabled = TRUE").Set("updated_at = ?", now).
			Where("id = ?", v.UserID).Returning("*").Scan(ctx); err != nil {
			return err
		}
		if err := s.audit.Record(ctx, tx, audit.Entry{Action: audit.MfaEnabled, Actor: &v.UserID, Target: &v.UserID}); err != nil {
			return err
		}
		msg, err := s.mail.MfaEnabled(recipient(u))
		if err != nil {
			return err
		}
		return s.enqueue(ctx, tx, msg)
	})
	if err != nil {
		return nil, err
	}
	return codes, s.limiter.Reset(ctx, counterOf("mfa", v.UserID))
}

// checkTotp reports whether code is the secret's code for the current
// step or one next to it, and that step. A step at or before the last one
// accepted is refused: a code works once.
func (s *Service) checkTotp(row *totpSecret, code string) (int64, bool, error) {
	secret, err := s.sealer.Open(row.Secret, row.UserID.String())
	if err != nil {
		return 0, false, err
	}
	code = strings.TrimSpace(code)
	now := s.now().Unix() / totpPeriod
	for step := now - totpDrift; step <= now+totpDrift; step++ {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > row.LastStep {
			return step, true, nil
		}
	}
	return 0, false, nil
}

// ResealPlainSecrets encrypts the authenticator secrets stored unencrypted
// before a key-encryption key was set.
func (s *Service) ResealPlainSecrets(ctx context.Context) error {
	var rows []totpSecret
	if err := s.db.NewSelect().Model(&rows).Where("secret LIKE 'plain:%'").Scan(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		sealed, ok, err := s.sealer.Reseal(r.Secret, r.UserID.String())
		if err != nil || !ok {
			return err
		}
		if _, err := s.db.NewUpdate().Model((*totpSecret)(nil)).Set("secret = ?", sealed).
			Where("user_id = ? AND secret = ?", r.UserID, r.Secret).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// newRecoveryCode returns 80 random bits as four groups of four base32 letters.
func newRecoveryCode() string {
	b := make([]byte, 10)
	rand.Read(b)
	s := strings.ToLower(base32.StdEncoding.EncodeToString(b))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// normalizeRecoveryCode accepts a recovery code as typed: any case, with or
// without dashes and spaces.
func normalizeRecoveryCode(code string) string {
	code = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(code) != 16 {
		return code
	}
	return code[0:4] + "-" + code[4:8] + "-" + code[8:12] + "-" + code[12:16]
}

// mfaFailed records a wrong code and returns its error.
func (s *Service) mfaFailed(ctx context.Context, userID uuid.UUID, step string) error {
	if err := s.audit.Record(ctx, s.db, audit.Entry{Action: audit.MfaFailed, Target: &userID,
		Details: map[string]any{"step": step}}); err != nil {
		return err
	}
	return errWrongCode
}

// startMfa records the first step of u's sign-in inside tx and returns
// its token (stored hashed), which VerifyMfa takes with a code.
func (s *Service) startMfa(ctx context.Context, tx bun.IDB, u *User) (string, error) {
	token := auth.NewOpaqueToken()
	_, err := tx.NewInsert().Model(&mfaChallenge{TokenHash: auth.HashToken(token), UserID: u.ID,
		ExpiresAt: s.now().Add(s.policy.MFATokenTTL)}).Exec(ctx)
	return token, err
}

// VerifyMfa proves the second factor of a sign-in that needed a code: a
// current authenticator code (once) or an unused recovery code of the user
// the mfaToken belongs to; finishSignIn does the rest. Codes count against
// the user like passwords (with the same lockout) and against the client's
// address.
//
// Errors: INVALID_TOKEN mfaToken (unknown, spent, expired, or the account
// was deactivated or turned two-factor off since), INVALID_CREDENTIALS
// code, RateLimited.
func (s *Service) VerifyMfa(ctx context.Context, mfaToken, code string) (*SignIn, error) {
	if _, err := s.take(ctx, addressKey(ctx, "mfa"), s.limits.loginPerIP); err != nil {
		return nil, err
	}
	now := s.now()
	ch := new(mfaChallenge)
	err := s.db.NewSelect().Model(ch).Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", auth.HashToken(mfaToken), now).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadMfaToken
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.take(ctx, counterOf("mfa", ch.UserID), s.limits.loginPerAccount); err != nil {
		return nil, err
	}
	u, err := s.UserByID(ctx, ch.UserID)
	if err != nil {
		return nil, err
	}
	row := new(totpSecret)
	if err := s.db.NewSelect().Model(row).Where("user_id = ? AND confirmed_at IS NOT NULL", u.ID).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) { // turned off since the password step
			return nil, errBadMfaToken
		}
		return nil, err
	}
	step, ok, err := s.checkTotp(row, code)
	if err != nil {
		return nil, err
	}
	method := MethodTOTP
	if !ok {
		method = MethodRecoveryCode
	}
	in, err := s.finishSignIn(ctx, proof{user: u, method: method, secondFactor: true,
		refused: func() error { return errBadMfaToken },
		writes: func(ctx context.Context, tx bun.Tx) error {
			var res sql.Result
			var err error
			if ok { // the step must still be new: two requests with one code, one wins
				res, err = tx.NewUpdate().Model((*totpSecret)(nil)).Set("last_step = ?", step).
					Where("user_id = ? AND last_step < ?", u.ID, step).Exec(ctx)
			} else {
				res, err = tx.NewUpdate().Model((*recoveryCode)(nil)).Set("used_at = ?", now).
					Where("code_hash = ? AND user_id = ? AND used_at IS NULL", auth.HashToken(normalizeRecoveryCode(code)), u.ID).Exec(ctx)
			}
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errWrongCode
			}
			res, err = tx.NewUpdate().Model((*mfaChallenge)(nil)).Set("used_at = ?", now).
				Where("token_hash = ? AND used_at IS NULL", ch.TokenHash).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errBadMfaToken
			}
			if ok {
				return nil
			}
			left, err := tx.NewSelect().Model((*recoveryCode)(nil)).Where("user_id = ? AND used_at IS NULL", u.ID).Count(ctx)
			if err != nil {
				return err
			}
			return s.audit.Record(ctx, tx, audit.Entry{Action: audit.RecoveryCodeUsed, Actor: &u.ID, Target: &u.ID,
				Details: map[string]any{"remaining": left}})
		}})
	if errors.Is(err, errWrongCode) {
		return nil, s.mfaFailed(ctx, u.ID, "verifyMfa")
	}
	if err != nil {
		return nil, err
	}
	return in, s.limiter.Reset(ctx, counterOf("mfa", u.ID))
}

// DisableTotp turns the caller's two-factor sign-in off after checking the
// password (guesses counted like changePassword's).
//
// Errors: INVALID_CREDENTIALS password, MFA_NOT_ENABLED, UNAUTHENTICATED,
// RateLimited.
func (s *Service) DisableTotp(ctx context.Context, password string) error {
	u, err := s.confirmPassword(ctx, password)
	if err != nil {
		return err
	}
	if !u.MfaEnabled {
		return errMfaOff
	}
	return db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		return s.turnMfaOff(ctx, tx, u, audit.Entry{Action: audit.MfaDisabled, Actor: &u.ID, Target: &u.ID})
	})
}

// ResetUserMfa turns two-factor sign-in off and removes every passkey for
// a user who lost their authenticator, recovery codes or passkey devices,
// and emails the user. Admins only.
//
// Errors: NOT_FOUND userId, MFA_NOT_ENABLED (neither is set up), FORBIDDEN.
func (s *Service) ResetUserMfa(ctx context.Context, userID uuid.UUID) (*User, error) {
	v, err := auth.Require(ctx, auth.Viewer.ManagesEveryUser)
	if err != nil {
		return nil, err
	}
	u, err := s.liveUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		passkeys, err := tx.NewSelect().Model((*Passkey)(nil)).Where("user_id = ?", u.ID).Count(ctx)
		if err != nil {
			return err
		}
		if !u.MfaEnabled && passkeys == 0 {
			return apperr.New(apperr.MfaNotEnabled, "This user has neither two-factor sign-in nor passkeys to reset.")
		}
		if err := deleteMfa(ctx, tx, u.ID); err != nil {
			return err
		}
		if err := deletePasskeys(ctx, tx, u.ID); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model((*User)(nil)).Set("mfa_enabled = FALSE").Set("updated_at = ?", s.now()).
			Where("id = ?", u.ID).Exec(ctx); err != nil {
			return err
		}
		err = s.audit.Record(ctx, tx, audit.Entry{Action: audit.MfaReset, Actor: &v.UserID, Target: &u.ID,
			Details: map[string]any{"totp": u.MfaEnabled, "passkeys": passkeys}})
		if err != nil {
			return err
		}
		msg, err := s.mail.SignInReset(recipient(u), u.MfaEnabled, int(passkeys))
		if err != nil {
			return err
		}
		return s.enqueue(ctx, tx, msg)
	})
	u.MfaEnabled = false
	return u, err
}

// deleteMfa removes userID's authenticator, recovery codes and pending
// sign-ins inside tx.
func deleteMfa(ctx context.Context, tx bun.IDB, userID uuid.UUID) error {
	for _, model := range []any{(*totpSecret)(nil), (*recoveryCode)(nil), (*mfaChallenge)(nil)} {
		if _, err := tx.NewDelete().Model(model).Where("user_id = ?", userID).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// turnMfaOff removes u's authenticator, recovery codes and pending
// sign-ins inside tx, records entry, and emails u that it happened.
func (s *Service) turnMfaOff(ctx context.Context, tx bun.IDB, u *User, entry audit.Entry) error {
	if err := deleteMfa(ctx, tx, u.ID); err != nil {
		return err
	}
	if _, err := tx.NewUpdate().Model((*User)(nil)).Set("mfa_enabled = FALSE").Set("updated_at = ?", s.now()).
		Where("id = ?", u.ID).Exec(ctx); err != nil {
		return err
	}
	if err := s.audit.Record(ctx, tx, entry); err != nil {
		return err
	}
	msg, err := s.mail.MfaDisabled(recipient(u))
	if err != nil {
		return err
	}
	return s.enqueue(ctx, tx, msg)
}
