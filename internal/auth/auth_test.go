package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/crypto/argon2"

	"github.com/usergraph/usergraph/internal/apperr"
)

func TestHashAndVerifyPassword(t *testing.T) {
	ctx := context.Background()
	hasher := NewHasher(2, 4, time.Second)
	h, err := hasher.Hash(ctx, "s3cret-Horse")
	if err != nil {
		t.Fatal(err)
	}
	// OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash format = %s", h)
	}
	h2, _ := hasher.Hash(ctx, "s3cret-Horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	// Hashes are standard Argon2id, whatever memory they were computed in
	// (the second in memory the first left behind): x/crypto finds the same.
	for _, encoded := range []string{h, h2} {
		p, _ := parseHash(encoded)
		if want := argon2.IDKey([]byte("s3cret-Horse"), p.salt, p.iters, p.mem, p.threads, p.keyLen); !bytes.Equal(p.want, want) {
			t.Errorf("hash %s differs from x/crypto's %x", encoded, want)
		}
	}
	verify := func(password, encoded string) (ok, rehash bool) {
		ok, rehash, err := hasher.Verify(ctx, password, encoded)
		if err != nil {
			t.Fatal(err)
		}
		return ok, rehash
	}
	if ok, rehash := verify("s3cret-Horse", h); !ok || rehash {
		t.Errorf("right password: ok %v, rehash %v", ok, rehash)
	}
	for _, wrong := range []string{"s3cret-horse", ""} {
		if ok, _ := verify(wrong, h); ok {
			t.Errorf("wrong password %q accepted", wrong)
		}
	}
	// A hash made with older parameters (the first release's) still signs in, and asks to be replaced.
	old := oldParamsHash(t, "s3cret-Horse")
	if ok, rehash := verify("s3cret-Horse", old); !ok || !rehash {
		t.Errorf("old-parameter hash: ok %v, rehash %v", ok, rehash)
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=1,t=1,p=1$$", "$bcrypt$x$y$z$w",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43)} {
		before := hasher.Computed()
		if ok, _ := verify("s3cret-Horse", bad); ok {
			t.Errorf("malformed hash %q matched", bad)
		}
		// The dummy hash is checked instead, so a missing hash costs what a wrong password does.
		if n := hasher.Computed() - before; n != 1 {
			t.Errorf("hash %q: %d argon2id computations, want 1", bad, n)
		}
	}
}

// oldParamsHash encodes password with the parameters of usergraph's first
// release (64 MiB, 3 passes, 2 lanes).
func oldParamsHash(t *testing.T, password string) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, 3, 64*1024, 2, 32)
	b64 := base64.RawStdEncoding
	return "$argon2id$v=19$m=65536,t=3,p=2$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
}

