package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Tests of the bounds that keep usergraph up under hostile or heavy load:
// requests are refused before they run, and password checks are counted
// before they are made. They assert codes and what was not done (through
// the server's usergraph_password_hashes_total, its count of argon2id hashes),
// never durations.

// refusedFor asserts a BAD_REQUEST whose message names the limit.
func refusedFor(t *testing.T, name string, r gqlResponse, limit string) {
	t.Helper()
	if r.Code() != "BAD_REQUEST" || !strings.Contains(r.Errors[0].Message, limit) {
		t.Errorf("%s: status %d, errors %+v; want BAD_REQUEST naming %s", name, r.Status, r.Errors, limit)
	}
	if len(r.Data) > 0 && string(r.Data) != "null" {
		t.Errorf("%s: refused but answered data %s", name, r.Data)
	}
}

func TestHostileQueriesAreRefusedBeforeTheyRun(t *testing.T) {
	eachDialect(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()

		// Each fragment spreads the one before twice: 1 KB, 2^28 fields once expanded.
		var bomb strings.Builder
		bomb.WriteString("query { me { ...F27 } }\nfragment F0 on User { id }\n")
		for i := 1; i < 28; i++ {
			fmt.Fprintf(&bomb, "fragment F%d on User { ...F%d ...F%d }\n", i, i-1, i-1)
		}
		refusedFor(t, "fragment bomb", anon.Do(bomb.String(), nil), "GRAPHQL_MAX_FIELDS")

		refusedFor(t, "one field 10,000 times", anon.Do("{ me { "+strings.Repeat("id ", 10000)+"} }", nil), "GRAPHQL_MAX_FIELDS")
		refusedFor(t, "20,000 tokens", anon.Do("{ me { "+strings.Repeat("id ", 20000)+"} }", nil), "GRAPHQL_MAX_TOKENS")
		// The same query made new by a comment each time is refused each time.
		for i := range 3 {
			refusedFor(t, "commented repeat", anon.Do(fmt.Sprintf("# %d\n{ me { %s} }", i, strings.Repeat("id ", 10000)), nil), "GRAPHQL_MAX_FIELDS")
		}

		var schemas strings.Builder
		schemas.WriteString("{")
		for i := range 1000 {
			fmt.Fprintf(&schemas, " s%d: __schema { types { name fields { name } } }", i)
		}
		schemas.WriteString(" }")
		refusedFor(t, "1,000 aliased __schema", anon.Do(schemas.String(), nil), "GRAPHQL_MAX_")
		refusedFor(t, "two __schema", anon.Do("{ a: __schema { queryType { name } } b: __schema { queryType { name } } }", nil), "__schema or __type 2 times")
		// An export is as large as an account's records: once per request.
		var exports strings.Builder
		for i := range 15 {
			fmt.Fprintf(&exports, " e%d: myData", i)
		}
		refusedFor(t, "fifteen aliased myData", anon.Do("{"+exports.String()+" }", nil), "myData 15 times")

		// Lists multiply: 100 users, each with a batch of 100 users.
		nested := `query($n: Int) { users(first: $n) { edges { node { batch { users(first: $n) { edges { node { id email } } } } } } } }`
		refusedFor(t, "nested connections", anon.Do(nested, map[string]any{"n": 100}), "GRAPHQL_MAX_COMPLEXITY")

		// Refused before it runs: four aliased logins check no password.
		before := srv.hashesComputed()
		var logins strings.Builder
		logins.WriteString("mutation {")
		for i := range 4 {
			fmt.Fprintf(&logins, ` l%d: login(input: {email: "a@b.co", password: "x"}) { errors { code } }`, i)
		}
		logins.WriteString(" }")
		refusedFor(t, "four logins", anon.Do(logins.String(), nil), "GRAPHQL_MAX_MUTATIONS")
		if n := srv.hashesComputed() - before; n != 0 {
			t.Errorf("a refused request checked %d passwords", n)
		}

		// The playground's introspection query still runs.
		var intro struct {
			Schema struct{ Types []struct{ Name string } } `json:"__schema"`
		}
		anon.MustData(`{ __schema { types { name fields(includeDeprecated: true) { name args { name type { kind name ofType { kind name ofType { kind name } } } } } } } }`, nil, &intro)
		if len(intro.Schema.Types) < 20 {
			t.Errorf("introspection returned %d types", len(intro.Schema.Types))
		}
	})
}

