package db_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/testdb"
)

// A transaction whose connection was dead runs once more; any other error,
// or a second dead connection, is returned as it is.
func TestInTxRetriesADeadConnectionOnce(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		conn := testdb.Open(t, dbURL)
		ctx := context.Background()
		runs, committed := 0, 0
		err := db.InTx(ctx, conn, func(ctx context.Context, tx bun.Tx) error {
			runs++
			db.AfterCommit(ctx, func() { committed++ })
			if runs == 1 {
				return fmt.Errorf("insert: %w", driver.ErrBadConn)
			}
			return nil
		})
		if err != nil || runs != 2 || committed != 1 {
			t.Errorf("dead connection once: err %v, %d runs, %d commits; want nil, 2, 1", err, runs, committed)
		}
		for name, fail := range map[string]error{"always dead": driver.ErrBadConn, "another error": errors.New("boom")} {
			runs = 0
			err := db.InTx(ctx, conn, func(context.Context, bun.Tx) error { runs++; return fail })
			if !errors.Is(err, fail) || (fail == driver.ErrBadConn && runs != 2) || (fail != driver.ErrBadConn && runs != 1) {
				t.Errorf("%s: err %v after %d runs", name, err, runs)
			}
		}
	})
}