func TestHasherAdmitsABoundedNumber(t *testing.T) {
	hasher := NewHasher(1, 2, 50*time.Millisecond)
	release := make(chan struct{})
	started := make(chan struct{})
	go hasher.run(context.Background(), func() { close(started); <-release }) // holds the only slot
	<-started
	results := make(chan error, 4)
	for range 4 {
		go func() { results <- hasher.run(context.Background(), func() {}) }()
	}
	// Two wait (the queue) and time out after 50 ms; two are refused at once.
	busy := 0
	for range 4 {
		var ae *apperr.Error
		if err := <-results; errors.As(err, &ae) && ae.Code == apperr.RateLimited && ae.RetryAfter > 0 {
			busy++
		}
	}
	if busy != 4 {
		t.Errorf("%d of 4 requests beyond one slot were refused with RATE_LIMITED, want 4", busy)
	}
	close(release)
	// A waiting request whose client leaves stops waiting.
	hold, holding := make(chan struct{}), make(chan struct{})
	go hasher.run(context.Background(), func() { close(holding); <-hold })
	<-holding
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := hasher.run(ctx, func() { t.Error("ran after its context ended") }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	close(hold)
}

// The server's soft memory limit is 48 MiB outside sign-ins and grows by one
// hash's 19 MiB for each hash running at once, until no hash runs: a burst
// of sign-ins does not make the collector run against the hashes' memory.
func TestMemoryBudgetFollowsRunningHashes(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { SetMemoryBudget(0); debug.SetMemoryLimit(before) })
	running := func() int64 { memoryBudget.Lock(); defer memoryBudget.Unlock(); return memoryBudget.running }
	for deadline := time.Now().Add(5 * time.Second); running() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hashes of an earlier test are still running")
		}
	}
	const base = 40 << 20
	SetMemoryBudget(base)
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	if got := limit(); got != base {
		t.Fatalf("limit with no hash running = %d, want %d", got, base)
	}
	hasher := NewHasher(2, 0, time.Second)
	limits := make(chan int64)
	release := []chan struct{}{make(chan struct{}), make(chan struct{})}
	done := make(chan error)
	for i := range 2 {
		go func() { done <- hasher.run(context.Background(), func() { limits <- limit(); <-release[i] }) }()
		if got, want := <-limits, int64(base+(i+1)*HashMemory); got != want {
			t.Errorf("limit with %d hashes running = %d, want %d", i+1, got, want)
		}
	}
	close(release[0])
	<-done
	if got, want := limit(), int64(base+2*HashMemory); got != want {
		t.Errorf("limit while the burst goes on = %d, want %d (held)", got, want)
	}
	close(release[1])
	<-done
	if got := limit(); got != base {
		t.Errorf("limit after the burst = %d, want %d", got, base)
	}
	// Without a budget the hasher leaves the limit alone (GOMEMLIMIT decides).
	SetMemoryBudget(0)
	debug.SetMemoryLimit(before)
	if err := hasher.run(context.Background(), func() {
		if got := limit(); got != before {
			t.Errorf("limit moved to %d with no budget set", got)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		password string
		attrs    []string
		want     []error
	}{
		{"velvet-Lantern-42", []string{"ann@example.com", "Ann", "Lee"}, nil},
		{"short1!", nil, []error{ErrPasswordTooShort}},
		{"iloveyou", nil, []error{ErrPasswordTooCommon}},
		{"QWERTY123", nil, []error{ErrPasswordTooCommon}},
		{"1234", nil, []error{ErrPasswordTooShort, ErrPasswordTooCommon, ErrPasswordNumeric}},
		{"80613597242", nil, []error{ErrPasswordNumeric}},
		{"margaretta1", []string{"margaretta@example.com"}, []error{ErrPasswordTooSimilar}},
		{"Thompsonx", []string{"x@y.io", "Bob", "Thompson"}, []error{ErrPasswordTooSimilar}},
		{"nothing-alike-77", []string{"margaretta@example.com", "Margaretta", "Thompson"}, nil},
	}
	for _, tc := range cases {
		if got := CheckPassword(tc.password, tc.attrs...); !slices.Equal(got, tc.want) {
			t.Errorf("CheckPassword(%q) = %v, want %v", tc.password, got, tc.want)
		}
	}
}

func newTestIssuer(t testing.TB) *Issuer {
	t.Helper()
	keys, err := LoadOrCreateKeys(filepath.Join(t.TempDir(), "keys.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	return NewIssuer(keys, "iss", "aud", 15*time.Minute)
}

func TestAccessTokens(t *testing.T) {
	iss := newTestIssuer(t)
	uid, sid := uuid.New(), uuid.New()
	tok, err := iss.Sign(uid, "ADMIN", sid)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.Verify(tok)
	if err != nil || c.UserID != uid || c.SessionID != sid || c.Role != "ADMIN" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}

	other := newTestIssuer(t)
	wrongAud := NewIssuer(iss.keys, "iss", "other-aud", time.Minute)
	expired := NewIssuer(iss.keys, "iss", "aud", time.Minute)
	expired.now = func() time.Time { return time.Now().Add(-time.Hour) }
	oldTok, _ := expired.Sign(uid, "ADMIN", sid)
	audTok, _ := wrongAud.Sign(uid, "ADMIN", sid)
	longLived, _ := NewIssuer(iss.keys, "iss", "aud", 24*time.Hour).Sign(uid, "ADMIN", sid)
	noExp, err := jwt.NewBuilder().Subject(uid.String()).Issuer("iss").Audience([]string{"aud"}).
		IssuedAt(time.Now()).Claim("role", "ADMIN").Claim("sid", sid.String()).Build()
	if err != nil {
		t.Fatal(err)
	}
	noExpTok, err := jwt.Sign(noExp, jwt.WithKey(jwa.EdDSA(), iss.keys.current().signing))
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"signed by another key":            mustSign(t, other, uid, sid),
		"expired":                          oldTok,
		"wrong audience":                   audTok,
		"our key, no exp":                  string(noExpTok),
		"our key, longer than the 15m TTL": longLived,
		"tampered":                         tok[:len(tok)-3] + "abc",
		"garbage":                          "a.b.c",
	} {
		if _, err := iss.Verify(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify err = %v, want ErrInvalidToken", name, err)
		}
	}
}

func mustSign(t *testing.T, i *Issuer, uid, sid uuid.UUID) string {
	tok, err := i.Sign(uid, "B2C_USER", sid)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A key set may hold several keys: the first signs, all verify, so a new
// key can be put first without signing anyone out.
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldSet, _ := NewKeySet()
	newSet, _ := NewKeySet()
	write := func(name string, sets ...[]byte) string {
		var keys []string
		for _, s := range sets {
			inner := strings.TrimSpace(string(s))
			inner = inner[strings.Index(inner, "[")+1 : strings.LastIndex(inner, "]")]
			keys = append(keys, inner)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`{"keys":[`+strings.Join(keys, ",")+`]}`), 0o600)
		return p
	}
	oldKeys, err := LoadOrCreateKeys(write("old.json", oldSet), false)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := LoadOrCreateKeys(write("rotated.json", newSet, oldSet), false)
	if err != nil {
		t.Fatal(err)
	}
	uid, sid := uuid.New(), uuid.New()
	oldTok := mustSign(t, NewIssuer(oldKeys, "i", "a", time.Minute), uid, sid)
	if _, err := NewIssuer(rotated, "i", "a", time.Minute).Verify(oldTok); err != nil {
		t.Errorf("token signed by the previous key refused after rotation: %v", err)
	}
	jwks := rotated.JWKS()
	if n := strings.Count(string(jwks), `"kid"`); n != 2 || strings.Contains(string(jwks), `"d"`) {
		t.Errorf("JWKS after rotation = %s", jwks)
	}
	if _, err := LoadOrCreateKeys(filepath.Join(dir, "missing.json"), false); err == nil {
		t.Error("a missing configured key file was accepted")
	}
}

