package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/testdb"
)

// limiter returns a Limiter over a migrated database whose clock the test moves.
func limiter(t *testing.T, dbURL string) (*Limiter, func(time.Duration)) {
	now := time.Now().UTC().Truncate(time.Second)
	var mu sync.Mutex
	l := New(testdb.Open(t, dbURL), func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	return l, func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

func TestTakeCountsBeforeTheWork(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		l, advance := limiter(t, dbURL)
		ctx := context.Background()
		rule := Rule{Limit: 3, Window: time.Minute}
		for i := 1; i <= 3; i++ {
			v, err := l.Take(ctx, "k", rule)
			if err != nil || v.Wait != 0 || v.Last != (i == 3) {
				t.Fatalf("attempt %d: %+v %v", i, v, err)
			}
		}
		v, _ := l.Take(ctx, "k", rule)
		if v.Wait <= 0 || v.Wait > time.Minute || v.Locked {
			t.Errorf("over the limit without a lockout: %+v, want the rest of the window", v)
		}
		// Refund gives one back; the window's end gives all back.
		if err := l.Refund(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := l.Refund(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if v, _ := l.Take(ctx, "k", rule); v.Wait != 0 {
			t.Errorf("after two refunds: %+v", v)
		}
		advance(time.Minute)
		if v, _ := l.Take(ctx, "k", rule); v.Wait != 0 || v.Last {
			t.Errorf("in a new window: %+v", v)
		}
	})
}

func TestLockoutsLastTheirLengthAndGrow(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		l, advance := limiter(t, dbURL)
		ctx := context.Background()
		rule := Rule{Limit: 2, Window: 15 * time.Minute, Lockout: 5 * time.Minute}
		lockNow := func() time.Duration {
			t.Helper()
			for range 2 {
				if v, err := l.Take(ctx, "k", rule); err != nil || v.Wait != 0 {
					t.Fatalf("before the lock: %+v %v", v, err)
				}
			}
			v, err := l.Lock(ctx, "k", rule)
			if err != nil || !v.Locked {
				t.Fatalf("lock: %+v %v", v, err)
			}
			return v.Wait
		}
		for i, want := range []time.Duration{5, 10, 20, 40, 80, 80} {
			if got := lockNow(); got != want*time.Minute {
				t.Errorf("lock %d lasts %v, want %v", i+1, got, want*time.Minute)
			}
			// Attempts while locked are refused and not counted.
			if v, _ := l.Take(ctx, "k", rule); v.Wait <= 0 {
				t.Errorf("lock %d: an attempt went through", i+1)
			}
			advance(want * time.Minute)
		}
		// A day after the last lock ended, the next one is short again.
		advance(25 * time.Hour)
		if got := lockNow(); got != 5*time.Minute {
			t.Errorf("after a quiet day the lock lasts %v, want 5m", got)
		}
		// Reset (a successful sign-in) forgets it all.
		if err := l.Reset(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if v, _ := l.Take(ctx, "k", rule); v.Wait != 0 {
			t.Errorf("after Reset: %+v", v)
		}
	})
}

// However many attempts arrive at once, Limit go through, and one of the
// rest starts the lock.
func TestConcurrentAttempts(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		l, _ := limiter(t, dbURL)
		rule := Rule{Limit: 5, Window: time.Minute, Lockout: time.Minute}
		var wg sync.WaitGroup
		var mu sync.Mutex
		through, locks := 0, 0
		for range 30 {
			wg.Go(func() {
				v, err := l.Take(context.Background(), "k", rule)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if v.Wait == 0 {
					through++
				}
				if v.Locked {
					locks++
				}
			})
		}
		wg.Wait()
		if through != 5 || locks != 1 {
			t.Errorf("%d of 30 concurrent attempts went through and %d started a lock; want 5 and 1", through, locks)
		}
	})
}

func TestAddressCountsIPv6Per64(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":          "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":            "2001:db8:1:2::/64",
		"::ffff:203.0.113.7":            "::ffff:203.0.113.7",
		"not an address":                "not an address",
		"2001:db8:1:3:aaaa:bbbb:cccc:1": "2001:db8:1:3::/64",
	} {
		if got := Address(in); got != want {
			t.Errorf("Address(%q) = %q, want %q", in, got, want)
		}
	}
}

// A right password can reset a key between the last allowed failure and
// its lock: the lock then finds nothing to lock, and is no error.
func TestLockAfterAResetLocksNothing(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		l, _ := limiter(t, dbURL)
		ctx := context.Background()
		rule := Rule{Limit: 1, Window: time.Minute, Lockout: time.Minute}
		if v, err := l.Take(ctx, "k", rule); err != nil || !v.Last {
			t.Fatalf("take: %+v %v", v, err)
		}
		if err := l.Reset(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if v, err := l.Lock(ctx, "k", rule); err != nil || v.Locked || v.Wait != 0 {
			t.Errorf("lock after a reset: %+v %v, want nothing locked and no error", v, err)
		}
		if v, _ := l.Take(ctx, "k", rule); v.Wait != 0 {
			t.Errorf("after it: %+v", v)
		}
	})
}
