package account

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/db"
)

var errBatchFull = apperr.OnField("batchId", apperr.BatchFull, "The batch has no room for more users.")

// CreateB2BUser creates a B2B user in one of the caller's active batches that
// has room, with exactly one password-setup email. Approved B2B admins only.
//
// Errors: field errors (REQUIRED, INVALID, TOO_LONG, DUPLICATE), NOT_FOUND
// batchId (missing or another admin's), BATCH_INACTIVE, BATCH_FULL, FORBIDDEN.
func (s *Service) CreateB2BUser(ctx context.Context, batchID uuid.UUID, in PersonInput) (*User, error) {
	v, err := auth.Require(ctx, auth.Viewer.OnboardsB2BUsers)
	if err != nil {
		return nil, err
	}
	// The bulk rules, for one row: DUPLICATE for the caller's own users, a
	// neutral error (counted and recorded) for accounts outside them.
	rows, result := []PersonInput{in}, &BulkResult{Rows: make([]RowResult, 1)}
	if err := s.checkAddresses(ctx, v.UserID, batchID, rows, result); err != nil {
		return nil, err
	}
	if problems := result.Rows[0].Errors; len(problems) > 0 {
		for _, e := range problems {
			if len(e.Field) > 2 { // users.0.field → field
				e.Field = e.Field[2:]
			} else {
				e.Field = nil
			}
		}
		return nil, problems
	}
	in = rows[0] // as checked: trimmed, the mobile in E.164
	u := s.newInvitee(in, auth.RoleB2BUser, v.UserID)
	u.BatchID = &batchID
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		_, free, err := batch.Reserve(ctx, tx, v, batchID)
		if err != nil {
			return err
		}
		if free < 1 {
			return apperr.List{errBatchFull}
		}
		return s.invite(ctx, tx, []*User{u})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// ErrorPolicy says what createB2BUsers does when some rows fail.
type ErrorPolicy string

// The error policies.
const (
	RejectEverything ErrorPolicy = "REJECT_EVERYTHING"  // create none if any row fails
	RejectFailedRows ErrorPolicy = "REJECT_FAILED_ROWS" // create the valid rows
)

// MaxBulkRows is the most rows one createB2BUsers call takes.
const MaxBulkRows = 1000

// RowResult is the outcome of one input row.
type RowResult struct {
	Index  int
	User   *User // nil when the row was not created
	Errors apperr.List
}

// BulkResult is the outcome of createB2BUsers.
type BulkResult struct {
	Count int
	Rows  []RowResult
}

// CreateB2BUsers onboards many users into one batch in one transaction: all
// or nothing under RejectEverything, the valid rows under RejectFailedRows.
// Every created user gets one setup email. Rows beyond the batch's free
// seats fail with BATCH_FULL. Row errors name fields as
// ["users", index, field]. Approved B2B admins only.
//
// Errors (whole call): NOT_FOUND/BATCH_INACTIVE batchId, REQUIRED/INVALID
// users (none, or more than MaxBulkRows), FORBIDDEN.
func (s *Service) CreateB2BUsers(ctx context.Context, batchID uuid.UUID, rows []PersonInput, policy ErrorPolicy) (*BulkResult, error) {
	v, err := auth.Require(ctx, auth.Viewer.OnboardsB2BUsers)
	if err != nil {
		return nil, err
	}
	switch {
	case len(rows) == 0:
		return nil, apperr.List{apperr.OnField("users", apperr.Required, "Give at least one user.")}
	case len(rows) > MaxBulkRows:
		return nil, apperr.List{apperr.OnField("users", apperr.Invalid, fmt.Sprintf("Give at most %d users per call.", MaxBulkRows))}
	}
	result := &BulkResult{Rows: make([]RowResult, len(rows))}
	if err := s.checkAddresses(ctx, v.UserID, batchID, rows, result); err != nil {
		return nil, err
	}
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		_, free, err := batch.Reserve(ctx, tx, v, batchID)
		if err != nil {
			return err
		}
		var create []*User
		failed := false
		for i := range result.Rows {
			r := &result.Rows[i]
			if len(r.Errors) == 0 && len(create) >= free {
				r.Errors = apperr.List{rowError(i, "", errBatchFull)}
			}
			if len(r.Errors) > 0 {
				failed = true
				continue
			}
			u := s.newInvitee(rows[i], auth.RoleB2BUser, v.UserID)
			u.BatchID = &batchID
			r.User = u
			create = append(create, u)
		}
		if failed && policy != RejectFailedRows {
			create = nil
			for i := range result.Rows {
				result.Rows[i].User = nil
			}
		}
		result.Count = len(create)
		return s.invite(ctx, tx, create)
	})
	if err != nil {
		return nil, err
	}
	if result.Count > 0 {
		s.log.InfoContext(ctx, "B2B users created", "count", result.Count, "batch_id", batchID, "actor_id", v.UserID)
	}
	return result, nil
}

