package account

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/mail"
	"github.com/usergraph/usergraph/internal/userdata"
)

// UserData lists every package's share of what is held about a person
// (package userdata), in the order erasure runs them: the account's own
// tables first, the audit log's anonymisation last before the erasure's
// own event.
func (s *Service) UserData() []userdata.Holder {
	return []userdata.Holder{accountData{s}, s.wallets, batch.UserData{}, mail.UserData{}, s.audit}
}

// accountData is the account's share: the user row, how it signs in, and
// the counters named after it.
type accountData struct{ s *Service }

// secret is why a table of secrets is not exported.
const secret = "secrets (stored as hashes or sealed): never exported"

func (accountData) UserTables() []userdata.Table {
	return []userdata.Table{
		{Name: "users", Erasure: userdata.Anonymise, Export: []string{"profile"},
			Reason: "the row stays, deactivated, so the ledger adds up and the audit trail reads: names, email, mobile, address, company, avatar, password, last sign-in and the app's metadata are removed, and the email and mobile are free again at once"},
		{Name: "sessions", Erasure: userdata.Delete, Export: []string{"sessions"}},
		{Name: "refresh_tokens", Erasure: userdata.Delete, Reason: secret},
		{Name: "one_time_tokens", Erasure: userdata.Delete, Reason: secret},
		{Name: "totp_secrets", Erasure: userdata.Delete, Reason: secret + "; profile.mfaEnabled shows the state"},
		{Name: "recovery_codes", Erasure: userdata.Delete, Reason: secret},
		{Name: "mfa_challenges", Erasure: userdata.Delete, Reason: secret},
		{Name: "passkeys", Erasure: userdata.Delete, Export: []string{"passkeys"}},
		{Name: "passkey_challenges", Erasure: userdata.Delete,
			Reason: "ceremonies under way (5 minutes): a challenge, nothing about the person but whose it is"},
		{Name: "identities", Erasure: userdata.Delete, Export: []string{"identities"}},
		{Name: "social_flows", Erasure: userdata.Delete,
			Reason: "sign-ins at other providers under way (10 minutes, then 2 for the code): hashes, a sealed verifier, and what the provider said until the app redeems it"},
		{Name: "approvals", Erasure: userdata.Keep,
			Reason: "an admin's decision on a business customer's administrator belongs to the business's record; its outcome shows in profile.isApproved"},
		{Name: "rate_limits", Erasure: userdata.Delete,
			Reason: "the counters named after the person's email or id (attempt counts, kept for hours): not exported"},
	}
}

// EraseUser anonymises the user row and deletes everything that signs the
// person in; the avatar file goes once the erasure commits.
func (a accountData) EraseUser(ctx context.Context, tx bun.IDB, p userdata.Person) error {
	var avatar *string
	if err := tx.NewSelect().Model((*User)(nil)).Column("avatar").Where("id = ?", p.ID).Scan(ctx, &avatar); err != nil {
		return err
	}
	now := a.s.now()
	_, err := tx.NewUpdate().Model((*User)(nil)).Where("id = ?", p.ID).
		Set("email = ?, email_key = ?, mobile = ?", p.Anonymous, p.Anonymous, "deleted:"+p.ID.String()).
		Set("first_name = '', last_name = '', address = '', city = ''").
		Set("company_name = NULL, avatar = NULL, password_hash = NULL, last_login = NULL").
		Set("app_metadata = '{}', user_metadata = '{}'").
		Set("is_active = FALSE, is_verified = FALSE, mfa_enabled = FALSE").
		Set("updated_at = ?, deleted_at = ?", now, now).Exec(ctx)
	if err != nil {
		return err
	}
	// Sessions take their refresh tokens along (ON DELETE CASCADE).
	for _, model := range []any{(*Session)(nil), (*oneTimeToken)(nil)} {
		if _, err := tx.NewDelete().Model(model).Where("user_id = ?", p.ID).Exec(ctx); err != nil {
			return err
		}
	}
	if err := deleteMfa(ctx, tx, p.ID); err != nil {
		return err
	}
	if err := deletePasskeys(ctx, tx, p.ID); err != nil {
		return err
	}
	for _, model := range []any{(*Identity)(nil), (*socialFlow)(nil)} {
		if _, err := tx.NewDelete().Model(model).Where("user_id = ?", p.ID).Exec(ctx); err != nil {
			return err
		}
	}
	// Sign-ins started with the person's email name no user.
	if _, err := tx.NewDelete().Model((*passkeyChallenge)(nil)).Where("email_key = ?", p.EmailKey).Exec(ctx); err != nil {
		return err
	}
	if err := a.s.limiter.Forget(ctx, tx, personalCounters(p.EmailKey, p.ID)...); err != nil {
		return err
	}
	if avatar != nil {
		db.AfterCommit(ctx, func() { a.s.deleteMedia(ctx, *avatar) })
	}
	return nil
}

