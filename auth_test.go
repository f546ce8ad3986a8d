package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/testdb"
)

func TestRegisterLoginMe(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()

		reg := mustSignIn(t, anon.register(registerInput("Ann.Lee@Example.com", "+4915112345678")))
		u := reg.User
		if u.Email != "Ann.Lee@Example.com" || u.Role != "B2C_USER" || !u.IsActive || u.IsVerified || !u.IsApproved ||
			u.FullName != "Ann Lee" || u.Mobile != "+4915112345678" || u.LastLogin == nil {
			t.Errorf("registered user = %+v", u)
		}
		if *reg.ExpiresIn != 900 {
			t.Errorf("expiresIn = %d, want 900 (15 min)", *reg.ExpiresIn)
		}

		// The registration's own token works at once.
		var me struct{ Me testUser }
		anon.As(*reg.AccessToken).MustData(`{ me { `+userFields+` } }`, nil, &me)
		if me.Me.ID != u.ID {
			t.Errorf("me = %+v, want %s", me.Me, u.ID)
		}

		// Email is unique regardless of case; so is the mobile number.
		dup := anon.register(registerInput("ann.lee@example.COM", "+4915112345678"))
		if got := codes(dup.Errors); !slices.Equal(got, []string{"DUPLICATE@input.email", "DUPLICATE@input.mobile"}) {
			t.Errorf("duplicate register errors = %v", got)
		}
		if dup.AccessToken != nil {
			t.Error("a failed registration returned a token")
		}

		// Login ignores the email's case.
		in := mustSignIn(t, anon.login("ANN.LEE@example.com", goodPassword))
		if in.User.ID != u.ID || in.User.LastLogin == nil {
			t.Errorf("login user = %+v", in.User)
		}
		if code := anon.As(*in.AccessToken).meCode(); code != "" {
			t.Errorf("me with login token: %s", code)
		}
		if code := anon.meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("me without token: code %q, want UNAUTHENTICATED", code)
		}
	})
}

