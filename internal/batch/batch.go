// Package batch manages batches: groups of B2B users that an approved B2B
// admin onboards together, with a capacity.
//
// Who may do what: an approved B2B admin creates batches and reads and
// changes its own; an admin reads and changes every batch; nobody else sees
// batches. A batch that is not the caller's is reported as NOT_FOUND.
package batch

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/page"
	"github.com/usergraph/usergraph/internal/validate"
)

// Batch is a group of B2B users owned by the B2B admin that created it.
type Batch struct {
	bun.BaseModel `bun:"table:batches,alias:b"`

	ID          uuid.UUID `bun:"id,pk,type:uuid"`
	Name        string    `bun:"name"`
	NameKey     string    `bun:"name_key"`
	Description string    `bun:"description"`
	MaxUsers    int       `bun:"max_users"`
	IsActive    bool      `bun:"is_active"`
	CreatedByID uuid.UUID `bun:"created_by_id,type:uuid"`
	CreatedAt   time.Time `bun:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

// DefaultMaxUsers is the capacity of a batch created without one.
const DefaultMaxUsers = 100

// Service manages batches.
type Service struct {
	db    *bun.DB
	audit *audit.Log
	now   func() time.Time
}

// NewService returns the batch service.
func NewService(database *bun.DB, log *audit.Log) *Service {
	return &Service{db: database, audit: log, now: func() time.Time { return time.Now().UTC() }}
}

// record writes a batch event; its target is the batch's owner.
func (s *Service) record(ctx context.Context, tx bun.IDB, action audit.Action, b *Batch) error {
	return s.audit.Record(ctx, tx, audit.Entry{Action: action, Target: &b.CreatedByID, Details: map[string]any{
		"batchId": b.ID.String(), "name": b.Name, "maxUsers": b.MaxUsers, "isActive": b.IsActive,
	}})
}

var errNotFound = apperr.OnField("id", apperr.NotFound, "No such batch.")

// CreateInput is the form of createBatch.
type CreateInput struct {
	Name        string `json:"name" validate:"required,max=150"`
	Description string `json:"description" validate:"max=2000"`
	MaxUsers    int    `json:"maxUsers" validate:"min=1,max=100000"`
}

// Create adds a batch owned by the calling approved B2B admin.
//
// Errors: REQUIRED/TOO_LONG/INVALID field errors, DUPLICATE name (per owner,
// letter case ignored), FORBIDDEN for anyone but an approved B2B admin.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Batch, error) {
	v, err := auth.Require(ctx, auth.Viewer.OnboardsB2BUsers)
	if err != nil {
		return nil, err
	}
	in.Name, in.Description = strings.TrimSpace(in.Name), strings.TrimSpace(in.Description)
	if problems := validate.Struct(in); len(problems) > 0 {
		return nil, problems
	}
	now := s.now()
	b := &Batch{
		ID: uuid.New(), Name: in.Name, NameKey: strings.ToLower(in.Name), Description: in.Description,
		MaxUsers: in.MaxUsers, IsActive: true, CreatedByID: v.UserID, CreatedAt: now, UpdatedAt: now,
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(b).Exec(ctx); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.BatchCreated, b)
	})
	if db.IsUniqueViolation(err, "name_key") {
		return nil, duplicateName
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

var duplicateName = apperr.List{apperr.OnField("name", apperr.Duplicate, "You already have a batch with this name.")}

// UpdateInput is the form of updateBatch; nil fields keep their value.
type UpdateInput struct {
	ID          uuid.UUID `json:"id"`
	Name        *string   `json:"name" validate:"omitnil,min=1,max=150"`
	Description *string   `json:"description" validate:"omitnil,max=2000"`
	MaxUsers    *int      `json:"maxUsers" validate:"omitnil,min=1,max=100000"`
	IsActive    *bool     `json:"isActive"`
}

// Update changes a batch. maxUsers cannot drop below the batch's active users.
//
// Errors: NOT_FOUND (also for another admin's batch), field errors,
// DUPLICATE name, INVALID maxUsers below the current user count.
func (s *Service) Update(ctx context.Context, in UpdateInput) (*Batch, error) {
	v, err := auth.Require(ctx, auth.Viewer.ManagesBatches)
	if err != nil {
		return nil, err
	}
	for _, p := range []*string{in.Name, in.Description} {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
	if problems := validate.Struct(in); len(problems) > 0 {
		return nil, problems
	}
	var b Batch
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := db.ForUpdate(tx.NewSelect().Model(&b).Where("b.id = ?", in.ID)).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return errNotFound
			}
			return err
		}
		if !v.ManagesBatch(b.CreatedByID) {
			return errNotFound
		}
		if in.Name != nil {
			b.Name, b.NameKey = *in.Name, strings.ToLower(*in.Name)
		}
		if in.Description != nil {
			b.Description = *in.Description
		}
		if in.IsActive != nil {
			b.IsActive = *in.IsActive
		}
		if in.MaxUsers != nil {
			counts, err := countActive(ctx, tx, []uuid.UUID{b.ID})
			if err != nil {
				return err
			}
			if *in.MaxUsers < counts[b.ID] {
				return apperr.List{apperr.OnField("maxUsers", apperr.Invalid,
					"The batch already has more active users than this.")}
			}
			b.MaxUsers = *in.MaxUsers
		}
		b.UpdatedAt = s.now()
		_, err := tx.NewUpdate().Model(&b).WherePK().Exec(ctx)
		if db.IsUniqueViolation(err, "name_key") {
			return duplicateName
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, audit.BatchUpdated, &b)
	})
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// Get returns a batch the caller may see, or NotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*Batch, error) {
	v, err := auth.Require(ctx, auth.Viewer.ManagesBatches)
	if err != nil {
		return nil, err
	}
	var b Batch
	err = s.db.NewSelect().Model(&b).Where("b.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !v.ManagesBatch(b.CreatedByID)) {
		return nil, errNotFound
	}
	return &b, err
}

// List returns the caller's batches (all of them for an admin), newest
// first, optionally only those whose name contains search.
func (s *Service) List(ctx context.Context, search string, args page.Args) (page.Page[*Batch], error) {
	v, err := auth.Require(ctx, auth.Viewer.ManagesBatches)
	if err != nil {
		return page.Page[*Batch]{}, err
	}
	managed, margs := v.ManagedBatches("b.created_by_id")
	q := s.db.NewSelect().Model((*Batch)(nil)).Where(managed, margs...)
	words, err := validate.SearchWords(search)
	if err != nil {
		return page.Page[*Batch]{}, err
	}
	for _, word := range words {
		q = q.Where("b.name_key LIKE ? ESCAPE '\\'", "%"+db.EscapeLike(word)+"%")
	}
	return page.Load(ctx, q, page.Key{Expr: "b.created_at", Time: true, Desc: true}, args,
		func(b *Batch) (any, uuid.UUID) { return b.CreatedAt, b.ID })
}

// ByIDs loads batches by id, in no particular order (for data loaders; the
// caller has already been allowed to see the objects that refer to them).
func (s *Service) ByIDs(ctx context.Context, ids []uuid.UUID) ([]*Batch, error) {
	var out []*Batch
	err := s.db.NewSelect().Model(&out).Where("b.id IN (?)", bun.List(ids)).Scan(ctx)
	return out, err
}

// UserCounts returns the number of active users in each batch.
func (s *Service) UserCounts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int, error) {
	return countActive(ctx, s.db, ids)
}

func countActive(ctx context.Context, idb bun.IDB, ids []uuid.UUID) (map[uuid.UUID]int, error) {
	var rows []struct {
		BatchID uuid.UUID `bun:"batch_id,type:uuid"`
		N       int       `bun:"n"`
	}
	err := idb.NewSelect().TableExpr("users").ColumnExpr("batch_id, count(*) AS n").
		Where("batch_id IN (?)", bun.List(ids)).Where("is_active").GroupExpr("batch_id").Scan(ctx, &rows)
	out := make(map[uuid.UUID]int, len(ids))
	for _, r := range rows {
		out[r.BatchID] = r.N
	}
	return out, err
}

// Reserve locks a batch v owns (auth.Viewer.OwnsBatch) for adding users
// inside tx and reports how many seats are free. The lock (row lock on PostgreSQL; SQLite
// transactions are serialised) makes concurrent creates see each other, so a
// batch is never overfilled.
//
// Errors: NOT_FOUND on batchId (missing or not the caller's), BATCH_INACTIVE.
func Reserve(ctx context.Context, tx bun.Tx, v auth.Viewer, batchID uuid.UUID) (*Batch, int, error) {
	var b Batch
	err := db.ForUpdate(tx.NewSelect().Model(&b).Where("b.id = ?", batchID)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !v.OwnsBatch(b.CreatedByID)) {
		return nil, 0, apperr.List{apperr.OnField("batchId", apperr.NotFound, "No such batch.")}
	}
	if err != nil {
		return nil, 0, err
	}
	if !b.IsActive {
		return nil, 0, apperr.List{apperr.OnField("batchId", apperr.BatchInactive, "The batch is not active.")}
	}
	counts, err := countActive(ctx, tx, []uuid.UUID{b.ID})
	if err != nil {
		return nil, 0, err
	}
	return &b, b.MaxUsers - counts[b.ID], nil
}
