package account

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/page"
	"github.com/usergraph/usergraph/internal/testdb"
	"github.com/usergraph/usergraph/internal/wallet"
)

// people inserts one account of every kind and their creations: the rows
// the capabilities are tried on.
func (f *fixture) people() []*User {
	f.t.Helper()
	now := f.clock.Now()
	person := func(role auth.Role, approved bool, creator *User) *User {
		u := &User{ID: uuid.New(), Role: role, IsActive: true, IsApproved: approved, DateJoined: now, UpdatedAt: now}
		u.Email = u.ID.String() + "@people.test"
		u.EmailKey, u.Mobile = u.Email, "+1"+u.ID.String()[:8]
		if creator != nil {
			u.CreatedByID = &creator.ID
		}
		if _, err := f.db.NewInsert().Model(u).Exec(context.Background()); err != nil {
			f.t.Fatal(err)
		}
		return u
	}
	admin := person(auth.RoleAdmin, true, nil)
	boss := person(auth.RoleB2BAdmin, true, admin)
	pending := person(auth.RoleB2BAdmin, false, admin)
	return []*User{admin, boss, pending,
		person(auth.RoleB2BUser, true, boss), person(auth.RoleB2BUser, true, boss),
		person(auth.RoleB2BUser, true, pending), person(auth.RoleB2CUser, true, nil)}
}

func viewerOf(u *User) auth.Viewer {
	return auth.Viewer{UserID: u.ID, Role: u.Role, Approved: u.IsApproved}
}

// The SQL form of each capability selects exactly the rows its Go form
// allows, for a viewer of every kind, on both databases.
func TestCapabilitySQLSelectsWhatTheRuleAllows(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		people := f.people()
		var batches []*batch.Batch
		for i, owner := range people[1:3] {
			b := &batch.Batch{ID: uuid.New(), Name: "b", NameKey: "b" + string(rune('0'+i)), MaxUsers: 5, IsActive: true,
				CreatedByID: owner.ID, CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now()}
			if _, err := f.db.NewInsert().Model(b).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			batches = append(batches, b)
		}
		ids := func(query string, cond string, args []any) []uuid.UUID {
			t.Helper()
			var out []uuid.UUID
			if err := f.db.NewRaw(query+" WHERE "+cond, args...).Scan(context.Background(), &out); err != nil {
				t.Fatalf("%s WHERE %s: %v", query, cond, err)
			}
			slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			return out
		}
		allowed := func(can func(*User) bool) []uuid.UUID {
			var out []uuid.UUID
			for _, u := range people {
				if can(u) {
					out = append(out, u.ID)
				}
			}
			slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			return out
		}
		for _, viewer := range people {
			v := viewerOf(viewer)
			name := string(v.Role)
			if !v.Approved {
				name += " (pending)"
			}
			cond, args := v.ManagedUsers("u")
			if got, want := ids("SELECT u.id FROM users AS u", cond, args), allowed(func(u *User) bool { return v.ManagesUser(u.CreatedByID) }); !slices.Equal(got, want) {
				t.Errorf("%s: ManagedUsers selects %v, ManagesUser allows %v", name, got, want)
			}
			cond, args = v.ManagedUserIDs("x.id")
			if got, want := ids("SELECT x.id FROM users AS x", cond, args), allowed(func(u *User) bool { return v.ManagesUser(u.CreatedByID) }); !slices.Equal(got, want) {
				t.Errorf("%s: ManagedUserIDs selects %v, ManagesUser allows %v", name, got, want)
			}
			cond, args = v.VisibleUsers("x.id")
			if got, want := ids("SELECT x.id FROM users AS x", cond, args), allowed(func(u *User) bool { return v.MaySeePrivate(u.ID, u.CreatedByID) }); !slices.Equal(got, want) {
				t.Errorf("%s: VisibleUsers selects %v, MaySeePrivate allows %v", name, got, want)
			}
			cond, args = v.ManagedBatches("b.created_by_id")
			var want []uuid.UUID
			for _, b := range batches {
				if v.ManagesBatch(b.CreatedByID) {
					want = append(want, b.ID)
				}
			}
			slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			if got := ids("SELECT b.id FROM batches AS b", cond, args); !slices.Equal(got, want) {
				t.Errorf("%s: ManagedBatches selects %v, ManagesBatch allows %v", name, got, want)
			}
		}
	})
}