// checkAddresses runs checkRows and, when rows met addresses of accounts
// outside the caller's users, counts the call and records it, so user
// creation cannot be used to probe who has an account.
func (s *Service) checkAddresses(ctx context.Context, owner, batchID uuid.UUID, rows []PersonInput, result *BulkResult) error {
	elsewhere, err := s.checkRows(ctx, owner, rows, result)
	if err != nil || elsewhere == 0 {
		return err
	}
	if _, err := s.take(ctx, counterOf("bulk", owner), s.limits.bulkProbes); err != nil {
		return err
	}
	return s.audit.Record(ctx, s.db, audit.Entry{Action: audit.AddressesElsewhere,
		Details: map[string]any{"rows": elsewhere, "batchId": batchID.String()}})
}

// checkRows validates every row and finds emails and mobiles that are taken,
// by an earlier row, by one of the caller's own users (DUPLICATE), or by an
// account outside them (a neutral INVALID that does not say it exists),
// with one query for all rows. It returns how many rows met the last kind.
func (s *Service) checkRows(ctx context.Context, owner uuid.UUID, rows []PersonInput, result *BulkResult) (int, error) {
	emails, mobiles := make([]string, len(rows)), make([]string, len(rows))
	for i := range rows {
		rows[i].trim()
		result.Rows[i].Index = i
		for _, e := range check(rows[i]) {
			result.Rows[i].Errors = append(result.Rows[i].Errors, rowError(i, e.Field[0], e))
		}
		emails[i], mobiles[i] = EmailKey(rows[i].Email), rows[i].Mobile
	}
	takenEmail, takenMobile, err := takenBy(ctx, s.db, emails, mobiles)
	if err != nil {
		return 0, err
	}
	// used says whether v is taken, and whether by one of the caller's own
	// users (or an earlier row, which counts as one).
	used := func(taken map[string]*uuid.UUID, v string) (isTaken, own bool) {
		creator, ok := taken[v]
		return ok, ok && creator != nil && *creator == owner
	}
	elsewhere := 0
	for i := range rows {
		r := &result.Rows[i]
		email, ownEmail := used(takenEmail, emails[i])
		mobile, ownMobile := used(takenMobile, mobiles[i])
		if emails[i] != "" && ownEmail {
			r.Errors = append(r.Errors, rowError(i, "email", errEmailTaken))
		}
		if mobiles[i] != "" && ownMobile {
			r.Errors = append(r.Errors, rowError(i, "mobile", errMobileTaken))
		}
		if emails[i] != "" && email && !ownEmail || mobiles[i] != "" && mobile && !ownMobile {
			r.Errors = append(r.Errors, rowError(i, "", errCannotUse))
			elsewhere++
		}
		takenEmail[emails[i]], takenMobile[mobiles[i]] = &owner, &owner // later rows with the same values
	}
	return elsewhere, nil
}

// errCannotUse refuses a row whose email or mobile an account outside the
// caller's users has, without saying which or that it exists.
var errCannotUse = apperr.New(apperr.Invalid, "This email address or mobile number cannot be used for a new account.")

// rowError places e on users[index].field, or on the row when field is "".
func rowError(index int, field string, e *apperr.Error) *apperr.Error {
	path := []string{"users", strconv.Itoa(index)}
	if field != "" {
		path = append(path, field)
	}
	return &apperr.Error{Code: e.Code, Message: e.Message, Field: path}
}
