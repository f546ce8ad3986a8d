package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
	"github.com/usergraph/usergraph/internal/wallet"
)

func TestWallet(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		p := mustSignIn(t, srv.Client().register(registerInput("coins@example.com", "+4951000001")))
		me := srv.Client().As(*p.AccessToken)
		id := p.User.ID

		// Opened with the user: 1,000,000.00 as the first ledger entry.
		var w walletResult
		me.MustData(walletQuery, nil, &w)
		if w.Wallet.Balance != "1000000.00" || w.Wallet.Blocked != "0.00" || w.Wallet.Currency != "COIN" ||
			w.Wallet.Transactions.TotalCount != 1 || w.Wallet.Transactions.Edges[0].Node.Type != "CREDIT" {
			t.Fatalf("new wallet = %+v", w.Wallet)
		}

		// Each type moves the right side; entries record before/after and the actor.
		steps := []struct{ typ, amount, balance, blocked string }{
			{"CREDIT", "250.50", "1000250.50", "0.00"},
			{"DEBIT", "0.50", "1000250.00", "0.00"},
			{"BLOCK", "1000", "999250.00", "1000.00"},
			{"UNBLOCK", "400.00", "999650.00", "600.00"},
		}
		for i, s := range steps {
			r := adjust(t, admin, id, s.typ, s.amount, fmt.Sprintf("step-%d", i))
			if r.Wallet == nil || r.Wallet.Balance != s.balance || r.Wallet.Blocked != s.blocked ||
				r.Transaction.Type != s.typ || r.Transaction.BalanceAfter != s.balance || r.Transaction.Actor.Email != adminEmail {
				t.Fatalf("%s %s: %+v %+v %v", s.typ, s.amount, r.Wallet, r.Transaction, codes(r.Errors))
			}
		}
		// The same idempotency key applies once and returns the first result.
		first := adjust(t, admin, id, "CREDIT", "5.00", "once")
		again := adjust(t, admin, id, "CREDIT", "5.00", "once")
		if again.Transaction == nil || again.Transaction.ID != first.Transaction.ID || again.Wallet.Balance != "999655.00" {
			t.Errorf("repeated key: first %+v, again %+v %+v", first.Transaction, again.Transaction, again.Wallet)
		}
		// Never negative; bad amounts are payload errors.
		for _, c := range []struct{ typ, amount, want string }{
			{"DEBIT", "999655.01", "INSUFFICIENT_FUNDS@input.amount"},
			{"UNBLOCK", "600.01", "INSUFFICIENT_FUNDS@input.amount"},
			{"CREDIT", "-5", "INVALID@input.amount"},
			{"CREDIT", "1.005", "INVALID@input.amount"},
			{"CREDIT", "ten", "INVALID@input.amount"},
		} {
			if r := adjust(t, admin, id, c.typ, c.amount, "bad-"+c.typ+c.amount); !slices.Equal(codes(r.Errors), []string{c.want}) || r.Wallet != nil {
				t.Errorf("%s %s: %v, want %s", c.typ, c.amount, codes(r.Errors), c.want)
			}
		}
		if r := adjust(t, admin, "00000000-0000-0000-0000-000000000001", "CREDIT", "1", "nf"); !slices.Equal(codes(r.Errors), []string{"NOT_FOUND@input.userId"}) {
			t.Errorf("unknown user: %v", codes(r.Errors))
		}
		// Only admins adjust.
		if code := me.Do(adjustMutation, map[string]any{"in": map[string]any{"userId": id, "type": "CREDIT", "amount": "1", "idempotencyKey": "self"}}).Code(); code != "FORBIDDEN" {
			t.Errorf("self adjustment: %q", code)
		}
		me.MustData(walletQuery, nil, &w)
		if w.Wallet.Balance != "999655.00" || w.Wallet.Transactions.TotalCount != 6 {
			t.Errorf("after the steps: %s with %d entries", w.Wallet.Balance, w.Wallet.Transactions.TotalCount)
		}

		// Who reads User.wallet: the user, admins, and the B2B admin that created the user.
		boss := approvedB2BAdmin(t, srv, admin, "wb@corp.test", "+4951000002")
		batchID := createBatch(t, boss, "W", 10).Batch.ID
		staff := createB2BUser(t, boss, batchID, "ws@corp.test", "+4951000003").User.ID
		const userWallet = `query($id: ID!) { user(id: $id) { wallet { balance } } }`
		if resp := boss.Do(userWallet, map[string]any{"id": staff}); resp.Code() != "" || !bytes.Contains(resp.Data, []byte("1000000.00")) {
			t.Errorf("B2B admin reading its user's wallet: %s %v", resp.Data, resp.Errors)
		}
		if resp := admin.Do(userWallet, map[string]any{"id": id}); resp.Code() != "" {
			t.Errorf("admin reading a wallet: %v", resp.Errors)
		}
		if resp := boss.Do(userWallet, map[string]any{"id": id}); !bytes.Contains(resp.Data, []byte(`"user":null`)) {
			t.Errorf("B2B admin reading a stranger's wallet: %s", resp.Data)
		}
	})
}

