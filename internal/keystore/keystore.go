// Package keystore keeps the token-signing keys in the database, so every
// replica shares them with no file to copy: the newest key signs, older ones
// stay published until no token they signed can still be valid, and a
// rotation reaches every replica when it reloads (auth.Keys.Reload).
// Private keys are sealed with KEY_ENCRYPTION_KEY when it is set.
package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
)

type row struct {
	bun.BaseModel `bun:"table:signing_keys"`

	KID        string     `bun:"kid,pk"`
	PrivateJWK string     `bun:"private_jwk"` // sealed
	CreatedAt  time.Time  `bun:"created_at"`
	RetiredAt  *time.Time `bun:"retired_at"` // when a newer key started signing
}

// Store reads and changes the signing keys.
type Store struct {
	db     *bun.DB
	sealer *auth.Sealer
	now    func() time.Time
}

// New returns the store of database, sealing private keys with sealer.
func New(database *bun.DB, sealer *auth.Sealer) *Store {
	return &Store{db: database, sealer: sealer, now: func() time.Time { return time.Now().UTC() }}
}

// Load returns every stored key, the signing one (the newest not retired)
// first.
func (s *Store) Load(ctx context.Context) (jwk.Set, error) {
	var rows []row
	if err := s.db.NewSelect().Model(&rows).OrderExpr("retired_at IS NULL DESC, created_at DESC, kid").Scan(ctx); err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	for _, r := range rows {
		raw, err := s.sealer.Open(r.PrivateJWK, r.KID)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", r.KID, err)
		}
		k, err := jwk.ParseKey(raw)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", r.KID, err)
		}
		if err := set.AddKey(k); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// ResealPlain encrypts the private keys stored unencrypted before a
// key-encryption key was set.
func (s *Store) ResealPlain(ctx context.Context) error {
	var rows []row
	if err := s.db.NewSelect().Model(&rows).Where("private_jwk LIKE 'plain:%'").Scan(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		sealed, ok, err := s.sealer.Reseal(r.PrivateJWK, r.KID)
		if err != nil || !ok {
			return err
		}
		if _, err := s.db.NewUpdate().Model((*row)(nil)).Set("private_jwk = ?", sealed).Where("kid = ?", r.KID).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Ensure makes sure a key exists. A database without keys takes those of
// legacyFile (the key file earlier versions generated in DATA_DIR), so
// tokens already issued stay valid, or else one new key.
func (s *Store) Ensure(ctx context.Context, legacyFile string) error {
	n, err := s.db.NewSelect().Model((*row)(nil)).Count(ctx)
	if err != nil || n > 0 {
		return err
	}
	var keys []jwk.Key
	if data, err := os.ReadFile(legacyFile); err == nil {
		set, err := jwk.Parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", legacyFile, err)
		}
		for i := set.Len() - 1; i >= 0; i-- { // the file's first key signs: it is stored newest
			k, _ := set.Key(i)
			keys = append(keys, k)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	} else {
		k, err := auth.NewKey()
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	now := s.now()
	rows := make([]row, len(keys))
	for i, k := range keys {
		if rows[i], err = s.row(k, now.Add(time.Duration(i)*time.Microsecond)); err != nil {
			return err
		}
	}
	// Replicas starting together may both get here; each key is kept, the
	// newest signs.
	_, err = s.db.NewInsert().Model(&rows).On("CONFLICT (kid) DO NOTHING").Exec(ctx)
	return err
}

func (s *Store) row(k jwk.Key, at time.Time) (row, error) {
	if _, ok := k.KeyID(); !ok {
		if err := jwk.AssignKeyID(k); err != nil {
			return row{}, err
		}
	}
	kid, _ := k.KeyID()
	raw, err := json.Marshal(k)
	if err != nil {
		return row{}, err
	}
	return row{KID: kid, PrivateJWK: s.sealer.Seal(raw, kid), CreatedAt: at}, nil
}

// Rotate adds a new key that signs from now on; the keys before it are
// retired: still published and accepted until Prune removes them.
func (s *Store) Rotate(ctx context.Context) (string, error) {
	k, err := auth.NewKey()
	if err != nil {
		return "", err
	}
	now := s.now()
	r, err := s.row(k, now)
	if err != nil {
		return "", err
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewUpdate().Model((*row)(nil)).Set("retired_at = ?", now).Where("retired_at IS NULL").Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(&r).Exec(ctx)
		return err
	})
	return r.KID, err
}

// Info describes one key for `usergraph keys list`.
type Info struct {
	KID       string
	CreatedAt time.Time
	RetiredAt *time.Time
}

// List returns the keys, the signing one first.
func (s *Store) List(ctx context.Context) ([]Info, error) {
	var rows []row
	err := s.db.NewSelect().Model(&rows).Column("kid", "created_at", "retired_at").
		OrderExpr("retired_at IS NULL DESC, created_at DESC, kid").Scan(ctx)
	out := make([]Info, len(rows))
	for i, r := range rows {
		out[i] = Info{KID: r.KID, CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt}
	}
	return out, err
}

// Prune removes keys retired at least olderThan ago. With olderThan the
// access-token lifetime (and clock skew), no valid token was signed by them;
// a shorter one (0 after a key leaked) ends the tokens they signed.
func (s *Store) Prune(ctx context.Context, olderThan time.Duration) ([]string, error) {
	var rows []row
	err := s.db.NewSelect().Model(&rows).Column("kid").
		Where("retired_at IS NOT NULL AND retired_at <= ?", s.now().Add(-olderThan)).Scan(ctx)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	kids := make([]string, len(rows))
	for i, r := range rows {
		kids[i] = r.KID
	}
	_, err = s.db.NewDelete().Model((*row)(nil)).Where("kid IN (?)", bun.List(kids)).Exec(ctx)
	return kids, err
}