// The parser stops at GRAPHQL_MAX_TOKENS, the server's setting: a query
// just under it runs, one over it is refused before it is parsed further.
func TestTheTokenLimitIsTheSetting(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["GRAPHQL_MAX_TOKENS"] = "200"
		anon := startServer(t, env).Client()
		query := func(tokens int) string { return "{ __typename " + strings.Repeat("__typename ", tokens-3) + "}" }
		if r := anon.Do(query(190), nil); len(r.Errors) > 0 {
			t.Errorf("190 tokens: %+v", r.Errors)
		}
		refusedFor(t, "210 tokens", anon.Do(query(210), nil), "GRAPHQL_MAX_TOKENS")
	})
}

func TestTransportErrorsNeverEchoTheRequest(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["MAX_REQUEST_BYTES"] = "4096"
		srv := startServer(t, env)
		const secret = "hunter2-in-the-body"

		r, raw := postRaw(t, srv, "application/json", []byte(`{"query": "mutation { login(input: {email: \"a@b.co\", password: \"`+secret+`\"}) {`), nil)
		if r.Status != http.StatusBadRequest || r.Code() != "BAD_REQUEST" || strings.Contains(raw, secret) || strings.Contains(raw, "json:") {
			t.Errorf("unreadable JSON: status %d, answer %s", r.Status, raw)
		}
		big := jsonBody("{ me { id } }", map[string]any{"pad": strings.Repeat(secret, 400)})
		r, raw = postRaw(t, srv, "application/json", big, nil)
		if r.Status != http.StatusRequestEntityTooLarge || r.Code() != "BAD_REQUEST" || strings.Contains(raw, secret) {
			t.Errorf("oversize JSON: status %d, answer %.200s", r.Status, raw)
		}
	})
}

func TestMultipartRequestsAreBounded(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["MAX_REQUEST_BYTES"] = "4096"
		env["CORS_ALLOWED_ORIGINS"] = "https://app.example.com"
		srv := startServer(t, env)
		register := func(email string) string {
			b, _ := json.Marshal(map[string]any{
				"query":     `mutation($in: RegisterInput!) { register(input: $in) { accessToken errors { code } } }`,
				"variables": map[string]any{"in": registerInput(email, "+1202555"+fmt.Sprint(1000+len(email)))},
			})
			return string(b)
		}
		exists := func(email string) bool {
			var n int
			if err := srv.DB().NewRaw("SELECT count(*) FROM users WHERE email_key = ?", email).Scan(t.Context(), &n); err != nil {
				t.Fatal(err)
			}
			return n == 1
		}

		// No file and no preflight header: a cross-site form could send this. Refused, not run.
		ct, body := multipartBody(t, register("csrf@example.com"), nil)
		r, _ := postRaw(t, srv, ct, body, nil)
		if r.Status != http.StatusBadRequest || r.Code() != "BAD_REQUEST" || !strings.Contains(r.Errors[0].Message, "GraphQL-Require-Preflight") {
			t.Errorf("multipart without a file: status %d, %+v", r.Status, r.Errors)
		}
		if exists("csrf@example.com") {
			t.Error("the refused multipart mutation ran")
		}
		// With the header (which only a preflighted browser request can carry) it runs.
		r, _ = postRaw(t, srv, ct, body, http.Header{"Graphql-Require-Preflight": {"1"}})
		if len(r.Errors) > 0 || !exists("csrf@example.com") {
			t.Errorf("multipart with the preflight header: %+v", r.Errors)
		}

		// The operations part is held to MAX_REQUEST_BYTES, file or not.
		huge := `{"query": "{ me { id } }", "variables": {"file": null, "pad": "` + strings.Repeat("x", 10000) + `"}}`
		ct, body = multipartBody(t, huge, []byte("not a picture"))
		r, raw := postRaw(t, srv, ct, body, http.Header{"Graphql-Require-Preflight": {"1"}})
		if r.Status != http.StatusRequestEntityTooLarge || r.Code() != "BAD_REQUEST" || strings.Contains(raw, "xxxx") {
			t.Errorf("oversize operations part: status %d, answer %.200s", r.Status, raw)
		}

		// CORS lets browsers send the header.
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/graphql", nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "graphql-require-preflight")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "graphql-require-preflight") {
			t.Errorf("preflight allows headers %q", resp.Header.Get("Access-Control-Allow-Headers"))
		}
	})
}

