package wallet

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/validate"
)

// maxAmount bounds one adjustment (10^13 minor units), far from int64 overflow.
const maxAmount = 10_000_000_000_000

// ParseAmount reads a positive decimal string with at most two decimals
// ("12.5", "12.50") as minor units.
func ParseAmount(s string) (int64, error) { return parseMinor(s, false) }

// ParseBalance is ParseAmount that also accepts zero (an opening balance).
func ParseBalance(s string) (int64, error) { return parseMinor(s, true) }

// amountPattern is what an amount looks like: digits and at most two
// decimals. Checking it first keeps exponents such as 1e50000000, which
// cost seconds to expand, away from the decimal parser.
var amountPattern = regexp.MustCompile(`^[0-9]{1,20}(\.[0-9]{1,20})?$`)

func parseMinor(s string, allowZero bool) (int64, error) {
	s = strings.TrimSpace(s)
	if !amountPattern.MatchString(s) {
		return 0, errors.New("Enter an amount such as 12.50.")
	}
	d, err := decimal.NewFromString(s)
	switch {
	case err != nil:
		return 0, errors.New("Enter an amount such as 12.50.")
	case !d.Equal(d.Truncate(2)):
		return 0, errors.New("Use at most two decimal places.")
	case d.IsNegative() || (d.IsZero() && !allowZero):
		return 0, errors.New("The amount must be greater than zero.")
	case d.Shift(2).GreaterThan(decimal.NewFromInt(maxAmount)):
		return 0, errors.New("The amount is too large.")
	}
	return d.Shift(2).IntPart(), nil
}

// FormatAmount shows minor units as a decimal string with two places.
func FormatAmount(minor int64) string { return decimal.New(minor, -2).StringFixed(2) }

// AdjustInput is the form of adjustWallet.
type AdjustInput struct {
	UserID         uuid.UUID
	Type           Type
	Amount         string
	Description    string
	IdempotencyKey string
}

var errInsufficient = apperr.List{apperr.OnField("amount", apperr.InsufficientFunds, "The wallet has too little for this.")}

// Adjust applies one ledger entry to a wallet. Admins only. The balance
// change is one conditional UPDATE, so concurrent adjustments never lose an
// update and a balance never goes below zero. With an idempotency key, the
// same key for the same wallet applies once; repeating it returns the first
// result, also when the repeats race each other.
//
// Errors: NOT_FOUND userId, INVALID amount/type, REQUIRED idempotencyKey,
// INSUFFICIENT_FUNDS, FORBIDDEN.
func (s *Service) Adjust(ctx context.Context, in AdjustInput) (*Wallet, *Transaction, error) {
	v, err := auth.Require(ctx, auth.Viewer.AdjustsWallets)
	if err != nil {
		return nil, nil, err
	}
	amount, err := ParseAmount(in.Amount)
	if err != nil {
		return nil, nil, apperr.List{apperr.OnField("amount", apperr.Invalid, err.Error())}
	}
	in.IdempotencyKey, in.Description = strings.TrimSpace(in.IdempotencyKey), strings.TrimSpace(in.Description)
	switch {
	case in.IdempotencyKey == "":
		return nil, nil, apperr.List{apperr.OnField("idempotencyKey", apperr.Required, "Give a key that identifies this adjustment.")}
	case len(in.IdempotencyKey) > 200:
		return nil, nil, apperr.List{apperr.OnField("idempotencyKey", apperr.TooLong, "Ensure this field has no more than 200 characters.")}
	case len(in.Description) > 500:
		return nil, nil, apperr.List{apperr.OnField("description", apperr.TooLong, "Ensure this field has no more than 500 characters.")}
	case !validate.Text(in.IdempotencyKey):
		return nil, nil, apperr.List{apperr.OnField("idempotencyKey", apperr.Invalid, "Remove the control characters from this field.")}
	case !validate.Text(in.Description):
		return nil, nil, apperr.List{apperr.OnField("description", apperr.Invalid, "Remove the control characters from this field.")}
	}
	if w, t, err := s.replay(ctx, s.db, in, amount); err != nil || t != nil {
		return w, t, err
	}
	var w Wallet
	var t *Transaction
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		var err error
		w, t, err = s.apply(ctx, tx, v.UserID, amount, in)
		return err
	})
	if db.IsUniqueViolation(err, "idempotency_key") {
		// A concurrent request with the same key won; answer with its result.
		return s.replay(ctx, s.db, in, amount)
	}
	if err != nil {
		return nil, nil, err
	}
	return &w, t, nil
}

