// What people type: control characters, look-alike addresses, mobile
// numbers in every form, and contacts stored before the forms were fixed.

package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Control characters and oversized searches are refused with a clear error,
// never an INTERNAL one (PostgreSQL cannot store NUL).
func TestControlCharactersAndLongSearches(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		in := registerInput("nul@example.com", "+4932000001")
		in["firstName"] = "Ann\x00"
		var reg struct{ Register authPayload }
		anon.MustData(registerMutation, map[string]any{"input": in}, &reg)
		if !slices.Equal(codes(reg.Register.Errors), []string{"INVALID@input.firstName"}) {
			t.Errorf("register with a NUL in a name: %v", codes(reg.Register.Errors))
		}
		for i := range 7 { // and on to the lockout, which records the email
			want := "INVALID_CREDENTIALS"
			if i >= 5 {
				want = "RATE_LIMITED"
			}
			if code := loginCode(anon.Do(loginMutation, map[string]any{"email": "nul\x00@example.com", "password": "x"})); code != want {
				t.Errorf("login %d with a NUL in the email: %s, want %s", i+1, code, want)
			}
		}
		if code := anon.Do(requestResetMutation, map[string]any{"e": "nul\x00@example.com"}).Code(); code != "" {
			t.Errorf("reset request with a NUL: %s", code)
		}
		for name, search := range map[string]string{"NUL": "ann\x00", "3,000 words": strings.Repeat("lee ", 3000), "a 500-letter word": strings.Repeat("a", 500)} {
			if code := admin.Do(usersQuery, map[string]any{"f": map[string]any{"search": search}}).Code(); code != "BAD_REQUEST" {
				t.Errorf("users search with %s: %q, want BAD_REQUEST", name, code)
			}
		}
		id := mustSignIn(t, anon.register(registerInput("nul2@example.com", "+4932000002"))).User.ID
		if p := adjust(t, admin, id, "CREDIT", "1.00", "key\x00"); !slices.Equal(codes(p.Errors), []string{"INVALID@input.idempotencyKey"}) {
			t.Errorf("adjustWallet with a NUL in the key: %v", codes(p.Errors))
		}
	})
}

// Look-alike and invisible characters cannot register an address that
// would shadow another, and a domain's Unicode and ASCII forms are one address.
func TestLookAlikeEmailsAreRefused(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		for i, email := range []string{"\u212aate@example.com", "ｋate@example.com", "аnn@example.com", "an\u200bn@example.com", "ann@pr\u043ebe.test"} {
			got := anon.register(registerInput(email, fmt.Sprintf("+49322000%02d", i)))
			if !slices.Equal(codes(got.Errors), []string{"INVALID@input.email"}) {
				t.Errorf("register %q: %v, want INVALID", email, codes(got.Errors))
			}
		}
		mustSignIn(t, anon.register(registerInput("ann@bücher.example", "+4932200010")))
		if got := anon.register(registerInput("ann@xn--bcher-kva.example", "+4932200011")); !slices.Equal(codes(got.Errors), []string{"DUPLICATE@input.email"}) {
			t.Errorf("the same address with an ASCII domain: %v, want DUPLICATE", codes(got.Errors))
		}
		mustSignIn(t, anon.login("ANN@BÜCHER.example", goodPassword))
	})
}

// One phone number has one form (E.164): written three ways, it registers once.
func TestMobileNumbersAreStoredInOneForm(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		anon := startServer(t, testEnv(t, dbURL)).Client()
		p := mustSignIn(t, anon.register(registerInput("phone1@example.com", "+49 (151) 234-5678")))
		var me struct{ Me struct{ Mobile string } }
		anon.As(*p.AccessToken).MustData(`{ me { mobile } }`, nil, &me)
		if me.Me.Mobile != "+491512345678" {
			t.Errorf("stored mobile %q, want +491512345678", me.Me.Mobile)
		}
		for i, same := range []string{"0049 151 2345678", "+491512345678"} {
			got := anon.register(registerInput(fmt.Sprintf("phone%d@example.com", i+2), same))
			if !slices.Equal(codes(got.Errors), []string{"DUPLICATE@input.mobile"}) {
				t.Errorf("%q again: %v, want DUPLICATE", same, codes(got.Errors))
			}
		}
	})
}