func TestPasswordChecksAreCountedBeforeTheyRun(t *testing.T) {
	eachDialect(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["LOGIN_MAX_FAILURES"] = "5"
		srv := startServer(t, env)
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("target@example.com", "+12025550120")))

		// 20 wrong passwords at once: 5 checks, no more.
		before := srv.hashesComputed()
		answers := parallel(20, func(i int) gqlResponse {
			return anon.DoAsync(loginMutation, map[string]any{"email": "target@example.com", "password": fmt.Sprintf("wrong-password-%d", i)})
		})
		checks := srv.hashesComputed() - before
		counts := map[string]int{}
		for _, a := range answers {
			counts[loginCode(a)]++
		}
		if checks != 5 || counts["RATE_LIMITED"] != 15 || counts["INVALID_CREDENTIALS"] != 5 {
			t.Errorf("20 concurrent logins: %d password checks, answers %v; want 5 checks and 15 RATE_LIMITED", checks, counts)
		}
		// The email is locked now: the right password is not even checked.
		before = srv.hashesComputed()
		if code := loginCode(anon.Do(loginMutation, map[string]any{"email": "target@example.com", "password": goodPassword})); code != "RATE_LIMITED" {
			t.Errorf("locked email: %s", code)
		}
		if n := srv.hashesComputed() - before; n != 0 {
			t.Errorf("a locked email got %d password checks", n)
		}
	})
}

// LOGIN_MAX_FAILURES wrong passwords lock the email: the right one is then
// RATE_LIMITED with retryAfter LOGIN_LOCKOUT. (How long locks last and how
// they grow is pinned with a clock in internal/account's
// TestLoginLockoutLastsItsLengthAndGrows.)
func TestLockoutIsAnsweredWithItsLength(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["LOGIN_MAX_FAILURES"], env["LOGIN_LOCKOUT"] = "2", "1h"
		srv := startServer(t, env)
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("lockme@example.com", "+12025550121")))
		for i := range 2 {
			if code := loginCode(anon.Do(loginMutation, map[string]any{"email": "lockme@example.com", "password": fmt.Sprint("wrong-", i)})); code != "INVALID_CREDENTIALS" {
				t.Fatalf("failure %d: %s", i+1, code)
			}
		}
		r := anon.Do(loginMutation, map[string]any{"email": "lockme@example.com", "password": goodPassword})
		if r.Code() != "RATE_LIMITED" {
			t.Fatalf("after 2 failures: %s", loginCode(r))
		}
		if ra, _ := r.Errors[0].Extensions["retryAfter"].(float64); ra != 3600 {
			t.Errorf("retryAfter %v, want LOGIN_LOCKOUT (3600 s)", ra)
		}
	})
}

func TestChangePasswordGuessesAreLimited(t *testing.T) {
	eachDialect(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["LOGIN_MAX_FAILURES"] = "3"
		srv := startServer(t, env)
		anon := srv.Client()
		user := anon.As(*mustSignIn(t, anon.register(registerInput("changer@example.com", "+12025550122"))).AccessToken)
		const change = `mutation($o: String!) { changePassword(input: {oldPassword: $o, newPassword: "brand-new-Passw0rd", newPasswordConfirm: "brand-new-Passw0rd"}) { ok errors { field code } } }`

		before := srv.hashesComputed()
		answers := parallel(12, func(i int) gqlResponse { return user.DoAsync(change, map[string]any{"o": fmt.Sprint("guess-", i)}) })
		if n := srv.hashesComputed() - before; n != 3 {
			t.Errorf("12 concurrent guesses: %d password checks, want 3", n)
		}
		limited := 0
		for _, a := range answers {
			if a.Code() == "RATE_LIMITED" || a.Code() == "UNAUTHENTICATED" {
				limited++
			}
		}
		if limited != 9 {
			t.Errorf("%d of 12 guesses refused unchecked, want 9", limited)
		}
		// The session that guessed is ended.
		if code := user.meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("guessing session after the limit: me = %q, want UNAUTHENTICATED", code)
		}
		var failed int
		if err := srv.DB().NewRaw("SELECT count(*) FROM audit_events WHERE action = 'PASSWORD_CHANGE_FAILED'").Scan(t.Context(), &failed); err != nil {
			t.Fatal(err)
		}
		if failed != 3 {
			t.Errorf("%d PASSWORD_CHANGE_FAILED events, want 3", failed)
		}
		// The owner, signing in again, is limited too until the lock ends.
		owner := anon.As(*mustSignIn(t, anon.login("changer@example.com", goodPassword)).AccessToken)
		if code := owner.Do(change, map[string]any{"o": goodPassword}).Code(); code != "RATE_LIMITED" {
			t.Errorf("changePassword while locked: %q", code)
		}
	})
}

