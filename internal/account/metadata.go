package account

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
)

// Data of the app's own on each user: app metadata, written by those who
// manage the user (admins, the user's B2B admin) and read by the user too,
// for what the app decides (a plan, a tenant); and user metadata, written
// by the user (preferences). Each is a JSON object of at most
// Policy.MetadataMaxBytes, replaced whole; app metadata goes into access
// tokens when Policy.MetadataInToken, then at most TokenMetadataMaxBytes.

// TokenMetadataMaxBytes bounds app metadata copied into access tokens:
// every request carries them.
const TokenMetadataMaxBytes = 1024

// appMetadataLimit is the bound on app metadata.
func (s *Service) appMetadataLimit() int {
	if s.policy.MetadataInToken {
		return min(s.policy.MetadataMaxBytes, TokenMetadataMaxBytes)
	}
	return s.policy.MetadataMaxBytes
}

// SetAppMetadata replaces the app metadata of the user id; the caller must
// manage the user.
//
// Errors: NOT_FOUND, FORBIDDEN, INVALID or TOO_LONG metadata.
func (s *Service) SetAppMetadata(ctx context.Context, id uuid.UUID, metadata []byte) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.DeletedAt != nil { // an erased account's row takes no new data
		return nil, errUnknownUser
	}
	if !v.ManagesUser(u.CreatedByID) {
		return nil, apperr.New(apperr.Forbidden, "Only administrators and the user's business administrator set its app metadata.")
	}
	return s.setMetadata(ctx, u, "app_metadata", metadata, s.appMetadataLimit(), v.UserID)
}

// SetUserMetadata replaces the caller's user metadata.
//
// Errors: INVALID or TOO_LONG metadata, UNAUTHENTICATED.
func (s *Service) SetUserMetadata(ctx context.Context, metadata []byte) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.UserByID(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	return s.setMetadata(ctx, u, "user_metadata", metadata, s.policy.MetadataMaxBytes, v.UserID)
}

func (s *Service) setMetadata(ctx context.Context, u *User, column string, metadata []byte, limit int, actor uuid.UUID) (*User, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, metadata); err != nil || !bytes.HasPrefix(compact.Bytes(), []byte("{")) {
		return nil, apperr.List{apperr.OnField("metadata", apperr.Invalid, "Metadata is a JSON object.")}
	}
	if compact.Len() > limit {
		return nil, apperr.List{apperr.OnField("metadata", apperr.TooLong,
			fmt.Sprintf("Metadata is at most %d bytes as compact JSON; this is %d.", limit, compact.Len()))}
	}
	now := s.now()
	err := db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewUpdate().Model(u).Set("? = ?, updated_at = ?", bun.Ident(column), compact.String(), now).WherePK().Exec(ctx); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.MetadataChanged, Actor: &actor, Target: &u.ID,
			Details: map[string]any{"which": column, "bytes": compact.Len()}})
	})
	if err != nil {
		return nil, err
	}
	if column == "app_metadata" {
		u.AppMetadata = compact.String()
	} else {
		u.UserMetadata = compact.String()
	}
	u.UpdatedAt = now
	return u, nil
}

var _ bun.BeforeAppendModelHook = (*User)(nil)

// BeforeAppendModel gives new users (however they are inserted, one or
// many) empty metadata objects.
func (u *User) BeforeAppendModel(_ context.Context, q bun.Query) error {
	if _, ok := q.(*bun.InsertQuery); ok {
		if u.AppMetadata == "" {
			u.AppMetadata = "{}"
		}
		if u.UserMetadata == "" {
			u.UserMetadata = "{}"
		}
	}
	return nil
}
