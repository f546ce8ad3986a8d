// Package seed fills a database with realistic fake accounts for benchmarks
// and for trying the API with data: consumers, business admins with their
// batches and staff, wallets with their opening ledger entry, and sessions.
// Rows go in with multi-row inserts, a chunk per transaction.
package seed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/brianvoe/gofakeit/v7"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/db"
)

// Options say how much to create.
type Options struct {
	Users    int // accounts in all, business ones included
	Batches  int // B2B batches; a tenth of as many B2B admins own them
	Sessions int // sign-ins spread over the users
	// PasswordHash is the argon2id hash every seeded account signs in with
	// (one hash: computing a million would take hours).
	PasswordHash string
	// Append allows a database that already has users.
	Append bool
	// Opening creates the wallets (with their opening ledger entry) of
	// new users in the same transaction, as the product does.
	Opening func(ctx context.Context, tx bun.IDB, userIDs ...uuid.UUID) error
	// Progress, when set, is told how many users were written so far.
	Progress func(done int)
	Seed     uint64 // random seed: the same seed gives the same names
}

// Chunk is how many users one multi-row insert writes.
const Chunk = 1000

// ErrNotEmpty is returned for a database that has users, unless Append.
var ErrNotEmpty = errors.New("the database already has users; pass --append to add to them")

// Run writes the accounts. Each chunk of users, with their wallets, is one
// transaction; a failure leaves the chunks before it.
func Run(ctx context.Context, database *bun.DB, o Options) error {
	if o.Users < 0 || o.Batches < 0 || o.Sessions < 0 {
		return errors.New("counts must not be negative")
	}
	if o.Batches > 0 && o.Users < o.Batches*2 {
		return errors.New("each batch needs users: ask for at least twice as many users as batches")
	}
	count, err := database.NewSelect().Table("users").Count(ctx)
	existing := int(count)
	if err != nil {
		return err
	}
	if existing > 0 && !o.Append {
		return ErrNotEmpty
	}
	if existing+o.Users >= 1e8 {
		return errors.New("at most 100,000,000 users")
	}
	g := &generator{
		faker: gofakeit.New(o.Seed), rnd: rand.New(rand.NewPCG(o.Seed, 7)),
		now: time.Now().UTC(), hash: o.PasswordHash, n: existing,
	}
	admins, batches, err := g.business(ctx, database, o)
	if err != nil {
		return err
	}
	written := len(admins)
	// Users in batches first (a fifth of the rest when there are batches),
	// then consumers.
	rest := o.Users - len(admins)
	inBatches := 0
	if len(batches) > 0 {
		inBatches = rest / 5
	}
	var ids []uuid.UUID
	for done := 0; done < rest; {
		n := min(Chunk, rest-done)
		users := make([]account.User, n)
		for i := range users {
			k := done + i
			if k < inBatches {
				b := batches[k%len(batches)]
				users[i] = g.user(auth.RoleB2BUser, &b.CreatedByID, &b.ID)
			} else {
				users[i] = g.user(auth.RoleB2CUser, nil, nil)
			}
		}
		err := db.InTx(ctx, database, func(ctx context.Context, tx bun.Tx) error {
			return g.insertUsers(ctx, tx, users, o.Opening)
		})
		if err != nil {
			return err
		}
		for _, u := range users {
			if len(ids) < o.Sessions {
				ids = append(ids, u.ID)
			}
		}
		done += n
		written += n
		if o.Progress != nil {
			o.Progress(written)
		}
	}
	if err := g.sessions(ctx, database, ids, o.Sessions); err != nil {
		return err
	}
	// Fresh statistics and visibility, as a database at rest has them
	// (autovacuum would get there later): plans and counts depend on them.
	stmt := "ANALYZE"
	if db.IsPostgres(database) {
		stmt = "VACUUM ANALYZE"
	}
	_, err = database.ExecContext(ctx, stmt)
	return err
}

type generator struct {
	faker *gofakeit.Faker
	rnd   *rand.Rand
	now   time.Time
	hash  string
	n     int // accounts numbered so far (existing ones included): emails and mobiles stay unique
}

var domains = []string{"example.com", "example.org", "example.net", "mail.example", "corp.example"}