func TestIPv6ClientsAreCountedPerSlash64(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["RATE_LIMIT_PER_IP_PER_MINUTE"], env["TRUSTED_PROXIES"] = "3", "127.0.0.1/32"
		srv := startServer(t, env)
		from := func(ip string) string {
			c := srv.Client()
			c.Header.Set("X-Forwarded-For", ip)
			return loginCode(c.Do(loginMutation, map[string]any{"email": "nobody@example.com", "password": "whatever-it-is"}))
		}
		for i := 1; i <= 3; i++ {
			if code := from(fmt.Sprintf("2001:db8:1:2::%x", i)); code != "INVALID_CREDENTIALS" {
				t.Fatalf("login %d: %s", i, code)
			}
		}
		if code := from("2001:db8:1:2:ffff::9"); code != "RATE_LIMITED" {
			t.Errorf("a fourth address in the same /64: %s, want RATE_LIMITED", code)
		}
		if code := from("2001:db8:1:3::1"); code != "INVALID_CREDENTIALS" {
			t.Errorf("another /64: %s, want its own limit", code)
		}
	})
}

// With one hashing slot and no queue, a burst is partly refused with
// RATE_LIMITED and retryAfter; each admitted login costs one hash, and a
// refused one is not counted against its email.
func TestPasswordHashingIsAdmitted(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["PASSWORD_HASH_CONCURRENCY"], env["PASSWORD_HASH_QUEUE"] = "1", "0"
		srv := startServer(t, env)
		anon := srv.Client()
		before := srv.hashesComputed()
		answers := parallel(16, func(i int) gqlResponse {
			return anon.DoAsync(loginMutation, map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "password": "some-password"})
		})
		busy, checked := 0, 0
		for _, a := range answers {
			switch loginCode(a) {
			case "RATE_LIMITED":
				if ra, _ := a.Errors[0].Extensions["retryAfter"].(float64); ra != 1 {
					t.Errorf("busy answer with retryAfter %v, want 1: %+v", ra, a.Errors)
				}
				busy++
			case "INVALID_CREDENTIALS":
				checked++
			default:
				t.Errorf("unexpected answer %s", loginCode(a))
			}
		}
		if busy == 0 {
			t.Error("16 logins at once through one hashing slot and no queue: none was refused")
		}
		if n := srv.hashesComputed() - before; n != int64(checked) {
			t.Errorf("%d hashes for %d checked logins", n, checked)
		}
		// Refused attempts were refunded: only the checked emails have a counted attempt.
		var counted int
		if err := srv.DB().NewRaw("SELECT count(*) FROM rate_limits WHERE key LIKE 'login:email:u%' AND hits > 0").Scan(context.Background(), &counted); err != nil {
			t.Fatal(err)
		}
		if counted != checked {
			t.Errorf("%d emails have a counted attempt, %d were checked", counted, checked)
		}
	})
}