var errIdempotencyConflict = apperr.List{apperr.OnField("idempotencyKey", apperr.IdempotencyConflict,
	"This key was used before for a different adjustment.")}

// replay returns the earlier result of in.IdempotencyKey, if there is one;
// an earlier use for a different adjustment is IDEMPOTENCY_CONFLICT.
func (s *Service) replay(ctx context.Context, idb bun.IDB, in AdjustInput, amount int64) (*Wallet, *Transaction, error) {
	t := new(Transaction)
	err := idb.NewSelect().Model(t).Where("t.user_id = ? AND t.idempotency_key = ?", in.UserID, in.IdempotencyKey).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if t.Type != in.Type || t.Amount != amount || t.Description != in.Description {
		return nil, nil, errIdempotencyConflict
	}
	w := new(Wallet)
	if err := idb.NewSelect().Model(w).Where("w.user_id = ?", in.UserID).Scan(ctx); err != nil {
		return nil, nil, err
	}
	return w, t, nil
}

// deltas says how each type moves the balance and the blocked funds.
var deltas = map[Type][2]int64{Credit: {1, 0}, Debit: {-1, 0}, Block: {-1, 1}, Unblock: {1, -1}}

func (s *Service) apply(ctx context.Context, tx bun.Tx, actor uuid.UUID, amount int64, in AdjustInput) (Wallet, *Transaction, error) {
	d, ok := deltas[in.Type]
	if !ok {
		return Wallet{}, nil, apperr.List{apperr.OnField("type", apperr.Invalid, "Unknown adjustment type.")}
	}
	var w Wallet
	// Each side may only go down by what it holds: the WHERE makes the
	// update a no-op instead of a negative balance.
	err := tx.NewUpdate().Model(&w).
		Set("balance = balance + ?", d[0]*amount).Set("blocked = blocked + ?", d[1]*amount).
		Set("updated_at = ?", nowUTC()).Set("entries = entries + 1").
		Where("user_id = ?", in.UserID).
		Where("balance + ? >= 0 AND blocked + ? >= 0", d[0]*amount, d[1]*amount).
		Returning("*").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		n, cerr := tx.NewSelect().Model((*Wallet)(nil)).Where("w.user_id = ?", in.UserID).Count(ctx)
		if cerr != nil {
			return w, nil, cerr
		}
		if n == 0 {
			return w, nil, apperr.List{errNotFound}
		}
		return w, nil, errInsufficient
	}
	if err != nil {
		return w, nil, err
	}
	key := in.IdempotencyKey
	t := &Transaction{
		ID: uuid.New(), UserID: in.UserID, Type: in.Type, Amount: amount,
		BalanceBefore: w.Balance - d[0]*amount, BalanceAfter: w.Balance,
		BlockedBefore: w.Blocked - d[1]*amount, BlockedAfter: w.Blocked,
		Description: in.Description, ActorID: &actor, IdempotencyKey: &key, CreatedAt: w.UpdatedAt,
		Seq: w.Entries, // numbered in the locked update that applied it
	}
	if _, err := tx.NewInsert().Model(t).Exec(ctx); err != nil {
		return w, nil, err
	}
	return w, t, s.audit.Record(ctx, tx, audit.Entry{Action: audit.WalletAdjusted, Target: &in.UserID, Details: map[string]any{
		"type": in.Type, "amount": FormatAmount(amount), "transactionId": t.ID.String(),
		"balanceAfter": FormatAmount(w.Balance), "blockedAfter": FormatAmount(w.Blocked),
	}})
}

func nowUTC() time.Time { return time.Now().UTC() }