// user makes one account joined some time in the last three years, most of
// them signed in at least once since; one in fifty consumers and staff is
// deactivated.
func (g *generator) user(role auth.Role, createdBy, batchID *uuid.UUID) account.User {
	g.n++
	first, last := g.faker.FirstName(), g.faker.LastName()
	email := fmt.Sprintf("%s.%s.%d@%s", strings.ToLower(first), strings.ToLower(last), g.n, domains[g.n%len(domains)])
	email = strings.ReplaceAll(email, " ", "")
	joined := g.now.Add(-time.Duration(g.rnd.Int64N(int64(3 * 365 * 24 * time.Hour))))
	var lastLogin *time.Time
	if g.rnd.IntN(10) < 7 {
		t := joined.Add(time.Duration(g.rnd.Int64N(int64(g.now.Sub(joined)) + 1)))
		lastLogin = &t
	}
	hash := g.hash
	return account.User{
		ID: uuid.New(), Email: email, EmailKey: strings.ToLower(email),
		Mobile: fmt.Sprintf("+49151%08d", g.n), // German mobile numbers: valid E.164

		FirstName: first, LastName: last, Role: role,
		// Business admins stay active (their batches are seeded); one in 50 others is not.
		IsActive: role.NeedsApproval() || g.rnd.IntN(50) != 0, IsVerified: g.rnd.IntN(4) != 0, IsApproved: true,
		PasswordHash: &hash, CreatedByID: createdBy, BatchID: batchID,
		Address: g.faker.Street(), City: g.faker.City(),
		DateJoined: joined, LastLogin: lastLogin, UpdatedAt: joined,
	}
}

func (g *generator) insertUsers(ctx context.Context, tx bun.IDB, users []account.User, opening func(context.Context, bun.IDB, ...uuid.UUID) error) error {
	if len(users) == 0 {
		return nil
	}
	if _, err := tx.NewInsert().Model(&users).Exec(ctx); err != nil {
		return fmt.Errorf("insert users: %w", err)
	}
	if opening == nil {
		return nil
	}
	ids := make([]uuid.UUID, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return opening(ctx, tx, ids...)
}

// business creates the approved B2B admins and their batches.
func (g *generator) business(ctx context.Context, database *bun.DB, o Options) ([]account.User, []batch.Batch, error) {
	if o.Batches == 0 {
		return nil, nil, nil
	}
	admins := make([]account.User, max(1, o.Batches/10))
	approvals := make([]account.Approval, len(admins))
	for i := range admins {
		admins[i] = g.user(auth.RoleB2BAdmin, nil, nil)
		company := g.faker.Company()
		admins[i].CompanyName = &company
		decided := admins[i].DateJoined.Add(time.Hour)
		approvals[i] = account.Approval{ID: uuid.New(), UserID: admins[i].ID, Status: account.ApprovalApproved,
			DecidedAt: &decided, CreatedAt: admins[i].DateJoined}
	}
	perBatch := (o.Users - len(admins)) / 5 / o.Batches
	batches := make([]batch.Batch, o.Batches)
	for i := range batches {
		owner := admins[i%len(admins)]
		name := fmt.Sprintf("%s %s %d", g.faker.BuzzWord(), g.faker.HipsterWord(), i+1)
		at := owner.DateJoined.Add(2 * time.Hour)
		batches[i] = batch.Batch{ID: uuid.New(), Name: name, NameKey: strings.ToLower(name),
			Description: g.faker.Sentence(), MaxUsers: max(perBatch+1, batch.DefaultMaxUsers),
			IsActive: true, CreatedByID: owner.ID, CreatedAt: at, UpdatedAt: at}
	}
	err := db.InTx(ctx, database, func(ctx context.Context, tx bun.Tx) error {
		for start := 0; start < len(admins); start += Chunk {
			if err := g.insertUsers(ctx, tx, admins[start:min(start+Chunk, len(admins))], o.Opening); err != nil {
				return err
			}
		}
		if _, err := tx.NewInsert().Model(&approvals).Exec(ctx); err != nil {
			return err
		}
		for start := 0; start < len(batches); start += Chunk {
			part := batches[start:min(start+Chunk, len(batches))]
			if _, err := tx.NewInsert().Model(&part).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	return admins, batches, err
}

// sessions signs n of the users in (the first ones, a few times each when n
// exceeds them), as if from a browser some days ago.
func (g *generator) sessions(ctx context.Context, database *bun.DB, userIDs []uuid.UUID, n int) error {
	if n == 0 || len(userIDs) == 0 {
		return nil
	}
	for start := 0; start < n; start += Chunk {
		rows := make([]account.Session, min(Chunk, n-start))
		for i := range rows {
			created := g.now.Add(-time.Duration(g.rnd.Int64N(int64(7 * 24 * time.Hour))))
			rows[i] = account.Session{ID: uuid.New(), UserID: userIDs[(start+i)%len(userIDs)],
				CreatedAt: created, LastUsedAt: created, ExpiresAt: created.Add(30 * 24 * time.Hour),
				UserAgent: g.faker.UserAgent(), IP: g.faker.IPv4Address()}
		}
		if _, err := database.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return fmt.Errorf("insert sessions: %w", err)
		}
	}
	return nil
}