func TestRequestsStopAtTheirDeadline(t *testing.T) {
	eachDialect(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		// One hashing slot and a long queue: later logins wait past REQUEST_TIMEOUT.
		env["PASSWORD_HASH_CONCURRENCY"], env["PASSWORD_HASH_QUEUE"], env["PASSWORD_HASH_WAIT"] = "1", "1000", "1m"
		env["REQUEST_TIMEOUT"] = "100ms"
		srv := startServer(t, env)
		anon := srv.Client()
		before := srv.hashesComputed()
		answers := parallel(60, func(i int) gqlResponse {
			return anon.DoAsync(loginMutation, map[string]any{"email": fmt.Sprintf("late%d@example.com", i), "password": "some-password"})
		})
		checks := srv.hashesComputed() - before
		timedOut := 0
		for _, a := range answers {
			switch c := loginCode(a); c {
			case "TIMEOUT":
				timedOut++
			case "INVALID_CREDENTIALS":
			default:
				t.Errorf("unexpected answer %s %+v", c, a.Errors)
			}
		}
		// 60 checks take some 1.5 s of one slot; the deadline stops the queue.
		if timedOut == 0 || checks >= 30 {
			t.Errorf("60 logins queued on one slot with a 100 ms deadline: %d timed out, %d passwords checked; want most stopped before their check", timedOut, checks)
		}
		// Every check was counted first, and requests stopped while they
		// waited took their attempt back (one stopped in the middle of the
		// counting statement itself may stay counted: the safe side).
		var counted int64
		if err := srv.DB().NewRaw("SELECT count(*) FROM rate_limits WHERE key LIKE 'login:email:late%' AND hits > 0").Scan(context.Background(), &counted); err != nil {
			t.Fatal(err)
		}
		if counted < checks || counted-checks >= int64(timedOut) {
			t.Errorf("%d emails have a counted attempt, %d passwords were checked, %d requests timed out; want the timed-out ones mostly uncounted", counted, checks, timedOut)
		}
	})
}

func TestShutdownDoesNotWaitForRunawayRequests(t *testing.T) {
	eachDialect(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["PASSWORD_HASH_CONCURRENCY"], env["PASSWORD_HASH_QUEUE"], env["PASSWORD_HASH_WAIT"] = "1", "1000", "1m"
		env["REQUEST_TIMEOUT"], env["SHUTDOWN_TIMEOUT"] = "1m", "200ms"
		srv := startServer(t, env)
		anon := srv.Client()
		// 400 logins need some 10 s of hashing on one slot; shutdown allows 200 ms.
		// Each login hashed records its failure, which outlives the server.
		hashed := func() int {
			var n int
			if err := srv.DB().NewRaw("SELECT count(*) FROM audit_events WHERE action = 'LOGIN_FAILED'").Scan(context.Background(), &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := hashed()
		var wg sync.WaitGroup
		for i := range 400 {
			wg.Go(func() {
				body := jsonBody(loginMutation, map[string]any{"email": fmt.Sprintf("q%d@example.com", i), "password": "some-password"})
				if resp, err := httpClient.Post(anon.srv.URL+"/graphql", "application/json", bytes.NewReader(body)); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		for hashed() == before { // the queue is busy
			time.Sleep(5 * time.Millisecond)
		}
		srv.Stop() // fails the test if shutdown takes 20 s
		wg.Wait()
		if n := hashed() - before; n >= 200 {
			t.Errorf("%d of 400 queued logins were still hashed after shutdown began", n)
		}
	})
}

func TestOldPasswordHashesAreReplacedAtSignIn(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("legacy@example.com", "+12025550123")))
		// The hash as the first release stored it: 64 MiB, 3 passes, 2 lanes.
		salt := []byte("0123456789abcdef")
		b64 := base64.RawStdEncoding
		old := "$argon2id$v=19$m=65536,t=3,p=2$" + b64.EncodeToString(salt) + "$" +
			b64.EncodeToString(argon2.IDKey([]byte(goodPassword), salt, 3, 64*1024, 2, 32))
		db := srv.DB()
		if _, err := db.NewRaw("UPDATE users SET password_hash = ? WHERE email_key = ?", old, "legacy@example.com").Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		mustSignIn(t, anon.login("legacy@example.com", goodPassword))
		var stored string
		if err := db.NewRaw("SELECT password_hash FROM users WHERE email_key = ?", "legacy@example.com").Scan(t.Context(), &stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("after sign-in the stored hash is %.40s…, want today's parameters", stored)
		}
		mustSignIn(t, anon.login("legacy@example.com", goodPassword)) // and the new hash works
	})
}

