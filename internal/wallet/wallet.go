// Package wallet keeps each user's coins: a wallet created with the user
// and a ledger of every change. Money is integer minor units (1/100 coin),
// shown as decimal strings such as "1000000.00"; never floats.
//
// Who may do what: a user reads its own wallet; a B2B admin the wallets of
// the users it created; an admin every wallet. Only admins adjust wallets.
package wallet

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/page"
)

// Wallet is one user's coins.
type Wallet struct {
	bun.BaseModel `bun:"table:wallets,alias:w"`

	UserID    uuid.UUID `bun:"user_id,pk,type:uuid"`
	Balance   int64     `bun:"balance"` // available, minor units
	Blocked   int64     `bun:"blocked"` // held, minor units
	Currency  string    `bun:"currency"`
	UpdatedAt time.Time `bun:"updated_at"`
	// Entries counts the ledger entries; the next one gets Entries+1.
	Entries int64 `bun:"entries"`
}

// Type is the kind of a ledger entry.
type Type string

// The ledger entry types: CREDIT and DEBIT add to and take from the balance;
// BLOCK moves funds from the balance to blocked, UNBLOCK moves them back.
const (
	Credit  Type = "CREDIT"
	Debit   Type = "DEBIT"
	Block   Type = "BLOCK"
	Unblock Type = "UNBLOCK"
)

// Transaction is one ledger entry.
type Transaction struct {
	bun.BaseModel `bun:"table:wallet_transactions,alias:t"`

	ID             uuid.UUID  `bun:"id,pk,type:uuid"`
	UserID         uuid.UUID  `bun:"user_id,type:uuid"`
	Type           Type       `bun:"type"`
	Amount         int64      `bun:"amount"`
	BalanceBefore  int64      `bun:"balance_before"`
	BalanceAfter   int64      `bun:"balance_after"`
	BlockedBefore  int64      `bun:"blocked_before"`
	BlockedAfter   int64      `bun:"blocked_after"`
	Description    string     `bun:"description"`
	ActorID        *uuid.UUID `bun:"actor_id,type:uuid"`
	IdempotencyKey *string    `bun:"idempotency_key"`
	CreatedAt      time.Time  `bun:"created_at"`
	// Seq numbers the wallet's entries in the order they were applied.
	Seq int64 `bun:"seq"`
}

// Service manages wallets.
type Service struct {
	db       *bun.DB
	audit    *audit.Log
	opening  int64
	currency string
}

// NewService returns the wallet service; new wallets open with opening minor
// units of currency.
func NewService(database *bun.DB, log *audit.Log, opening int64, currency string) *Service {
	return &Service{db: database, audit: log, opening: opening, currency: currency}
}

// Open creates the wallets of new users inside their creation's transaction,
// each with the opening balance as its first ledger entry.
func (s *Service) Open(ctx context.Context, tx bun.IDB, userIDs ...uuid.UUID) error {
	now := time.Now().UTC()
	wallets := make([]Wallet, len(userIDs))
	entries := make([]Transaction, 0, len(userIDs))
	for i, id := range userIDs {
		wallets[i] = Wallet{UserID: id, Balance: s.opening, Currency: s.currency, UpdatedAt: now}
		if s.opening > 0 {
			wallets[i].Entries = 1
			entries = append(entries, Transaction{ID: uuid.New(), UserID: id, Type: Credit, Amount: s.opening,
				BalanceAfter: s.opening, Description: "Opening balance", CreatedAt: now, Seq: 1})
		}
	}
	if _, err := tx.NewInsert().Model(&wallets).Exec(ctx); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	_, err := tx.NewInsert().Model(&entries).Exec(ctx)
	return err
}

var errNotFound = apperr.OnField("userId", apperr.NotFound, "No such user.")

// mayRead refuses, as NotFound, a caller that may not read userID's wallet.
func (s *Service) mayRead(ctx context.Context, userID uuid.UUID) error {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return err
	}
	if v.MaySeePrivate(userID, nil) { // admins and the owner: no need to read the user's creator
		return nil
	}
	visible, args := v.VisibleUsers("id")
	n, err := s.db.NewSelect().Table("users").Where("id = ?", userID).Where(visible, args...).Count(ctx)
	if err == nil && n == 0 {
		err = errNotFound
	}
	return err
}

// Get returns userID's wallet if the caller may read it, else NotFound.
func (s *Service) Get(ctx context.Context, userID uuid.UUID) (*Wallet, error) {
	if err := s.mayRead(ctx, userID); err != nil {
		return nil, err
	}
	w := new(Wallet)
	err := s.db.NewSelect().Model(w).Where("w.user_id = ?", userID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return w, err
}

// ByUserIDs loads wallets for data loaders; callers check access first.
func (s *Service) ByUserIDs(ctx context.Context, ids []uuid.UUID) ([]*Wallet, error) {
	var out []*Wallet
	err := s.db.NewSelect().Model(&out).Where("w.user_id IN (?)", bun.List(ids)).Scan(ctx)
	return out, err
}

// Transactions lists userID's ledger, newest first, if the caller may read it.
func (s *Service) Transactions(ctx context.Context, userID uuid.UUID, args page.Args) (page.Page[*Transaction], error) {
	if err := s.mayRead(ctx, userID); err != nil {
		return page.Page[*Transaction]{}, err
	}
	q := s.db.NewSelect().Model((*Transaction)(nil)).Where("t.user_id = ?", userID)
	return page.Load(ctx, q, page.Key{Expr: "t.seq", Desc: true}, args,
		func(t *Transaction) (any, uuid.UUID) { return t.Seq, t.ID })
}
