package graph

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/page"
	"github.com/usergraph/usergraph/internal/wallet"
)

// Loaders batch the look-ups of related objects within one request, so a
// list of N users costs a fixed number of queries, not N per field.
type Loaders struct {
	UserByID           *loader[*account.User]
	BatchByID          *loader[*batch.Batch]
	ApprovalByUserID   *loader[*account.Approval]
	BatchUserCount     *loader[int]
	WalletByUserID     *loader[*wallet.Wallet]
	SessionsByUserID   *loader[[]*account.Session]
	PasskeysByUserID   *loader[[]*account.Passkey]
	IdentitiesByUserID *loader[[]*account.Identity]

	accounts   *account.Service
	window     time.Duration
	mu         sync.Mutex
	batchUsers map[int]*loader[page.Page[*account.User]] // by page size
}

// BatchUsers loads the first page (of size first) of batches' users.
func (l *Loaders) BatchUsers(first int) *loader[page.Page[*account.User]] {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.batchUsers[first] == nil {
		l.batchUsers[first] = newLoader(func(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]page.Page[*account.User], error) {
			return l.accounts.FirstBatchUserPages(ctx, ids, first)
		}, l.window)
	}
	return l.batchUsers[first]
}

// loader batches the look-ups made for the items of a list. Outside lists
// it fetches at once: a single object (me, user(id)) has no siblings to wait
// for, so it does not pay the batch window.
type loader[V any] struct {
	batched *dataloadgen.Loader[uuid.UUID, V]
	fetch   func(context.Context, []uuid.UUID) (map[uuid.UUID]V, error)
}

// newLoader batches fetch's look-ups: it collects keys for window (the
// setting GRAPHQL_BATCH_WINDOW) before it fetches them.
func newLoader[V any](fetch func(context.Context, []uuid.UUID) (map[uuid.UUID]V, error), window time.Duration) *loader[V] {
	return &loader[V]{batched: dataloadgen.NewMappedLoader(fetch, dataloadgen.WithWait(window)), fetch: fetch}
}

// load returns the value for id; found is false when there is none.
func (l *loader[V]) load(ctx context.Context, id uuid.UUID) (v V, found bool, err error) {
	if !inList(ctx) {
		m, err := l.fetch(ctx, []uuid.UUID{id})
		v, found = m[id]
		return v, found, topLevel(err)
	}
	v, err = l.batched.Load(ctx, id)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return v, false, nil
	}
	return v, err == nil, topLevel(err)
}

// inList reports whether the field being resolved belongs to an item of a list.
func inList(ctx context.Context) bool {
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if fc.Index != nil {
			return true
		}
	}
	return false
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
func newLoaders(res *Resolver) *Loaders {
	accounts, w := res.Accounts, res.BatchWindow
	return &Loaders{
		UserByID:           newLoader(byID(accounts.UsersByIDs, func(u *account.User) uuid.UUID { return u.ID }), w),
		BatchByID:          newLoader(byID(res.BatchService.ByIDs, func(b *batch.Batch) uuid.UUID { return b.ID }), w),
		ApprovalByUserID:   newLoader(byID(accounts.ApprovalsByUserIDs, func(a *account.Approval) uuid.UUID { return a.UserID }), w),
		BatchUserCount:     newLoader(res.BatchService.UserCounts, w),
		WalletByUserID:     newLoader(byID(res.Wallets.ByUserIDs, func(w *wallet.Wallet) uuid.UUID { return w.UserID }), w),
		SessionsByUserID:   newLoader(accounts.LiveSessions, w),
		PasskeysByUserID:   newLoader(accounts.PasskeysOf, w),
		IdentitiesByUserID: newLoader(accounts.IdentitiesOf, w),
		accounts:           accounts,
		window:             w,
		batchUsers:         map[int]*loader[page.Page[*account.User]]{},
	}
}

// WithRequestState is HTTP middleware that gives each request its own
// loaders and sign-in record.
func WithRequestState(res *Resolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), requestKey{}, &request{loaders: newLoaders(res)})
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
func load[T any](ctx context.Context, l *loader[*T], key *uuid.UUID) (*T, error) {
	if key == nil {
		return nil, nil
	}
	v, _, err := l.load(ctx, *key)
	return v, err
}