// Accounts stored before emails were keyed by their ASCII domain and mobiles
// kept in E.164 are brought to those forms once, at the next start.
func TestStoredContactsAreNormalizedOnce(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		srv := startServer(t, env)
		anon := srv.Client()
		mustSignIn(t, anon.register(registerInput("old@bücher.example", "+4915120000001")))
		mustSignIn(t, anon.register(registerInput("taken@example.com", "+4915120000002")))
		srv.Stop()
		db := srv.DB()
		ctx := context.Background()
		// As an earlier release stored them: the Unicode domain in the key, a mobile without +.
		for _, q := range []string{
			"UPDATE users SET email_key = 'old@bücher.example', mobile = '4915120000001' WHERE email = 'old@bücher.example'",
			"UPDATE users SET mobile = '004915120000002' WHERE email = 'taken@example.com'",
			"DELETE FROM job_leases",
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		srv = startServer(t, env)
		var rows []struct {
			EmailKey string `bun:"email_key"`
			Mobile   string `bun:"mobile"`
		}
		if err := db.NewRaw("SELECT email_key, mobile FROM users WHERE email IN ('old@bücher.example', 'taken@example.com') ORDER BY email").Scan(ctx, &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].EmailKey != "old@xn--bcher-kva.example" || rows[0].Mobile != "+4915120000001" || rows[1].Mobile != "+4915120000002" {
			t.Errorf("after the start: %+v", rows)
		}
		// The sign-in that looks the email up by its new key works.
		mustSignIn(t, srv.Client().login("OLD@BÜCHER.example", goodPassword))
	})
}

// An over-long value is refused before any work: a 900 KB email at login
// or requestPasswordReset answers BAD_REQUEST, naming the field and its
// bound, and leaves no counter, audit event or log line behind.
func TestOverlongInputIsRefusedBeforeAnyWork(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		anon := srv.Client()
		huge := strings.Repeat("a", 900<<10) + "@example.com"
		for name, q := range map[string]string{
			"login":                loginMutation,
			"requestPasswordReset": `mutation($email: String!) { requestPasswordReset(input: {email: $email}) { ok } }`,
		} {
			r := anon.Do(q, map[string]any{"email": huge, "password": "x"})
			if r.Code() != "BAD_REQUEST" || !strings.Contains(r.Errors[0].Message, "email is longer than 254 characters") {
				t.Errorf("%s with a 900 KB email: %+v", name, r.Errors)
			}
		}
		r := anon.Do(`mutation($t: String!) { verifyEmail(input: {token: $t}) { errors { code } } }`, map[string]any{"t": strings.Repeat("t", 129)})
		if r.Code() != "BAD_REQUEST" || !strings.Contains(r.Errors[0].Message, "token is longer than 128 characters") {
			t.Errorf("verifyEmail with a 129-character token: %+v", r.Errors)
		}
		db := srv.DB()
		for _, table := range []string{"rate_limits", "audit_events"} {
			var n int
			if err := db.NewRaw("SELECT count(*) FROM "+table).Scan(context.Background(), &n); err != nil || n != 0 {
				t.Errorf("%s: %d rows after refused requests (%v)", table, n, err)
			}
		}
		if strings.Contains(srv.Stderr.String(), "aaaaaaaaaaaaaaaa") {
			t.Error("the over-long value reached the log")
		}
		// Within the bound, the same mutation runs.
		if code := loginCode(anon.Do(loginMutation, map[string]any{"email": strings.Repeat("a", 240) + "@example.com", "password": "x"})); code != "INVALID_CREDENTIALS" {
			t.Errorf("a 252-character email: %s", code)
		}
	})
}
