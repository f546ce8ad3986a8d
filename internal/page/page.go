// Package page implements keyset pagination for Relay connections: a stable
// order on (sort key, id), opaque cursors, and first/after arguments.
package page

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
)

// Default and largest page sizes.
const (
	DefaultFirst = 20
	MaxFirst     = 100
)

// Args are a connection's arguments.
type Args struct {
	First *int
	After *string
	Count bool // whether Load counts every matching row (Page.Total)
}

// Key is one sort order: an SQL expression and its kind ("time" or "text").
// Rows are ordered by (Expr, id) so ties never make pages overlap.
type Key struct {
	Expr string
	Time bool
	Desc bool
}

// cursor is the position after which a page starts.
type cursor struct {
	Value string    `json:"v"`
	ID    uuid.UUID `json:"id"`
}

// maxCursor bounds the cursors decoded: ours are under 200 bytes.
const maxCursor = 512

// decodeCursor reads an `after` argument: the row's id and its sort value,
// a time when isTime. Anything else is errBadCursor.
func decodeCursor(s string, isTime bool) (cursor, any, error) {
	var c cursor
	if len(s) > maxCursor {
		return c, nil, errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return c, nil, errBadCursor
	}
	if !isTime {
		return c, c.Value, nil
	}
	t, err := time.Parse(time.RFC3339Nano, c.Value)
	if err != nil {
		return c, nil, errBadCursor
	}
	return c, t.UTC(), nil
}

// Cursor encodes the position of a row whose sort value is v.
func Cursor(v any, id uuid.UUID) string {
	var s string
	switch x := v.(type) {
	case time.Time:
		s = x.UTC().Format(time.RFC3339Nano)
	case *time.Time:
		if x != nil {
			s = x.UTC().Format(time.RFC3339Nano)
		} else {
			s = time.Time{}.Format(time.RFC3339Nano)
		}
	default:
		s = fmt.Sprint(v)
	}
	b, _ := json.Marshal(cursor{Value: s, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadCursor = apperr.New(apperr.BadRequest, "The after cursor is not valid for this list.")

// Page is one page of a list.
type Page[T any] struct {
	Items   []T
	Cursors []string // Cursors[i] is the position of Items[i]
	HasNext bool
	Total   int
}

// Position returns a row's sort value (as Key orders it) and id.
type Position[T any] func(T) (any, uuid.UUID)

// Load runs q (already filtered) as a page: it counts all matching rows
// when args.Count, then loads up to First rows after the cursor in key order.
func Load[T any](ctx context.Context, q *bun.SelectQuery, key Key, args Args, pos Position[T]) (Page[T], error) {
	limit, err := args.Limit()
	if err != nil {
		return Page[T]{}, err
	}
	var total int64
	if args.Count {
		if total, err = q.Clone().Count(ctx); err != nil {
			return Page[T]{}, err
		}
	}
	rows := q
	if args.After != nil && *args.After != "" {
		c, v, err := decodeCursor(*args.After, key.Time)
		if err != nil {
			return Page[T]{}, err
		}
		op := ">"
		if key.Desc {
			op = "<"
		}
		// A row comparison, which an index on (Expr, id) answers as a range.
		rows = rows.Where(fmt.Sprintf("(%s, ?TableAlias.id) %s (?, ?)", key.Expr, op), v, c.ID)
	}
	dir := " ASC"
	if key.Desc {
		dir = " DESC"
	}
	var items []T
	if limit > 0 {
		err = rows.OrderExpr(key.Expr+dir).OrderExpr("?TableAlias.id"+dir).Limit(int64(limit+1)).Scan(ctx, &items)
		if err != nil {
			return Page[T]{}, err
		}
	}
	return FromRows(items, limit, int(total), pos), nil
}

// Limit is the page size First asks for: DefaultFirst when unset.
func (a Args) Limit() (int, error) {
	limit := DefaultFirst
	if a.First != nil {
		limit = *a.First
	}
	if limit < 0 || limit > MaxFirst {
		return 0, apperr.New(apperr.BadRequest, fmt.Sprintf("first must be between 0 and %d.", MaxFirst))
	}
	return limit, nil
}

// FromRows makes a page of limit items from rows fetched in order, one more
// than limit when a next page exists; total counts all matching rows.
func FromRows[T any](rows []T, limit, total int, pos Position[T]) Page[T] {
	hasNext := len(rows) > limit
	if hasNext {
		rows = rows[:limit]
	}
	cursors := make([]string, len(rows))
	for i, it := range rows {
		cursors[i] = Cursor(pos(it))
	}
	return Page[T]{Items: rows, Cursors: cursors, HasNext: hasNext, Total: total}
}
