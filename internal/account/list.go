package account

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/page"
	"github.com/usergraph/usergraph/internal/validate"
)

// UserFilter narrows users(); nil fields do not filter.
type UserFilter struct {
	Role        *auth.Role
	IsActive    *bool
	IsApproved  *bool
	BatchID     *uuid.UUID
	CreatedByID *uuid.UUID
	// Search matches every word, case-insensitively, somewhere in the email,
	// first name, last name or mobile.
	Search *string
}

// UserOrderField is what users() sorts by.
type UserOrderField string

// The orders of users().
const (
	OrderDateJoined UserOrderField = "DATE_JOINED"
	OrderLastLogin  UserOrderField = "LAST_LOGIN"
	OrderEmail      UserOrderField = "EMAIL"
)

// UserOrder is a sort order; the zero value is newest first.
type UserOrder struct {
	Field UserOrderField
	Asc   bool
}

// neverLoggedIn sorts users without a last login before everyone else
// (ascending), keeping the keyset order total.
var neverLoggedIn = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// Users lists the users the caller may manage: every user for an admin, the
// users it created for an approved B2B admin.
//
// Errors: FORBIDDEN for other roles (and pending B2B admins), BAD_REQUEST
// for a bad page argument.
func (s *Service) Users(ctx context.Context, f UserFilter, order UserOrder, args page.Args) (page.Page[*User], error) {
	v, err := auth.Require(ctx, auth.Viewer.ManagesUsers)
	if err != nil {
		return page.Page[*User]{}, err
	}
	managed, margs := v.ManagedUsers("u")
	q := s.db.NewSelect().Model((*User)(nil)).Where(managed, margs...)
	q, err = applyFilter(q, f)
	if err != nil {
		return page.Page[*User]{}, err
	}
	key := page.Key{Expr: "u.date_joined", Time: true, Desc: !order.Asc}
	pos := byDateJoined
	switch order.Field {
	case OrderLastLogin:
		key.Expr = "COALESCE(u.last_login, " + quoteTime(q, neverLoggedIn) + ")"
		pos = func(u *User) (any, uuid.UUID) {
			if u.LastLogin == nil {
				return neverLoggedIn, u.ID
			}
			return *u.LastLogin, u.ID
		}
	case OrderEmail:
		key = page.Key{Expr: "u.email_key", Desc: !order.Asc}
		pos = func(u *User) (any, uuid.UUID) { return u.EmailKey, u.ID }
	}
	// The whole directory's size comes from its counter (migration 0010).
	whole := args.Count && v.ManagesEveryUser() && f == (UserFilter{})
	if whole {
		args.Count = false
	}
	p, err := page.Load(ctx, q, key, args, pos)
	if err == nil && whole {
		p.Total, err = UserCount(ctx, s.db)
	}
	return p, err
}

// UserCount is how many users there are, read from their counter
// (migration 0010): the counter plus the deltas not yet folded into it
// (retention folds them on PostgreSQL).
func UserCount(ctx context.Context, idb bun.IDB) (int, error) {
	var n int
	err := userCountStmt.Scan(ctx, idb, nil, &n)
	return n, err
}

var userCountStmt = db.NewStmt(`SELECT CAST((SELECT n FROM user_count) + COALESCE((SELECT sum(n) FROM user_count_deltas), 0) AS bigint)`)

// quoteTime renders t as a literal in q's dialect (used inside ORDER BY).
func quoteTime(q *bun.SelectQuery, t time.Time) string {
	return string(q.Dialect().AppendTime(nil, t))
}

// searchText is what search matches words in: the email, the names and the
// mobile, lower-cased and joined by spaces (which words never contain, so a
// word matches within one of them). PostgreSQL indexes exactly this
// expression with trigrams (migration 0007).
const searchText = "(u.email_key || ' ' || lower(u.first_name) || ' ' || lower(u.last_name) || ' ' || u.mobile)"

// indexProbe is the part of a search word the trigram index looks up: an
// email address's local part, since the trigrams of common domains
// ("gmail.com") are in most rows and reading their lists made a search for
// one address 15 times slower than one for its local part. Other words are
// their own probe.
func indexProbe(word string) string {
	if at := strings.IndexByte(word, '@'); at >= 3 {
		return word[:at]
	}
	return word
}