// ExportUser adds the profile and every session (ended ones too, until
// retention purges them).
func (a accountData) ExportUser(ctx context.Context, idb bun.IDB, p userdata.Person, out userdata.Export) error {
	u := new(User)
	if err := idb.NewSelect().Model(u).Where("u.id = ?", p.ID).Scan(ctx); err != nil {
		return err
	}
	out["profile"] = exportProfile{ID: u.ID, Email: u.Email, Mobile: u.Mobile,
		FirstName: u.FirstName, LastName: u.LastName, Role: u.Role, CompanyName: u.CompanyName, Address: u.Address,
		City: u.City, HasAvatar: u.Avatar != nil, IsActive: u.IsActive, IsVerified: u.IsVerified,
		IsApproved: u.IsApproved, MfaEnabled: u.MfaEnabled, CreatedByID: u.CreatedByID, BatchID: u.BatchID,
		DateJoined: u.DateJoined, LastLogin: u.LastLogin,
		AppMetadata: json.RawMessage(orEmptyObject(u.AppMetadata)), UserMetadata: json.RawMessage(orEmptyObject(u.UserMetadata))}
	var sessions []Session
	if err := idb.NewSelect().Model(&sessions).Where("user_id = ?", p.ID).Order("created_at DESC").
		Limit(userdata.ExportLimit).Scan(ctx); err != nil {
		return err
	}
	list := make([]exportSession, len(sessions))
	for i, x := range sessions {
		list[i] = exportSession{ID: x.ID, CreatedAt: x.CreatedAt, LastUsedAt: x.LastUsedAt, ExpiresAt: x.ExpiresAt,
			RevokedAt: x.RevokedAt, RevokeReason: x.RevokeReason, UserAgent: x.UserAgent, IP: x.IP}
	}
	out["sessions"] = list
	keys, err := a.s.passkeysOf(ctx, idb, p.ID)
	if err != nil {
		return err
	}
	passkeys := make([]exportPasskey, len(keys))
	for i, k := range keys {
		passkeys[i] = exportPasskey{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt,
			CredentialID: k.CredentialID, PublicKey: base64.RawURLEncoding.EncodeToString(k.PublicKey),
			SignCount: k.SignCount, BackupEligible: k.BackupEligible, BackupState: k.BackupState}
	}
	out["passkeys"] = passkeys
	var identities []Identity
	if err := idb.NewSelect().Model(&identities).Where("user_id = ?", p.ID).Order("created_at").Scan(ctx); err != nil {
		return err
	}
	linked := make([]exportIdentity, len(identities))
	for i, x := range identities {
		linked[i] = exportIdentity{ID: x.ID, Provider: x.Provider, Subject: x.Subject, Email: x.Email,
			CreatedAt: x.CreatedAt, LastUsedAt: x.LastUsedAt}
	}
	out["identities"] = linked
	return nil
}

// exportIdentity is an account at another provider linked to the person.
type exportIdentity struct {
	ID         uuid.UUID  `json:"id"`
	Provider   string     `json:"provider"`
	Subject    string     `json:"subject"`
	Email      string     `json:"email"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

// exportPasskey is a passkey as exported: its public parts (what a
// relying party may publish), never anything that signs.
type exportPasskey struct {
	ID             uuid.UUID  `json:"id"`
	Name           string     `json:"name"`
	CreatedAt      time.Time  `json:"createdAt"`
	LastUsedAt     *time.Time `json:"lastUsedAt"`
	CredentialID   string     `json:"credentialId"`
	PublicKey      string     `json:"publicKey"` // COSE, base64url
	SignCount      int64      `json:"signCount"`
	BackupEligible bool       `json:"backupEligible"`
	BackupState    bool       `json:"backupState"`
}

type exportProfile struct {
	ID          uuid.UUID  `json:"id"`
	Email       string     `json:"email"`
	Mobile      string     `json:"mobile"`
	FirstName   string     `json:"firstName"`
	LastName    string     `json:"lastName"`
	Role        auth.Role  `json:"role"`
	CompanyName *string    `json:"companyName"`
	Address     string     `json:"address"`
	City        string     `json:"city"`
	HasAvatar   bool       `json:"hasAvatar"`
	IsActive    bool       `json:"isActive"`
	IsVerified  bool       `json:"isVerified"`
	IsApproved  bool       `json:"isApproved"`
	MfaEnabled  bool       `json:"mfaEnabled"`
	CreatedByID *uuid.UUID `json:"createdById"`
	BatchID     *uuid.UUID `json:"batchId"`
	DateJoined  time.Time  `json:"dateJoined"`
	LastLogin   *time.Time `json:"lastLogin"`
	// The app's own data on the person (metadata.go).
	AppMetadata  json.RawMessage `json:"appMetadata"`
	UserMetadata json.RawMessage `json:"userMetadata"`
}

// orEmptyObject is raw, or {} when raw is empty.
func orEmptyObject(raw string) string {
	if raw == "" {
		return "{}"
	}
	return raw
}

type exportSession struct {
	ID           uuid.UUID  `json:"id"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastUsedAt   time.Time  `json:"lastUsedAt"`
	ExpiresAt    time.Time  `json:"expiresAt"`
	RevokedAt    *time.Time `json:"revokedAt"`
	RevokeReason *string    `json:"revokeReason"`
	UserAgent    string     `json:"userAgent"`
	IP           string     `json:"ip"`
}
