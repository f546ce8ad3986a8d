package wallet

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/userdata"
)

// UserTables declares a user's coins: kept when the user is erased.
func (s *Service) UserTables() []userdata.Table {
	const money = "money is not erased: the balance and every entry stay with the anonymised account, so the books still add up"
	return []userdata.Table{
		{Name: "wallets", Erasure: userdata.Keep, Reason: money, Export: []string{"wallet"}},
		{Name: "wallet_transactions", Erasure: userdata.Keep, Reason: money + " (an entry's actor is the admin who made it)", Export: []string{"ledger"}},
	}
}

// EraseUser keeps the wallet and ledger (UserTables says why).
func (s *Service) EraseUser(context.Context, bun.IDB, userdata.Person) error { return nil }

// ExportUser adds the wallet and its ledger (amounts in minor units).
func (s *Service) ExportUser(ctx context.Context, idb bun.IDB, p userdata.Person, out userdata.Export) error {
	w := new(Wallet)
	switch err := idb.NewSelect().Model(w).Where("user_id = ?", p.ID).Scan(ctx); {
	case err == nil:
		out["wallet"] = exportWallet{Balance: w.Balance, Blocked: w.Blocked, Currency: w.Currency}
	case errors.Is(err, sql.ErrNoRows):
		out["wallet"] = nil
	default:
		return err
	}
	var ledger []Transaction
	if err := idb.NewSelect().Model(&ledger).Where("user_id = ?", p.ID).Order("seq").Limit(userdata.ExportLimit).Scan(ctx); err != nil {
		return err
	}
	entries := make([]exportEntry, len(ledger))
	for i, t := range ledger {
		entries[i] = exportEntry{Seq: t.Seq, Type: t.Type, Amount: t.Amount, BalanceAfter: t.BalanceAfter,
			BlockedAfter: t.BlockedAfter, Description: t.Description, CreatedAt: t.CreatedAt,
			ByAnotherUser: t.ActorID != nil && *t.ActorID != p.ID}
	}
	out["ledger"] = entries
	return nil
}

type exportWallet struct {
	Balance  int64  `json:"balance"`
	Blocked  int64  `json:"blocked"`
	Currency string `json:"currency"`
}

type exportEntry struct {
	Seq           int64     `json:"seq"`
	Type          Type      `json:"type"`
	Amount        int64     `json:"amount"`
	BalanceAfter  int64     `json:"balanceAfter"`
	BlockedAfter  int64     `json:"blockedAfter"`
	Description   string    `json:"description"`
	CreatedAt     time.Time `json:"createdAt"`
	ByAnotherUser bool      `json:"byAnotherUser"`
}