func applyFilter(q *bun.SelectQuery, f UserFilter) (*bun.SelectQuery, error) {
	q = db.WhereSet(q, "u.role = ?", f.Role)
	q = db.WhereSet(q, "u.is_active = ?", f.IsActive)
	q = db.WhereSet(q, "u.is_approved = ?", f.IsApproved)
	q = db.WhereSet(q, "u.batch_id = ?", f.BatchID)
	q = db.WhereSet(q, "u.created_by_id = ?", f.CreatedByID)
	if f.Search != nil {
		words, err := validate.SearchWords(*f.Search)
		if err != nil {
			return q, err
		}
		pg := db.IsPostgres(q.DB())
		for _, word := range words {
			probe := indexProbe(word)
			if !pg || probe == word {
				q = q.Where(searchText+` LIKE ? ESCAPE '\'`, "%"+db.EscapeLike(word)+"%")
				continue
			}
			// The trigram index finds the rows by the probe (a part of the
			// word); strpos then checks the whole word, so the rows are
			// exactly those of LIKE '%word%'.
			q = q.Where(searchText+` LIKE ? ESCAPE '\' AND strpos(`+searchText+`, ?) > 0`, "%"+db.EscapeLike(probe)+"%", word)
		}
	}
	return q, nil
}

// User returns the user with id if the caller may see it; otherwise, like a
// missing user, nil.
func (s *Service) User(ctx context.Context, id uuid.UUID) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.UserByID(ctx, id)
	if len(apperr.Errors(err)) > 0 {
		return nil, nil
	}
	if err != nil || !v.MaySeePrivate(u.ID, u.CreatedByID) {
		return nil, err
	}
	return u, nil
}

// UsersByIDs loads users by id in no particular order, for data loaders;
// the fields they expose are guarded where they are read.
func (s *Service) UsersByIDs(ctx context.Context, ids []uuid.UUID) ([]*User, error) {
	var out []*User
	err := s.db.NewSelect().Model(&out).Where("u.id IN (?)", bun.List(ids)).Scan(ctx)
	return out, err
}

// BatchUsers lists the users of batch b, newest first. The caller must have
// been allowed to see b (auth.Viewer.ManagesBatch).
func (s *Service) BatchUsers(ctx context.Context, batchID uuid.UUID, args page.Args) (page.Page[*User], error) {
	q := s.db.NewSelect().Model((*User)(nil)).Where("u.batch_id = ?", batchID)
	return page.Load(ctx, q, page.Key{Expr: "u.date_joined", Time: true, Desc: true}, args, byDateJoined)
}

func byDateJoined(u *User) (any, uuid.UUID) { return u.DateJoined, u.ID }

// FirstBatchUserPages loads the first page of users of several batches at
// once (for data loaders): two queries whatever the number of batches, one
// for the counts and one that numbers each batch's users in page order.
func (s *Service) FirstBatchUserPages(ctx context.Context, batchIDs []uuid.UUID, first int) (map[uuid.UUID]page.Page[*User], error) {
	var counts []struct {
		BatchID uuid.UUID `bun:"batch_id,type:uuid"`
		N       int       `bun:"n"`
	}
	err := s.db.NewSelect().TableExpr("users").ColumnExpr("batch_id, count(*) AS n").
		Where("batch_id IN (?)", bun.List(batchIDs)).GroupExpr("batch_id").Scan(ctx, &counts)
	if err != nil {
		return nil, err
	}
	numbered := s.db.NewSelect().TableExpr("users").
		ColumnExpr("id, row_number() OVER (PARTITION BY batch_id ORDER BY date_joined DESC, id DESC) AS rn").
		Where("batch_id IN (?)", bun.List(batchIDs))
	var users []*User
	err = s.db.NewSelect().Model(&users).Join("JOIN (?) AS r ON r.id = u.id", numbered).
		Where("r.rn <= ?", first+1).Order("r.rn").Scan(ctx)
	if err != nil {
		return nil, err
	}
	rows := map[uuid.UUID][]*User{}
	for _, u := range users {
		rows[*u.BatchID] = append(rows[*u.BatchID], u)
	}
	out := make(map[uuid.UUID]page.Page[*User], len(batchIDs))
	for _, id := range batchIDs {
		out[id] = page.FromRows(rows[id], first, 0, byDateJoined)
	}
	for _, c := range counts {
		p := out[c.BatchID]
		p.Total = c.N
		out[c.BatchID] = p
	}
	return out, nil
}
