package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/apperr"
)

// Every role × every capability. A row is one kind of viewer; each column a
// capability, read "1" when the viewer has it. A new role or capability is
// a new row or column here, decided in one place.
func TestCapabilitiesOfEveryRole(t *testing.T) {
	me, mine, theirs := uuid.New(), uuid.New(), uuid.New()
	createdByMe, createdByOther := &me, &theirs
	columns := []struct {
		name string
		can  func(Viewer) bool
	}{
		{"acts as ADMIN", func(v Viewer) bool { return v.ActsAs(RoleAdmin) }},
		{"acts as B2B_ADMIN", func(v Viewer) bool { return v.ActsAs(RoleB2BAdmin) }},
		{"acts as B2B_USER", func(v Viewer) bool { return v.ActsAs(RoleB2BUser) }},
		{"acts as B2C_USER", func(v Viewer) bool { return v.ActsAs(RoleB2CUser) }},
		{"manages every user", Viewer.ManagesEveryUser},
		{"onboards B2B admins", Viewer.OnboardsB2BAdmins},
		{"adjusts wallets", Viewer.AdjustsWallets},
		{"sees client addresses", Viewer.SeesClientAddresses},
		{"onboards B2B users", Viewer.OnboardsB2BUsers},
		{"manages users", Viewer.ManagesUsers},
		{"manages a user it created", func(v Viewer) bool { return v.ManagesUser(createdByMe) }},
		{"manages a user another created", func(v Viewer) bool { return v.ManagesUser(createdByOther) }},
		{"manages a self-registered user", func(v Viewer) bool { return v.ManagesUser(nil) }},
		{"sees its own private fields", func(v Viewer) bool { return v.MaySeePrivate(me, nil) }},
		{"sees a created user's private fields", func(v Viewer) bool { return v.MaySeePrivate(mine, createdByMe) }},
		{"sees another's private fields", func(v Viewer) bool { return v.MaySeePrivate(theirs, createdByOther) }},
		{"manages batches", Viewer.ManagesBatches},
		{"manages its own batch", func(v Viewer) bool { return v.ManagesBatch(me) }},
		{"manages another's batch", func(v Viewer) bool { return v.ManagesBatch(theirs) }},
		{"owns its own batch", func(v Viewer) bool { return v.OwnsBatch(me) }},
		{"owns another's batch", func(v Viewer) bool { return v.OwnsBatch(theirs) }},
	}
	rows := []struct {
		name   string
		viewer Viewer
		want   string // one digit per column, in order
	}{
		{"admin", Viewer{UserID: me, Role: RoleAdmin, Approved: true}, "100011110111111111100"},
		{"approved B2B admin", Viewer{UserID: me, Role: RoleB2BAdmin, Approved: true}, "010000001110011011010"},
		{"pending or rejected B2B admin", Viewer{UserID: me, Role: RoleB2BAdmin}, "000000000000010000000"},
		{"B2B user", Viewer{UserID: me, Role: RoleB2BUser, Approved: true}, "001000000000010000000"},
		{"B2C user", Viewer{UserID: me, Role: RoleB2CUser, Approved: true}, "000100000000010000000"},
	}
	if len(rows) != len(Roles())+1 {
		t.Fatalf("%d rows for %d roles (and a B2B admin not yet approved): a role has no row", len(rows), len(Roles()))
	}
	for _, r := range rows {
		if len(r.want) != len(columns) {
			t.Fatalf("%s: %d expectations for %d capabilities", r.name, len(r.want), len(columns))
		}
		for i, c := range columns {
			if got, want := c.can(r.viewer), r.want[i] == '1'; got != want {
				t.Errorf("%s / %s: %v, want %v", r.name, c.name, got, want)
			}
		}
	}
}

// Roles that act only once approved, and roles whose owners sign up.
func TestRoleProperties(t *testing.T) {
	for _, r := range Roles() {
		if got, want := r.NeedsApproval(), r == RoleB2BAdmin; got != want {
			t.Errorf("%s needs approval: %v", r, got)
		}
		if got, want := r.SignsUpItself(), r == RoleB2CUser; got != want {
			t.Errorf("%s signs up itself: %v", r, got)
		}
	}
}

// The SQL forms name the right columns and arguments for each kind of
// viewer; account's tests run them against a database beside the Go forms.
func TestCapabilitySQLForms(t *testing.T) {
	me := uuid.New()
	admin := Viewer{UserID: me, Role: RoleAdmin, Approved: true}
	boss := Viewer{UserID: me, Role: RoleB2BAdmin, Approved: true}
	pending := Viewer{UserID: me, Role: RoleB2BAdmin}
	consumer := Viewer{UserID: me, Role: RoleB2CUser, Approved: true}
	for _, tc := range []struct {
		name string
		got  sqlForm
		want string
		n    int
	}{
		{"admin: managed users", form(admin.ManagedUsers("u")), "TRUE", 0},
		{"B2B admin: managed users", form(boss.ManagedUsers("u")), "u.created_by_id = ?", 1},
		{"pending: managed users", form(pending.ManagedUsers("u")), "FALSE", 0},
		{"B2B admin: managed user ids", form(boss.ManagedUserIDs("e.target_id")), "e.target_id IN (SELECT m.id FROM users AS m WHERE m.created_by_id = ?)", 1},
		{"consumer: managed user ids", form(consumer.ManagedUserIDs("e.target_id")), "FALSE", 0},
		{"admin: visible users", form(admin.VisibleUsers("id")), "TRUE", 0},
		{"B2B admin: visible users", form(boss.VisibleUsers("id")), "(id = ? OR id IN (SELECT m.id FROM users AS m WHERE m.created_by_id = ?))", 2},
		{"consumer: visible users", form(consumer.VisibleUsers("id")), "id = ?", 1},
		{"admin: batches", form(admin.ManagedBatches("b.created_by_id")), "TRUE", 0},
		{"B2B admin: batches", form(boss.ManagedBatches("b.created_by_id")), "b.created_by_id = ?", 1},
		{"consumer: batches", form(consumer.ManagedBatches("b.created_by_id")), "FALSE", 0},
	} {
		if tc.got.cond != tc.want || len(tc.got.args) != tc.n || strings.Count(tc.got.cond, "?") != len(tc.got.args) {
			t.Errorf("%s: %q %v, want %q with %d arguments", tc.name, tc.got.cond, tc.got.args, tc.want, tc.n)
		}
		for _, a := range tc.got.args {
			if a != me {
				t.Errorf("%s: argument %v is not the viewer", tc.name, a)
			}
		}
	}
}

type sqlForm struct {
	cond string
	args []any
}

func form(cond string, args []any) sqlForm { return sqlForm{cond, args} }

// Require answers UNAUTHENTICATED without a viewer and FORBIDDEN without
// the capability.
func TestRequire(t *testing.T) {
	ctx := context.Background()
	if _, err := Require(ctx, Viewer.ManagesUsers); !errors.Is(err, apperr.ErrUnauthenticated) {
		t.Errorf("anonymous: %v", err)
	}
	consumer := WithViewer(ctx, Viewer{UserID: uuid.New(), Role: RoleB2CUser})
	if _, err := Require(consumer, Viewer.ManagesUsers); !errors.Is(err, apperr.ErrForbidden) {
		t.Errorf("consumer: %v", err)
	}
	admin := WithViewer(ctx, Viewer{UserID: uuid.New(), Role: RoleAdmin})
	if v, err := Require(admin, Viewer.ManagesUsers); err != nil || v.Role != RoleAdmin {
		t.Errorf("admin: %v %v", v, fmt.Sprint(err))
	}
}
