package wallet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/testdb"
)

// service returns a wallet service over a migrated database, the id of one
// user with a wallet of 100.00 and the id of an admin.
func service(t *testing.T, databaseURL string) (s *Service, userID, adminID uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	conn := testdb.Open(t, databaseURL)
	id, adminID, now := uuid.New(), uuid.New(), time.Now().UTC()
	if _, err := conn.NewRaw(`INSERT INTO users (id, email, email_key, mobile, first_name, last_name, role, date_joined, updated_at)
		VALUES (?, 'w@x.io', 'w@x.io', '+100000000', 'W', 'X', 'B2C_USER', ?, ?), (?, 'a@x.io', 'a@x.io', '+100000001', 'A', 'X', 'ADMIN', ?, ?)`,
		id, now, now, adminID, now, now).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	s = NewService(conn, audit.New(conn, slog.New(slog.NewTextHandler(io.Discard, nil))), 10000, "COIN")
	if err := db.InTx(ctx, conn, func(ctx context.Context, tx bun.Tx) error { return s.Open(ctx, tx, id) }); err != nil {
		t.Fatal(err)
	}
	return s, id, adminID
}

// Only an admin adjusts wallets, whatever the transport in front of the
// service lets through (the schema's @hasRole is the other gate).
func TestOnlyAdminsAdjust(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		s, id, adminID := service(t, dbURL)
		in := AdjustInput{UserID: id, Type: Credit, Amount: "5.00", IdempotencyKey: "k"}
		for _, role := range []auth.Role{auth.RoleB2CUser, auth.RoleB2BUser, auth.RoleB2BAdmin} {
			ctx := auth.WithViewer(context.Background(), auth.Viewer{UserID: id, Role: role, Approved: true})
			if _, _, err := s.Adjust(ctx, in); !errors.Is(err, apperr.ErrForbidden) {
				t.Errorf("%s adjusting a wallet: %v, want FORBIDDEN", role, err)
			}
		}
		if _, _, err := s.Adjust(context.Background(), in); !errors.Is(err, apperr.ErrUnauthenticated) {
			t.Errorf("anonymous: %v", err)
		}
		admin := auth.WithViewer(context.Background(), auth.Viewer{UserID: adminID, Role: auth.RoleAdmin})
		w, tx, err := s.Adjust(admin, in)
		if err != nil || tx == nil || w.Balance != 10500 {
			t.Fatalf("admin: %+v %+v %v", w, tx, err)
		}
		// The balance never goes below zero.
		if _, _, err := s.Adjust(admin, AdjustInput{UserID: id, Type: Debit, Amount: "105.01", IdempotencyKey: "k2"}); len(apperr.Errors(err)) == 0 || apperr.Errors(err)[0].Code != apperr.InsufficientFunds {
			t.Errorf("debit beyond the balance: %v, want INSUFFICIENT_FUNDS", err)
		}
	})
}

// The same idempotency key: the same request returns the first result, a
// different one is IDEMPOTENCY_CONFLICT and changes nothing.
func TestIdempotencyKeys(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		s, id, adminID := service(t, dbURL)
		admin := auth.WithViewer(context.Background(), auth.Viewer{UserID: adminID, Role: auth.RoleAdmin})
		in := AdjustInput{UserID: id, Type: Credit, Amount: "5.00", Description: "bonus", IdempotencyKey: "once"}
		_, first, err := s.Adjust(admin, in)
		if err != nil {
			t.Fatal(err)
		}
		w, again, err := s.Adjust(admin, in)
		if err != nil || again.ID != first.ID || w.Balance != 10500 {
			t.Errorf("retry: %+v %+v %v", w, again, err)
		}
		for name, other := range map[string]AdjustInput{
			"another amount":      {UserID: id, Type: Credit, Amount: "6.00", Description: "bonus", IdempotencyKey: "once"},
			"another type":        {UserID: id, Type: Debit, Amount: "5.00", Description: "bonus", IdempotencyKey: "once"},
			"another description": {UserID: id, Type: Credit, Amount: "5.00", Description: "other", IdempotencyKey: "once"},
		} {
			_, _, err := s.Adjust(admin, other)
			if coded := apperr.Errors(err); len(coded) != 1 || coded[0].Code != apperr.IdempotencyConflict {
				t.Errorf("%s with the same key: %v, want IDEMPOTENCY_CONFLICT", name, err)
			}
		}
		if w, err := s.Get(admin, id); err != nil || w.Balance != 10500 {
			t.Errorf("balance after the conflicts: %+v %v", w, err)
		}
	})
}
