package account

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/db"
)

// How a sign-in ends. Every way of signing in proves who is signing in, in
// a file of its own (login.go: a password; mfa.go: a second factor;
// register.go: a new account; password.go: an emailed setup link;
// passkey.go: a passkey), and
// then hands its proof to finishSignIn, the one step that applies the
// account's state and the server's settings, starts the session, records
// the audit event and issues the tokens. A new sign-in method is a new
// file that builds a proof, plus its schema.

// Method names how a sign-in proved who the person is; the audit event of
// the sign-in carries it.
type Method string

// The sign-in methods.
const (
	MethodPassword     Method = "password"
	MethodTOTP         Method = "totp"
	MethodRecoveryCode Method = "recovery_code"
	MethodRegistration Method = "registration"
	MethodSetupLink    Method = "setup_link"
	MethodPasskey      Method = "passkey"
)

// proof is what a sign-in method established.
type proof struct {
	user   *User
	method Method
	// secondFactor is true when the proof is, or completes, a second factor
	// (a code after a password): an account with two-factor sign-in on
	// asks for nothing more. Otherwise such an account gets an mfaToken.
	secondFactor bool
	// refused is the method's answer when the account may not sign in
	// (deactivated): its own, so the answer tells nothing the method's
	// other refusals do not.
	refused func() error
	// signUp is true when the proof creates the account: its writes then
	// commit even when the account may not sign in yet (the email must be
	// confirmed first), and the answer has the user but no tokens.
	signUp bool
	// writes are the method's own changes (create the account, spend the
	// code or link, set the password), made in the sign-in's transaction so
	// that both happen or neither does.
	writes func(ctx context.Context, tx bun.Tx) error
}

// mustConfirmEmail is the setting REQUIRE_VERIFIED_EMAIL applied to u:
// accounts whose owners signed up themselves sign in once their address is
// confirmed; invited accounts proved theirs with the setup link.
func (s *Service) mustConfirmEmail(u *User) bool {
	return s.policy.RequireVerifiedEmail && u.Role.SignsUpItself() && !u.IsVerified
}

// finishSignIn ends every sign-in: a deactivated account is refused; an
// account that must confirm its email first is refused (a sign-up keeps
// its account); an account with two-factor sign-in on gets an mfaToken
// unless the proof was a second factor; everyone else gets a session, a
// LOGIN_SUCCEEDED event naming the method, and a token pair.
//
// Errors: the proof's refusal, EMAIL_NOT_VERIFIED, and the proof's writes'.
func (s *Service) finishSignIn(ctx context.Context, p proof) (*SignIn, error) {
	u := p.user
	writes := func(ctx context.Context, tx bun.Tx) error {
		if p.writes == nil {
			return nil
		}
		return p.writes(ctx, tx)
	}
	switch {
	case !u.IsActive && p.refused != nil:
		return nil, p.refused()
	case !u.IsActive:
		return nil, errInvalidCredentials
	case s.mustConfirmEmail(u) && !p.signUp:
		return nil, errEmailNotVerified
	case s.mustConfirmEmail(u):
		return &SignIn{User: u}, db.InTx(ctx, s.db, writes)
	case u.MfaEnabled && !p.secondFactor:
		var token string
		err := db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) (err error) {
			if err = writes(ctx, tx); err == nil {
				token, err = s.startMfa(ctx, tx, u)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		return &SignIn{MFAToken: token}, nil
	}
	var sess *Session
	var refresh string
	now := s.now()
	err := db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) (err error) {
		if err := writes(ctx, tx); err != nil {
			return err
		}
		if sess, refresh, err = s.startSession(ctx, tx, u); err != nil {
			return err
		}
		err = s.audit.Record(ctx, tx, audit.Entry{Action: audit.LoginSucceeded, Actor: &u.ID, Target: &u.ID,
			Details: map[string]any{"sessionId": sess.ID.String(), "method": p.method}})
		if err != nil {
			return err
		}
		// Last: the user's row stays locked until COMMIT, and concurrent
		// sign-ins to one account wait for it.
		_, err = tx.NewUpdate().Model((*User)(nil)).Set("last_login = ?", now).Where("id = ?", u.ID).Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	u.LastLogin = &now
	return s.tokensFor(u, sess.ID, refresh)
}

// tokensFor signs an access token for the session and assembles the
// answer of a sign-in or a refresh.
func (s *Service) tokensFor(u *User, sessionID uuid.UUID, refresh string) (*SignIn, error) {
	var claims map[string]any
	if s.policy.MetadataInToken && u.AppMetadata != "" && u.AppMetadata != "{}" {
		claims = map[string]any{"app_metadata": json.RawMessage(u.AppMetadata)}
	}
	access, err := s.tokens.SignWith(u.ID, string(u.Role), sessionID, claims)
	if err != nil {
		return nil, err
	}
	return &SignIn{AccessToken: access, RefreshToken: refresh, ExpiresIn: int(s.tokens.TTL().Seconds()), User: u}, nil
}