func FuzzVerifyAccessToken(f *testing.F) {
	iss := newTestIssuer(f)
	user, session := uuid.New(), uuid.New()
	good, err := iss.Sign(user, "B2C_USER", session)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := iss.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v is not ErrInvalidToken", err)
			}
			return
		}
		// Only our signature verifies, so an accepted token carries what we signed.
		if c.UserID != user || c.SessionID != session || c.Role != "B2C_USER" {
			t.Fatalf("token %q verified with claims we never signed: %+v", token, c)
		}
	})
}

// Hot paths: every authenticated request verifies a token; every sign-in
// hashes a password.
// first: a token this process has not seen (parse, claims, Ed25519);
// again: the same token on a client's next request (the verified cache).
func BenchmarkVerifyAccessToken(b *testing.B) {
	iss := newTestIssuer(b)
	tok, err := iss.Sign(uuid.New(), "B2C_USER", uuid.New())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if _, err := iss.verify(tok, iss.keys.current()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		for b.Loop() {
			if _, err := iss.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A token verified once is remembered, but an expired one is refused all
// the same, and a token that failed is never remembered.
func TestVerifiedTokensStillExpire(t *testing.T) {
	iss := newTestIssuer(t)
	tok, err := iss.Sign(uuid.New(), "B2C_USER", uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if iss.verified.Len() != 1 {
		t.Fatalf("verified tokens = %d, want 1", iss.verified.Len())
	}
	iss.now = func() time.Time { return time.Now().Add(iss.ttl + tokenSkew + time.Second) }
	if _, err := iss.Verify(tok); err != ErrInvalidToken {
		t.Fatalf("expired cached token: %v, want ErrInvalidToken", err)
	}
	if _, err := iss.Verify(tok + "x"); err != ErrInvalidToken || iss.verified.Len() != 0 {
		t.Fatalf("bad token: %v, %d remembered", err, iss.verified.Len())
	}
}

func BenchmarkPasswordVerify(b *testing.B) {
	hasher := NewHasher(1, 0, time.Second)
	h, err := hasher.Hash(context.Background(), "s3cret-Horse")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := hasher.Verify(context.Background(), "s3cret-Horse", h); !ok || err != nil {
			b.Fatal("verify failed", err)
		}
	}
}