// 50 concurrent adjustments on one wallet: none is lost, none overdraws,
// and the wallet equals the sum of its ledger, on each database.
func TestConcurrentWalletAdjustments(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := map[string]string{"WALLET_OPENING_BALANCE": "100.00"}
		srv, admin := b2bServer(t, dbURL, env)
		id := mustSignIn(t, srv.Client().register(registerInput("race@example.com", "+4952000001"))).User.ID
		types := []string{"CREDIT", "DEBIT", "BLOCK", "UNBLOCK"}
		rng := rand.New(rand.NewPCG(1, 2))
		var wg sync.WaitGroup
		var mu sync.Mutex
		results := map[string]int{}
		for i := range 50 {
			typ, amount := types[rng.IntN(4)], fmt.Sprintf("%d.%02d", 1+rng.IntN(40), rng.IntN(100))
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Not adjust(): t.Fatal must not run outside the test goroutine.
				resp := admin.DoAsync(adjustMutation, map[string]any{"in": map[string]any{
					"userId": id, "type": typ, "amount": amount, "idempotencyKey": fmt.Sprintf("race-%d", i),
				}})
				var d struct{ AdjustWallet adjustPayload }
				_ = json.Unmarshal(resp.Data, &d)
				outcome := "applied"
				switch {
				case resp.Code() != "":
					outcome = resp.Code()
				case len(d.AdjustWallet.Errors) > 0:
					outcome = d.AdjustWallet.Errors[0].Code
				}
				mu.Lock()
				results[outcome]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		t.Logf("outcomes: %v", results)
		if results["applied"]+results["INSUFFICIENT_FUNDS"] != 50 {
			t.Fatalf("outcomes %v: every adjustment must apply or be refused for funds", results)
		}
		var sums struct {
			Balance, Blocked int64
			Entries          int
			Credit, Debit    int64
			Block, Unblock   int64
		}
		conn := srv.DB()
		ctx := context.Background()
		if err := conn.NewRaw("SELECT balance, blocked FROM wallets WHERE user_id = ?", id).Scan(ctx, &sums.Balance, &sums.Blocked); err != nil {
			t.Fatal(err)
		}
		var rows []wallet.Transaction
		if err := conn.NewSelect().Model(&rows).Where("user_id = ?", id).Order("created_at", "id").Scan(ctx); err != nil {
			t.Fatal(err)
		}
		var balance, blocked int64
		for _, r := range rows {
			switch r.Type {
			case wallet.Credit:
				balance += r.Amount
			case wallet.Debit:
				balance -= r.Amount
			case wallet.Block:
				balance, blocked = balance-r.Amount, blocked+r.Amount
			case wallet.Unblock:
				balance, blocked = balance+r.Amount, blocked-r.Amount
			}
			if r.BalanceAfter < 0 || r.BlockedAfter < 0 {
				t.Errorf("ledger entry went negative: %+v", r)
			}
		}
		if len(rows) != results["applied"]+1 || balance != sums.Balance || blocked != sums.Blocked {
			t.Errorf("wallet %d/%d, ledger sums %d/%d over %d entries (applied %d + opening)",
				sums.Balance, sums.Blocked, balance, blocked, len(rows), results["applied"])
		}

		// The ledger as the API lists it (newest first) is numbered 1..n in
		// the order the changes were applied: each entry starts where the
		// one before it ended.
		var w struct {
			Wallet struct {
				Transactions struct {
					Edges []struct {
						Node struct{ BalanceBefore, BalanceAfter string }
					}
				}
			}
		}
		owner := srv.Client().As(*mustSignIn(t, srv.Client().login("race@example.com", goodPassword)).AccessToken)
		owner.MustData(`{ wallet { transactions(first: 100) { edges { node { balanceBefore balanceAfter } } } } }`, nil, &w)
		edges := w.Wallet.Transactions.Edges
		if len(edges) != len(rows) {
			t.Fatalf("listed %d entries, stored %d", len(edges), len(rows))
		}
		for i := 0; i+1 < len(edges); i++ { // edges[i] is newer than edges[i+1]
			if edges[i].Node.BalanceBefore != edges[i+1].Node.BalanceAfter {
				t.Errorf("entry %d starts at %s, the one before it ended at %s", len(edges)-i, edges[i].Node.BalanceBefore, edges[i+1].Node.BalanceAfter)
			}
		}
		var seqs []int64
		if err := conn.NewRaw("SELECT seq FROM wallet_transactions WHERE user_id = ? ORDER BY seq", id).Scan(ctx, &seqs); err != nil {
			t.Fatal(err)
		}
		for i, n := range seqs {
			if n != int64(i+1) {
				t.Fatalf("entries are numbered %v, want 1..%d", seqs, len(seqs))
			}
		}
	})
}

// One idempotency key sent many times at once applies once.
func TestConcurrentUseOfOneIdempotencyKey(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		id := mustSignIn(t, srv.Client().register(registerInput("idem@example.com", "+12025550141"))).User.ID
		answers := parallel(10, func(int) gqlResponse {
			return admin.DoAsync(adjustMutation, map[string]any{"in": map[string]any{
				"userId": id, "type": "CREDIT", "amount": "5.00", "description": "once", "idempotencyKey": "same-key"}})
		})
		txIDs := map[string]bool{}
		for _, a := range answers {
			var d struct{ AdjustWallet adjustPayload }
			if a.Code() != "" || decode(a, &d) != nil || d.AdjustWallet.Transaction == nil {
				t.Fatalf("adjustWallet: %+v %s", a.Errors, a.Data)
			}
			txIDs[d.AdjustWallet.Transaction.ID] = true
		}
		var w walletResult
		srv.Client().As(*mustSignIn(t, srv.Client().login("idem@example.com", goodPassword)).AccessToken).MustData(walletQuery, nil, &w)
		if len(txIDs) != 1 || w.Wallet.Balance != "1000005.00" || w.Wallet.Transactions.TotalCount != 2 {
			t.Errorf("10 concurrent uses of one key: %d transactions answered, balance %s, %d ledger entries; want 1, 1000005.00, 2 (opening + one)",
				len(txIDs), w.Wallet.Balance, w.Wallet.Transactions.TotalCount)
		}
	})
}