// Every sign-in mutation counts against the client's address
// (RATE_LIMIT_PER_IP_PER_MINUTE; refreshToken REFRESH_PER_IP_PER_MINUTE),
// before it looks at what it was given.
func TestEverySignInMutationIsLimitedPerAddress(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["RATE_LIMIT_PER_IP_PER_MINUTE"], env["REFRESH_PER_IP_PER_MINUTE"] = "2", "3"
		anon := startServer(t, env).Client()
		n := 0
		flows := []struct {
			name    string
			allowed int
			call    func() gqlResponse
		}{
			{"register", 2, func() gqlResponse {
				n++
				return anon.Do(registerMutation, map[string]any{"input": registerInput(fmt.Sprintf("lim%d@example.com", n), fmt.Sprintf("+1202555%04d", 2000+n))})
			}},
			{"requestPasswordReset", 2, func() gqlResponse { return anon.Do(requestResetMutation, map[string]any{"e": "who@example.com"}) }},
			{"setupPassword", 2, func() gqlResponse {
				return anon.Do(setupPasswordMutation, map[string]any{"t": "guess", "p": goodPassword, "c": goodPassword})
			}},
			{"resetPassword (same counter as setupPassword)", 0, func() gqlResponse {
				return anon.Do(`mutation { resetPassword(input: {token: "guess", password: "x", passwordConfirm: "x"}) { ok } }`, nil)
			}},
			{"verifyEmail (same counter as setupPassword)", 0, func() gqlResponse {
				return anon.Do(`mutation { verifyEmail(input: {token: "guess"}) { errors { code } } }`, nil)
			}},
			{"refreshToken", 3, func() gqlResponse { return anon.Do(refreshMutation, map[string]any{"t": "guess"}) }},
			{"verifyMfa", 2, func() gqlResponse {
				return anon.Do(`mutation { verifyMfa(input: {mfaToken: "guess", code: "123456"}) { errors { code } } }`, nil)
			}},
			{"login", 2, func() gqlResponse {
				return anon.Do(loginMutation, map[string]any{"email": "x@example.com", "password": "x"})
			}},
		}
		for _, f := range flows {
			for i := range f.allowed {
				if code := f.call().Code(); code != "" {
					t.Fatalf("%s %d: %s", f.name, i+1, code)
				}
			}
			if r := f.call(); r.Code() != "RATE_LIMITED" {
				t.Errorf("%s beyond %d a minute: %q, want RATE_LIMITED", f.name, f.allowed, r.Code())
			}
		}
	})
}

// A failed sign-in costs one argon2id computation whatever the reason, so
// its cost does not tell whether the email has an account.
func TestFailedLoginsCostOneHashEach(t *testing.T) {
	eachDialect(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("known@example.com", "+12025550130")))
		gone := mustSignIn(t, anon.register(registerInput("gone@example.com", "+12025550131")))
		if _, err := srv.DB().NewRaw("UPDATE users SET is_active = ? WHERE id = ?", false, gone.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		createB2BAdmin(t, admin, "invited@corp.test", "+12025550132") // no password yet
		for _, tc := range []struct{ name, email, password string }{
			{"unknown email", "nobody@example.com", goodPassword},
			{"wrong password", "known@example.com", goodPassword + "!"},
			{"deactivated account", "gone@example.com", goodPassword},
			{"no password set yet", "invited@corp.test", goodPassword},
			{"right password", "known@example.com", goodPassword},
		} {
			before := srv.hashesComputed()
			anon.login(tc.email, tc.password)
			if n := srv.hashesComputed() - before; n != 1 {
				t.Errorf("%s: %d argon2id computations, want 1", tc.name, n)
			}
		}
	})
}

// A request full of mistakes gets a bounded answer: thousands of unused
// variables or unknown directives are answered with 20 errors and a count
// of the rest, not an answer ten times the request.
func TestValidationErrorsAreBounded(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		var vars, dirs strings.Builder
		for i := range 3000 {
			fmt.Fprintf(&vars, " $v%d: Int", i)
			fmt.Fprintf(&dirs, " @d%d", i)
		}
		for name, q := range map[string]string{
			"3,000 unused variables":   "query(" + vars.String() + ") { __typename }",
			"3,000 unknown directives": "{ __typename" + dirs.String() + " }",
		} {
			r, raw := postRaw(t, anon.srv, "application/json", jsonBody(q, nil), nil)
			if len(r.Errors) != 21 || r.Code() != "BAD_REQUEST" || !strings.Contains(r.Errors[20].Message, "2980 more errors") || len(raw) > len(q) {
				t.Errorf("%s (%d bytes): %d errors, %d bytes answered; last: %+v", name, len(q), len(r.Errors), len(raw), r.Errors[len(r.Errors)-1])
			}
		}
	})
}