// The answer of a sign-in carries the signed-in user's own private data,
// sessions included, although the request itself carried no token: the
// caller holds the tokens now. (Once this answered UNAUTHENTICATED at
// user.sessions and "user": null, hiding the email too.)
func TestASignInAnswersWithTheUsersOwnData(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		const fields = `accessToken user { id email mobile mfaEnabled profile { city } wallet { balance } sessions { id current } } errors { code }`
		type answer struct {
			AccessToken *string
			User        *struct {
				ID, Email, Mobile string
				Wallet            struct{ Balance string }
				Sessions          []struct{ ID string }
			}
			Errors []userError
		}
		check := func(name string, r gqlResponse, dst *answer, sessions int) {
			t.Helper()
			if len(r.Errors) > 0 {
				t.Fatalf("%s: %+v", name, r.Errors)
			}
			if dst.User == nil || dst.User.Email != "own@example.com" || dst.User.Mobile != "+4915112340001" ||
				dst.User.Wallet.Balance != "1000000.00" || len(dst.User.Sessions) != sessions {
				t.Errorf("%s: user %+v, want its email, mobile, wallet and %d sessions", name, dst.User, sessions)
			}
		}
		var reg struct{ Register answer }
		r := anon.Do(`mutation($in: RegisterInput!) { register(input: $in) { `+fields+` } }`,
			map[string]any{"in": registerInput("own@example.com", "+4915112340001")})
		if err := decode(r, &reg); err != nil {
			t.Fatal(err)
		}
		check("register", r, &reg.Register, 1)
		var login struct{ Login answer }
		r = anon.Do(`mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { `+fields+` } }`,
			map[string]any{"e": "own@example.com", "p": goodPassword})
		if err := decode(r, &login); err != nil {
			t.Fatal(err)
		}
		check("login", r, &login.Login, 2)
		// Only the signed-in user: a failed sign-in reveals nothing.
		r = anon.Do(`mutation { login(input: {email: "own@example.com", password: "wrong"}) { user { email } errors { code } } }`, nil)
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"user":null`) {
			t.Errorf("a failed login: %s %+v", r.Data, r.Errors)
		}
	})
}

func TestRegisterValidation(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		cases := []struct {
			name string
			edit func(map[string]any)
			want []string
		}{
			{"blank fields", func(in map[string]any) { in["email"], in["firstName"] = "  ", "" },
				[]string{"REQUIRED@input.email", "REQUIRED@input.firstName"}},
			{"bad email and mobile", func(in map[string]any) { in["email"], in["mobile"] = "not-an-email", "12-34" },
				[]string{"INVALID@input.email", "INVALID@input.mobile"}},
			{"name too long", func(in map[string]any) { in["lastName"] = strings.Repeat("x", 151) },
				[]string{"TOO_LONG@input.lastName"}},
			{"short password", func(in map[string]any) { in["password"], in["passwordConfirm"] = "k9#Xq", "k9#Xq" },
				[]string{"TOO_SHORT@input.password"}},
			{"common password", func(in map[string]any) { in["password"], in["passwordConfirm"] = "Password1", "Password1" },
				[]string{"PASSWORD_TOO_COMMON@input.password"}},
			{"numeric password", func(in map[string]any) { in["password"], in["passwordConfirm"] = "80613597242", "80613597242" },
				[]string{"PASSWORD_ENTIRELY_NUMERIC@input.password"}},
			{"password like the email", func(in map[string]any) {
				in["email"], in["password"], in["passwordConfirm"] = "wolfgangmozart@example.com", "wolfgangmozart", "wolfgangmozart"
			}, []string{"PASSWORD_TOO_SIMILAR@input.password"}},
			{"password like the name", func(in map[string]any) {
				in["lastName"], in["password"], in["passwordConfirm"] = "Rutherford", "rutherford1", "rutherford1"
			}, []string{"PASSWORD_TOO_SIMILAR@input.password"}},
			{"confirmation differs", func(in map[string]any) { in["passwordConfirm"] = goodPassword + "x" },
				[]string{"PASSWORD_MISMATCH@input.passwordConfirm"}},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				in := registerInput("valid"+string(rune('a'+i))+"@example.com", fmt.Sprintf("+4915110000%03d", i))
				tc.edit(in)
				got := anon.register(in)
				if !slices.Equal(codes(got.Errors), tc.want) {
					t.Errorf("errors = %v, want %v", codes(got.Errors), tc.want)
				}
				if got.AccessToken != nil || got.User != nil {
					t.Error("invalid registration signed in")
				}
			})
		}
		// Input strings are trimmed; passwords are not.
		p := mustSignIn(t, anon.register(map[string]any{
			"email": "  trim@example.com ", "mobile": " +12025550123 ", "firstName": " Tom ", "lastName": " Rim ",
			"password": " " + goodPassword, "passwordConfirm": " " + goodPassword,
		}))
		if p.User.Email != "trim@example.com" || p.User.FirstName != "Tom" || p.User.Mobile != "+12025550123" {
			t.Errorf("not trimmed: %+v", p.User)
		}
		if errs := anon.login("trim@example.com", goodPassword).Errors; len(errs) == 0 {
			t.Error("password was trimmed: login without the leading space succeeded")
		}
		mustSignIn(t, anon.login("trim@example.com", " "+goodPassword))
	})
}

func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("known@example.com", "+12025550100")))
		deactivated := mustSignIn(t, anon.register(registerInput("gone@example.com", "+12025550101")))
		if _, err := srv.DB().NewRaw("UPDATE users SET is_active = ? WHERE id = ?", false, deactivated.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct{ name, email, password string }{
			{"unknown email", "nobody@example.com", goodPassword},
			{"wrong password", "known@example.com", goodPassword + "!"},
			{"deactivated account", "gone@example.com", goodPassword},
		} {
			got := anon.login(tc.email, tc.password)
			if !slices.Equal(codes(got.Errors), []string{"INVALID_CREDENTIALS@"}) || got.Errors[0].Message != "Invalid email or password." {
				t.Errorf("%s: errors = %+v", tc.name, got.Errors)
			}
			if got.AccessToken != nil || got.User != nil {
				t.Errorf("%s: returned a token or user", tc.name)
			}
		}
	})
}

func TestInvalidBearerTokenIsUnauthenticatedEverywhere(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		p := mustSignIn(t, anon.register(registerInput("tok@example.com", "+12025550102")))
		tampered := (*p.AccessToken)[:len(*p.AccessToken)-4] + "AAAA"
		for _, tok := range []string{"garbage", tampered} {
			resp := anon.As(tok).Do(loginMutation, map[string]any{"email": "tok@example.com", "password": goodPassword})
			if resp.Code() != "UNAUTHENTICATED" {
				t.Errorf("login with bad bearer %q…: code %q, want UNAUTHENTICATED", tok[:5], resp.Code())
			}
		}
		// A token from another server (another signing key) is refused too.
		other := startServer(t, testEnv(t, testdb.Dialects()[0].URL(t)))
		foreign := mustSignIn(t, other.Client().register(registerInput("tok@example.com", "+12025550102")))
		if code := anon.As(*foreign.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("foreign token: code %q", code)
		}
		// Non-Bearer schemes are refused, not ignored.
		basic := srv.Client()
		basic.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		if code := basic.Do(`{ __typename }`, nil).Code(); code != "UNAUTHENTICATED" {
			t.Errorf("basic auth: code %q", code)
		}
		// "Bearer" with no token (the playground's headers template before
		// a token is pasted in) carries no credential: the request is
		// anonymous, so signing in works.
		for _, header := range []string{"Bearer ", "Bearer", "bearer  "} {
			blank := srv.Client()
			blank.Header.Set("Authorization", header)
			if r := blank.login("tok@example.com", goodPassword); len(r.Errors) > 0 || r.AccessToken == nil {
				t.Errorf("login with Authorization %q: %+v", header, r)
			}
		}
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		first := mustSignIn(t, anon.register(registerInput("rot@example.com", "+12025550103")))

		second := mustSignIn(t, anon.refresh(*first.RefreshToken))
		if *second.RefreshToken == *first.RefreshToken || *second.AccessToken == *first.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		third := mustSignIn(t, anon.refresh(*second.RefreshToken))
		if code := anon.As(*third.AccessToken).meCode(); code != "" {
			t.Fatalf("fresh access token refused: %s", code)
		}

		// Presenting a rotated token again is reuse: the whole session ends.
		reuse := anon.refresh(*first.RefreshToken)
		if !slices.Equal(codes(reuse.Errors), []string{"INVALID_TOKEN@input.refreshToken"}) {
			t.Errorf("reuse errors = %v", codes(reuse.Errors))
		}
		if !refused(anon.refresh(*third.RefreshToken)) {
			t.Error("the newest refresh token still works after reuse was detected")
		}
		if code := anon.As(*third.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("access token of the revoked session: code %q", code)
		}

		// Other sessions of the same user are untouched.
		other := mustSignIn(t, anon.login("rot@example.com", goodPassword))
		if code := anon.As(*other.AccessToken).meCode(); code != "" {
			t.Errorf("other session: %s", code)
		}
		if errs := anon.refresh("not-a-token").Errors; !slices.Equal(codes(errs), []string{"INVALID_TOKEN@input.refreshToken"}) {
			t.Errorf("unknown token: %v", codes(errs))
		}
	})
}

func TestConcurrentRefreshOfOneTokenSucceedsOnce(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		p := mustSignIn(t, anon.register(registerInput("race@example.com", "+12025550104")))
		// Do, not refresh(): t.Fatal must stay on the test goroutine.
		answers := parallel(8, func(int) gqlResponse { return anon.DoAsync(refreshMutation, map[string]any{"t": *p.RefreshToken}) })
		var winners []authPayload
		for _, a := range answers {
			var d struct{ RefreshToken authPayload }
			if json.Unmarshal(a.Data, &d) == nil && d.RefreshToken.AccessToken != nil {
				winners = append(winners, d.RefreshToken)
			} else if !slices.Equal(codes(d.RefreshToken.Errors), []string{"INVALID_TOKEN@input.refreshToken"}) {
				t.Errorf("a losing refresh answered %+v %+v", d.RefreshToken.Errors, a.Errors)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d concurrent refreshes of one token succeeded, want exactly 1", len(winners))
		}
		// The others were reuse of a spent token: the session is over, the winner's new pair included.
		if code := anon.As(*winners[0].AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("winner's access token after the race: %q, want UNAUTHENTICATED", code)
		}
		if errs := anon.refresh(*winners[0].RefreshToken).Errors; !slices.Equal(codes(errs), []string{"INVALID_TOKEN@input.refreshToken"}) {
			t.Errorf("winner's refresh token after the race: %v", codes(errs))
		}
	})
}

func TestLogout(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		a1 := mustSignIn(t, anon.register(registerInput("alice@example.com", "+12025550105")))
		a2 := mustSignIn(t, anon.login("alice@example.com", goodPassword))
		a3 := mustSignIn(t, anon.login("alice@example.com", goodPassword))
		bob := mustSignIn(t, anon.register(map[string]any{
			"email": "bob@example.com", "mobile": "+12025550106", "firstName": "Bob", "lastName": "Ray",
			"password": goodPassword, "passwordConfirm": goodPassword,
		}))
		alice := anon.As(*a1.AccessToken)

		type logoutResult struct {
			Logout struct {
				OK     bool        `json:"ok"`
				Errors []userError `json:"errors"`
			}
		}
		// Logout needs a signed-in caller.
		if code := anon.Do(logoutMutation, map[string]any{"t": *a1.RefreshToken}).Code(); code != "UNAUTHENTICATED" {
			t.Errorf("anonymous logout: code %q", code)
		}
		// Only the caller's own refresh token is accepted; Bob's stays valid.
		var r logoutResult
		alice.MustData(logoutMutation, map[string]any{"t": *bob.RefreshToken}, &r)
		if r.Logout.OK || !slices.Equal(codes(r.Logout.Errors), []string{"INVALID_TOKEN@input.refreshToken"}) {
			t.Errorf("logout with another user's token = %+v", r.Logout)
		}
		if code := anon.As(*bob.AccessToken).meCode(); code != "" {
			t.Errorf("Bob's session ended by Alice's logout: %s", code)
		}

		// Logging out ends that session at once: its access and refresh tokens stop working.
		alice.MustData(logoutMutation, map[string]any{"t": *a1.RefreshToken}, &r)
		if !r.Logout.OK || len(r.Logout.Errors) > 0 {
			t.Fatalf("logout = %+v", r.Logout)
		}
		if code := alice.meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("access token after logout: code %q", code)
		}
		if !refused(anon.refresh(*a1.RefreshToken)) {
			t.Error("refresh token works after logout")
		}
		if code := anon.As(*a2.AccessToken).meCode(); code != "" {
			t.Errorf("another session of Alice ended too: %s", code)
		}

		// everywhere ends every session of the caller.
		anon.As(*a2.AccessToken).MustData(logoutMutation, map[string]any{"t": *a2.RefreshToken, "all": true}, &r)
		if !r.Logout.OK {
			t.Fatalf("logout everywhere = %+v", r.Logout)
		}
		for _, p := range []authPayload{a2, a3} {
			if code := anon.As(*p.AccessToken).meCode(); code != "UNAUTHENTICATED" {
				t.Errorf("session survived logout everywhere: %q", code)
			}
		}
		if code := anon.As(*bob.AccessToken).meCode(); code != "" {
			t.Errorf("Bob signed out by Alice's logout everywhere: %s", code)
		}
	})
}

func TestDeactivatedUserTokensStopAtOnce(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		p := mustSignIn(t, anon.register(registerInput("deact@example.com", "+12025550107")))
		if _, err := srv.DB().NewRaw("UPDATE users SET is_active = ? WHERE id = ?", false, p.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if code := anon.As(*p.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("deactivated user's access token: code %q", code)
		}
		if !refused(anon.refresh(*p.RefreshToken)) {
			t.Error("deactivated user's refresh token still works")
		}
	})
}

func TestLoginRateLimits(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["LOGIN_MAX_FAILURES"] = "3"
		srv := startServer(t, env)
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("lock@example.com", "+12025550108")))

		for i := range 3 {
			if got := anon.login("lock@example.com", "wrong-password-"+string(rune('a'+i))); len(got.Errors) == 0 {
				t.Fatal("wrong password accepted")
			}
		}
		// Locked out now, even with the right password.
		resp := anon.Do(loginMutation, map[string]any{"email": "lock@example.com", "password": goodPassword})
		if resp.Code() != "RATE_LIMITED" {
			t.Fatalf("after 3 failures: code %q, want RATE_LIMITED", resp.Code())
		}
		if ra, _ := resp.Errors[0].Extensions["retryAfter"].(float64); ra != 300 {
			t.Errorf("retryAfter = %v, want LOGIN_LOCKOUT's 300 seconds", resp.Errors[0].Extensions["retryAfter"])
		}
		// An email without an account locks the same way (no enumeration).
		for range 3 {
			anon.login("ghost@example.com", "wrong-password")
		}
		if code := anon.Do(loginMutation, map[string]any{"email": "ghost@example.com", "password": "x"}).Code(); code != "RATE_LIMITED" {
			t.Errorf("unknown email: code %q, want RATE_LIMITED", code)
		}
	})

	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["RATE_LIMIT_PER_IP_PER_MINUTE"] = "4"
		anon := startServer(t, env).Client()
		for i := range 4 {
			anon.login("user"+string(rune('a'+i))+"@example.com", "wrong-password")
		}
		if code := anon.Do(loginMutation, map[string]any{"email": "new@example.com", "password": "x"}).Code(); code != "RATE_LIMITED" {
			t.Errorf("after 4 failures from one IP: code %q, want RATE_LIMITED", code)
		}
	})
}

func TestGraphQLRequestLimits(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		aliased := "mutation {"
		for i := range 4 {
			aliased += " l" + string(rune('a'+i)) + `: login(input: {email: "a@b.co", password: "x"}) { errors { code } }`
		}
		aliased += " }"
		for name, q := range map[string]string{
			"too many mutations": aliased,
			"malformed":          "{ me { id ",
			"unknown field":      "{ nope }",
		} {
			if code := anon.Do(q, nil).Code(); code != "BAD_REQUEST" {
				t.Errorf("%s: code %q, want BAD_REQUEST", name, code)
			}
		}
	})
}

func TestHTTPEndpoints(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		get := func(path string) (*http.Response, string) {
			resp, err := httpClient.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, resp.Body)
			return resp, b.String()
		}
		_, body := get("/.well-known/jwks.json")
		var jwks struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal([]byte(body), &jwks); err != nil || len(jwks.Keys) != 1 {
			t.Fatalf("jwks = %s (%v)", body, err)
		}
		k := jwks.Keys[0]
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["kid"] == nil || k["d"] != nil {
			t.Errorf("jwks key = %v (must be a public Ed25519 key with kid)", k)
		}
		if _, body = get("/schema.graphql"); !strings.Contains(body, "type Mutation") {
			t.Error("/schema.graphql does not serve the SDL")
		}
		if resp, body := get("/"); resp.StatusCode != 200 || !strings.Contains(body, "graphiql") {
			t.Errorf("playground: %d", resp.StatusCode)
		}
		if resp, _ := get("/readyz"); resp.StatusCode != 200 {
			t.Errorf("/readyz = %d", resp.StatusCode)
		}
		var q struct {
			Data struct {
				Typename string `json:"__typename"`
			}
		}
		if resp, body := get("/graphql?query=%7B__typename%7D"); resp.StatusCode != 200 || json.Unmarshal([]byte(body), &q) != nil || q.Data.Typename != "Query" {
			t.Errorf("GET /graphql query: %d %s", resp.StatusCode, body)
		}
	})
}

func TestUnreadableRequestsHaveACode(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["MAX_REQUEST_BYTES"] = "2048"
		env["PLAYGROUND_ENABLED"], env["INTROSPECTION_ENABLED"] = "false", "false"
		srv := startServer(t, env)
		post := func(contentType, body string) gqlResponse {
			resp, err := httpClient.Post(srv.URL+"/graphql", contentType, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out gqlResponse
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatalf("%s: not JSON: %v", body, err)
			}
			out.Status = resp.StatusCode
			return out
		}
		for name, r := range map[string]gqlResponse{
			"not JSON":        post("application/json", "{nope"),
			"too large":       post("application/json", `{"query":"{ me { id } }","x":"`+strings.Repeat("a", 4096)+`"}`),
			"batched request": post("application/json", `[{"query":"{ __typename }"},{"query":"{ __typename }"}]`),
			"introspection":   post("application/json", `{"query":"{ __schema { types { name } } }"}`),
		} {
			if r.Code() != "BAD_REQUEST" {
				t.Errorf("%s: status %d, code %q, want BAD_REQUEST", name, r.Status, r.Code())
			}
		}
		resp, err := httpClient.Get(srv.URL + "/graphql?query=" + url.QueryEscape(`mutation { logout(input: {refreshToken: "x"}) { ok } }`))
		if err != nil {
			t.Fatal(err)
		}
		var out gqlResponse
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if out.Code() != "BAD_REQUEST" {
			t.Errorf("mutation over GET: status %d, code %q", resp.StatusCode, out.Code())
		}
		if resp, _ := httpClient.Get(srv.URL + "/"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("playground disabled but / answers %d", resp.StatusCode)
		}
	})
}

// A refresh session lives REFRESH_TOKEN_TTL from its last use: each refresh
// extends it, and past it neither its refresh nor its access tokens work.
func TestRefreshSessionExpiryAndSlidingExtension(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["REFRESH_TOKEN_TTL"] = "2h"
		srv := startServer(t, env)
		anon := srv.Client()
		p := mustSignIn(t, anon.register(registerInput("slide@example.com", "+12025550140")))
		db := srv.DB()
		expiry := func() time.Time {
			var at time.Time
			if err := db.NewRaw("SELECT expires_at FROM sessions WHERE user_id = ?", p.User.ID).Scan(context.Background(), &at); err != nil {
				t.Fatal(err)
			}
			return at
		}
		first := expiry()
		if d := time.Until(first); d < 119*time.Minute || d > 121*time.Minute {
			t.Errorf("a new session expires in %v, want REFRESH_TOKEN_TTL (2h)", d)
		}
		// Pretend an hour went by: the session now ends in one hour; a refresh slides it back to two.
		if _, err := db.NewRaw("UPDATE sessions SET expires_at = ? WHERE user_id = ?", first.Add(-time.Hour), p.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		q := mustSignIn(t, anon.refresh(*p.RefreshToken))
		if d := time.Until(expiry()); d < 119*time.Minute {
			t.Errorf("after a refresh the session expires in %v, want 2h again", d)
		}
		// Past its expiry the session is over.
		if _, err := db.NewRaw("UPDATE sessions SET expires_at = ? WHERE user_id = ?", time.Now().Add(-time.Minute).UTC(), p.User.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if errs := anon.refresh(*q.RefreshToken).Errors; !slices.Equal(codes(errs), []string{"INVALID_TOKEN@input.refreshToken"}) {
			t.Errorf("refresh of an expired session: %v", codes(errs))
		}
		if code := anon.As(*q.AccessToken).meCode(); code != "UNAUTHENTICATED" {
			t.Errorf("access token of an expired session: %q", code)
		}
	})
}
