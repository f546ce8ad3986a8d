package graph

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/wallet"
)

// Loaders batch the look-ups of related objects within one request, so a
// list of N users costs a fixed number of queries, not N per field.
type Loaders struct {
	UserByID         *dataloadgen.Loader[uuid.UUID, *account.User]
	BatchByID        *dataloadgen.Loader[uuid.UUID, *batch.Batch]
	ApprovalByUserID *dataloadgen.Loader[uuid.UUID, *account.Approval]
	BatchUserCount   *dataloadgen.Loader[uuid.UUID, int]
	WalletByUserID   *dataloadgen.Loader[uuid.UUID, *wallet.Wallet]
}

type requestKey struct{}

// request is the per-request state of the GraphQL layer.
type request struct {
	loaders *Loaders
	// signedIn holds the users a sign-in mutation of this request returned:
	// the caller now holds their tokens, so it may read their private fields
	// in the payload even though the request carried no token.
	signedIn sync.Map
}

// byID turns a list fetch into a mapped fetch keyed by id.
func byID[T any](fetch func(context.Context, []uuid.UUID) ([]T, error), id func(T) uuid.UUID) func(context.Context, []uuid.UUID) (map[uuid.UUID]T, error) {
	return func(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]T, error) {
		items, err := fetch(ctx, ids)
		out := make(map[uuid.UUID]T, len(items))
		for _, it := range items {
			out[id(it)] = it
		}
		return out, err
	}
}

// newLoaders returns fresh loaders for one request.
func newLoaders(accounts *account.Service, batches *batch.Service, wallets *wallet.Service) *Loaders {
	wait := dataloadgen.WithWait(5 * time.Millisecond)
	return &Loaders{
		UserByID: dataloadgen.NewMappedLoader(byID(accounts.UsersByIDs,
			func(u *account.User) uuid.UUID { return u.ID }), wait),
		BatchByID: dataloadgen.NewMappedLoader(byID(batches.ByIDs,
			func(b *batch.Batch) uuid.UUID { return b.ID }), wait),
		ApprovalByUserID: dataloadgen.NewMappedLoader(byID(accounts.ApprovalsByUserIDs,
			func(a *account.Approval) uuid.UUID { return a.UserID }), wait),
		BatchUserCount: dataloadgen.NewMappedLoader(batches.UserCounts, wait),
		WalletByUserID: dataloadgen.NewMappedLoader(byID(wallets.ByUserIDs,
			func(w *wallet.Wallet) uuid.UUID { return w.UserID }), wait),
	}
}

// WithRequestState is HTTP middleware that gives each request its own
// loaders and sign-in record.
func WithRequestState(res *Resolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), requestKey{}, &request{loaders: newLoaders(res.Accounts, res.BatchService, res.Wallets)})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func requestState(ctx context.Context) *request { return ctx.Value(requestKey{}).(*request) }

func loaders(ctx context.Context) *Loaders { return requestState(ctx).loaders }

func markSignedIn(ctx context.Context, id uuid.UUID) { requestState(ctx).signedIn.Store(id, true) }

func wasSignedIn(ctx context.Context, id uuid.UUID) bool {
	_, ok := requestState(ctx).signedIn.Load(id)
	return ok
}

// load runs a loader for an optional key: nil key, or a key with no row, is nil.
func load[T any](ctx context.Context, l *dataloadgen.Loader[uuid.UUID, *T], key *uuid.UUID) (*T, error) {
	if key == nil {
		return nil, nil
	}
	v, err := l.Load(ctx, *key)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return nil, nil
	}
	return v, topLevel(err)
}