// The services check the viewer again behind the schema's directives:
// called directly, each operation a directive guards refuses every viewer
// without the capability with FORBIDDEN (UNAUTHENTICATED without a viewer),
// before it looks at its input.
func TestServicesCheckTheViewerBehindTheDirectives(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		people := f.people()
		batches := batch.NewService(f.db, f.s.audit)
		some := uuid.New()
		ops := []struct {
			name    string
			allowed func(auth.Viewer) bool
			call    func(ctx context.Context) error
		}{
			{"createB2BAdmin", auth.Viewer.OnboardsB2BAdmins, func(ctx context.Context) error {
				_, err := f.s.CreateB2BAdmin(ctx, CreateB2BAdminInput{})
				return err
			}},
			{"approveB2BAdmin", auth.Viewer.OnboardsB2BAdmins, func(ctx context.Context) error { _, err := f.s.ApproveB2BAdmin(ctx, some); return err }},
			{"rejectB2BAdmin", auth.Viewer.OnboardsB2BAdmins, func(ctx context.Context) error { _, err := f.s.RejectB2BAdmin(ctx, some, ""); return err }},
			{"approvals", auth.Viewer.OnboardsB2BAdmins, func(ctx context.Context) error { _, err := f.s.Approvals(ctx, nil, page.Args{}); return err }},
			{"resetUserMfa", auth.Viewer.ManagesEveryUser, func(ctx context.Context) error { _, err := f.s.ResetUserMfa(ctx, some); return err }},
			{"deleteUser", auth.Viewer.ManagesEveryUser, func(ctx context.Context) error { return f.s.DeleteUser(ctx, some) }},
			{"setUserActive", auth.Viewer.ManagesUsers, func(ctx context.Context) error { _, err := f.s.SetUserActive(ctx, some, false); return err }},
			{"users", auth.Viewer.ManagesUsers, func(ctx context.Context) error {
				_, err := f.s.Users(ctx, UserFilter{}, UserOrder{}, page.Args{})
				return err
			}},
			{"createB2BUser", auth.Viewer.OnboardsB2BUsers, func(ctx context.Context) error {
				_, err := f.s.CreateB2BUser(ctx, some, PersonInput{})
				return err
			}},
			{"createB2BUsers", auth.Viewer.OnboardsB2BUsers, func(ctx context.Context) error {
				_, err := f.s.CreateB2BUsers(ctx, some, nil, RejectEverything)
				return err
			}},
			{"createBatch", auth.Viewer.OnboardsB2BUsers, func(ctx context.Context) error {
				_, err := batches.Create(ctx, batch.CreateInput{})
				return err
			}},
			{"updateBatch", auth.Viewer.ManagesBatches, func(ctx context.Context) error {
				_, err := batches.Update(ctx, batch.UpdateInput{ID: some})
				return err
			}},
			{"batch", auth.Viewer.ManagesBatches, func(ctx context.Context) error { _, err := batches.Get(ctx, some); return err }},
			{"batches", auth.Viewer.ManagesBatches, func(ctx context.Context) error { _, err := batches.List(ctx, "", page.Args{}); return err }},
			{"auditEvents", auth.Viewer.ManagesUsers, func(ctx context.Context) error {
				_, err := f.s.audit.List(ctx, audit.Filter{}, page.Args{})
				return err
			}},
			{"adjustWallet", auth.Viewer.AdjustsWallets, func(ctx context.Context) error {
				_, _, err := f.s.wallets.Adjust(ctx, wallet.AdjustInput{UserID: some})
				return err
			}},
		}
		for _, op := range ops {
			if err := op.call(f.anon); !errors.Is(err, apperr.ErrUnauthenticated) {
				t.Errorf("%s without a viewer: %v, want UNAUTHENTICATED", op.name, err)
			}
			for _, u := range people {
				v := viewerOf(u)
				err := op.call(auth.WithViewer(f.anon, v))
				if forbidden := errors.Is(err, apperr.ErrForbidden); forbidden == op.allowed(v) {
					t.Errorf("%s as %s (approved %v): %v; the capability says allowed=%v", op.name, v.Role, v.Approved, err, op.allowed(v))
				}
			}
		}
	})
}

// A B2B admin sets active only the users it created; others are NOT_FOUND
// to it, as if they did not exist.
func TestManagingAUserNeedsToHaveCreatedIt(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL, nil)
		people := f.people()
		boss, consumer := people[1], people[6]
		ctx := auth.WithViewer(f.anon, viewerOf(boss))
		if _, err := f.s.SetUserActive(ctx, consumer.ID, false); codeOf(err) != apperr.NotFound {
			t.Errorf("a B2B admin deactivating someone else's user: %v, want NOT_FOUND", err)
		}
		if u, err := f.s.SetUserActive(ctx, people[3].ID, false); err != nil || u.IsActive {
			t.Errorf("a B2B admin deactivating its own user: %+v %v", u, err)
		}
	})
}
