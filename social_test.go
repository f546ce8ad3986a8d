package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/usergraph/usergraph/internal/testdb"
)

// The app the social sign-in tests return to: it is never fetched by the
// Go tests (the browser test serves a real one).
const socialApp = "http://app.test"

const (
	startSocialMutation    = `mutation($in: StartSocialSignInInput!) { startSocialSignIn(input: $in) { authorizationUrl errors { field code message } } }`
	completeSocialMutation = `mutation($in: CompleteSocialSignInInput!) { completeSocialSignIn(input: $in) { accessToken refreshToken mfaRequired user { id email isVerified } errors { field code message } } }`
	linkIdentityMutation   = `mutation($in: LinkIdentityInput!) { linkIdentity(input: $in) { authorizationUrl errors { field code message } } }`
	unlinkIdentityMutation = `mutation($in: UnlinkIdentityInput!) { unlinkIdentity(input: $in) { ok errors { field code message } } }`
	identitiesQuery        = `{ me { identities { id provider providerName email lastUsedAt } } }`
)

// socialServer is usergraph with one OpenID Connect provider, "acme": a
// real provider implementation (oauth2-proxy/mockoidc) in this process.
type socialServer struct {
	*testServer
	oidc *mockoidc.MockOIDC
}

func startSocialServer(t *testing.T, dbURL, appURL string, extra map[string]string) socialServer {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	// Providers return people to PUBLIC_URL: it must be known before the
	// server starts.
	port := freePort(t)
	env := testEnv(t, dbURL)
	env["PORT"], env["HOST"] = port, "127.0.0.1"
	env["PUBLIC_URL"], env["APP_URL"] = "http://127.0.0.1:"+port, appURL
	env["SIGNIN_PROVIDERS"] = "acme"
	env["SIGNIN_PROVIDER_ACME_ISSUER"] = m.Issuer()
	env["SIGNIN_PROVIDER_ACME_CLIENT_ID"] = m.ClientID
	env["SIGNIN_PROVIDER_ACME_CLIENT_SECRET"] = m.ClientSecret
	env["SIGNIN_PROVIDER_ACME_NAME"] = "Acme"
	maps.Copy(env, extra)
	return socialServer{startServer(t, env), m}
}

// browser is a cookie-keeping HTTP client that follows redirects until
// one leads to the app, as a browser would, and reports that URL.
type browser struct {
	t      *testing.T
	client *http.Client
	// onProvider, when set, may rewrite the URL of the provider's
	// authorization endpoint before the browser goes there.
	onProvider func(*url.URL)
	provider   string // the provider's host
}

func newBrowser(t *testing.T, s socialServer) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, provider: strings.TrimPrefix(strings.TrimPrefix(s.oidc.Issuer(), "http://"), "https://")}
	b.provider, _, _ = strings.Cut(b.provider, "/")
	b.client = &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), socialApp) {
				return http.ErrUseLastResponse
			}
			if req.URL.Host == b.provider && b.onProvider != nil {
				b.onProvider(req.URL)
			}
			return nil
		}}
	return b
}

// open goes to raw and follows redirects until the app; it returns the
// app URL reached.
func (b *browser) open(raw string) *url.URL {
	b.t.Helper()
	resp, err := b.client.Get(raw)
	if err != nil {
		b.t.Fatalf("GET %s: %v", raw, err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode/100 != 3 || err != nil || !strings.HasPrefix(loc.String(), socialApp) {
		b.t.Fatalf("GET %s ended at %d %v, not back at the app", raw, resp.StatusCode, loc)
	}
	return loc
}

// startSocial asks usergraph for the authorization URL of provider.
func startSocial(t *testing.T, c *client, provider, redirectTo string) (string, []userError) {
	t.Helper()
	var d struct {
		StartSocialSignIn struct {
			AuthorizationURL *string `json:"authorizationUrl"`
			Errors           []userError
		}
	}
	c.MustData(startSocialMutation, map[string]any{"in": map[string]any{"provider": provider, "redirectTo": redirectTo}}, &d)
	if d.StartSocialSignIn.AuthorizationURL == nil {
		return "", d.StartSocialSignIn.Errors
	}
	return *d.StartSocialSignIn.AuthorizationURL, d.StartSocialSignIn.Errors
}

type socialAnswer struct {
	AccessToken  *string `json:"accessToken"`
	RefreshToken *string `json:"refreshToken"`
	MfaRequired  bool    `json:"mfaRequired"`
	User         *struct {
		ID         string `json:"id"`
		Email      string `json:"email"`
		IsVerified bool   `json:"isVerified"`
	} `json:"user"`
	Errors []userError `json:"errors"`
}

func completeSocial(t *testing.T, c *client, code string) socialAnswer {
	t.Helper()
	var d struct{ CompleteSocialSignIn socialAnswer }
	c.MustData(completeSocialMutation, map[string]any{"in": map[string]any{"code": code}}, &d)
	return d.CompleteSocialSignIn
}

// signInAt runs the whole flow for the person the provider will vouch for
// and returns the app URL the browser came back to.
func (s socialServer) signInAt(t *testing.T, b *browser, person *mockoidc.MockUser) *url.URL {
	t.Helper()
	authURL, errs := startSocial(t, s.Client(), "acme", socialApp+"/signed-in")
	if len(errs) > 0 {
		t.Fatalf("startSocialSignIn: %v", errs)
	}
	s.oidc.QueueUser(person)
	return b.open(authURL)
}

func socialCode(t *testing.T, back *url.URL) string {
	t.Helper()
	code := back.Query().Get("code")
	if code == "" || back.Path != "/signed-in" {
		t.Fatalf("came back to %s, want /signed-in with a code", back)
	}
	return code
}

func TestSocialSignInWithAnOpenIDConnectProvider(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		s := startSocialServer(t, dbURL, socialApp, nil)
		anon := s.Client()

		var providers struct {
			SignInProviders []struct{ ID, Name string }
		}
		anon.MustData(`{ signInProviders { id name } }`, nil, &providers)
		if len(providers.SignInProviders) != 1 || providers.SignInProviders[0].ID != "acme" || providers.SignInProviders[0].Name != "Acme" {
			t.Fatalf("signInProviders %+v", providers.SignInProviders)
		}

		// A person new to the server gets a verified consumer account.
		newcomer := &mockoidc.MockUser{Subject: "acme-1", Email: "newcomer@example.com", EmailVerified: true}
		first := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s), newcomer)))
		if first.AccessToken == nil || first.User == nil || first.User.Email != "newcomer@example.com" || !first.User.IsVerified {
			t.Fatalf("new person: %+v", first)
		}
		// One whose email the provider has not verified: an unverified
		// account, asked to confirm its email.
		unsure := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s),
			&mockoidc.MockUser{Subject: "acme-0", Email: "unsure@example.com"})))
		if unsure.User == nil || unsure.User.IsVerified {
			t.Errorf("new person, email not verified by the provider: %+v, want an unverified account", unsure)
		}
		me := anon.As(*first.AccessToken)
		var ids struct {
			Me struct {
				Identities []struct {
					ID, Provider, ProviderName, Email string
					LastUsedAt                        *string
				}
			}
		}
		me.MustData(identitiesQuery, nil, &ids)
		if got := ids.Me.Identities; len(got) != 1 || got[0].Provider != "acme" || got[0].ProviderName != "Acme" || got[0].Email != "newcomer@example.com" {
			t.Errorf("identities %+v", got)
		}
		// Its only way in stays.
		var unlink struct{ UnlinkIdentity struct{ Errors []userError } }
		me.MustData(unlinkIdentityMutation, map[string]any{"in": map[string]any{"id": ids.Me.Identities[0].ID}}, &unlink)
		if codeList(unlink.UnlinkIdentity.Errors) != "LAST_SIGN_IN_METHOD" {
			t.Errorf("unlinking the last way in: %v", unlink.UnlinkIdentity.Errors)
		}

		// The same person again: the same account, and the code works once.
		code := socialCode(t, s.signInAt(t, newBrowser(t, s), newcomer))
		again := completeSocial(t, anon, code)
		if again.User == nil || again.User.ID != first.User.ID || again.AccessToken == nil {
			t.Errorf("returning person: %+v, want user %s", again, first.User.ID)
		}
		if replay := completeSocial(t, anon, code); codeList(replay.Errors) != "INVALID_TOKEN" {
			t.Errorf("a code used twice: %+v", replay)
		}

		// An account with a confirmed email, and the provider vouching for
		// it: linked automatically.
		owner := mustSignIn(t, anon.register(registerInput("owner@example.com", "+4915130000001")))
		db := s.DB()
		if _, err := db.ExecContext(t.Context(), "UPDATE users SET is_verified = TRUE WHERE email = 'owner@example.com'"); err != nil {
			t.Fatal(err)
		}
		linked := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s),
			&mockoidc.MockUser{Subject: "acme-2", Email: "OWNER@example.com", EmailVerified: true})))
		if linked.User == nil || linked.User.ID != owner.User.ID {
			t.Errorf("automatic link: %+v, want user %s", linked, owner.User.ID)
		}

		// An unconfirmed account, or an email the provider has not
		// verified: not linked; the person links after signing in.
		mustSignIn(t, anon.register(registerInput("unconfirmed@example.com", "+4915130000002")))
		for _, person := range []*mockoidc.MockUser{
			{Subject: "acme-3", Email: "unconfirmed@example.com", EmailVerified: true},
			{Subject: "acme-4", Email: "owner@example.com", EmailVerified: false},
		} {
			refused := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s), person)))
			if codeList(refused.Errors) != "ACCOUNT_EXISTS" || refused.AccessToken != nil {
				t.Errorf("%s (provider verified: %v): %+v, want ACCOUNT_EXISTS", person.Email, person.EmailVerified, refused)
			}
		}
		var n int
		if err := db.NewRaw("SELECT count(*) FROM identities").Scan(t.Context(), &n); err != nil || n != 3 {
			t.Errorf("%d identities linked, want 3 (%v)", n, err)
		}

		// Linking while signed in: the same flow, redeemed by the same user.
		unconfirmed := anon.As(*mustSignIn(t, anon.login("unconfirmed@example.com", goodPassword)).AccessToken)
		link := func(c *client, subject string) string {
			t.Helper()
			var d struct {
				LinkIdentity struct {
					AuthorizationURL *string `json:"authorizationUrl"`
					Errors           []userError
				}
			}
			c.MustData(linkIdentityMutation, map[string]any{"in": map[string]any{"provider": "acme", "redirectTo": socialApp + "/signed-in"}}, &d)
			if d.LinkIdentity.AuthorizationURL == nil {
				t.Fatalf("linkIdentity: %v", d.LinkIdentity.Errors)
			}
			s.oidc.QueueUser(&mockoidc.MockUser{Subject: subject, Email: "unconfirmed@example.com"})
			return socialCode(t, newBrowser(t, s).open(*d.LinkIdentity.AuthorizationURL))
		}
		// Someone else's browser (or no one signed in) cannot redeem it.
		stolen := link(unconfirmed, "acme-3")
		if r := completeSocial(t, anon, stolen); codeList(r.Errors) != "INVALID_TOKEN" {
			t.Errorf("a link code redeemed anonymously: %+v", r)
		}
		done := completeSocial(t, unconfirmed, link(unconfirmed, "acme-3"))
		if len(done.Errors) > 0 || done.User == nil || done.AccessToken != nil {
			t.Errorf("linkIdentity completed: %+v, want the user and no new tokens", done)
		}
		viaProvider := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s),
			&mockoidc.MockUser{Subject: "acme-3", Email: "unconfirmed@example.com", EmailVerified: true})))
		if viaProvider.User == nil || viaProvider.User.ID != done.User.ID {
			t.Errorf("sign-in after linking: %+v", viaProvider)
		}
		// With a password left, unlinking works.
		unconfirmed.MustData(identitiesQuery, nil, &ids)
		unconfirmed.MustData(unlinkIdentityMutation, map[string]any{"in": map[string]any{"id": ids.Me.Identities[0].ID}}, &unlink)
		if len(unlink.UnlinkIdentity.Errors) > 0 {
			t.Errorf("unlink with a password left: %v", unlink.UnlinkIdentity.Errors)
		}

		// myData exports the link; an account without a password is
		// deleted from a fresh session, and its link with it.
		leaver := &mockoidc.MockUser{Subject: "acme-5", Email: "leaver@example.com", EmailVerified: true}
		out := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s), leaver)))
		gone := anon.As(*out.AccessToken)
		var export struct{ MyData json.RawMessage }
		gone.MustData(`{ myData }`, nil, &export)
		var doc struct {
			Identities []struct{ Provider, Subject, Email string }
		}
		if err := json.Unmarshal(export.MyData, &doc); err != nil || len(doc.Identities) != 1 || doc.Identities[0].Subject != "acme-5" {
			t.Errorf("myData identities %+v (%v)", doc.Identities, err)
		}
		var del struct{ DeleteMyAccount struct{ Errors []userError } }
		const deleteMine = `mutation { deleteMyAccount(input: { password: "" }) { errors { field code message } } }`
		if _, err := db.ExecContext(t.Context(), "UPDATE sessions SET created_at = ? WHERE user_id = ?", time.Now().Add(-6*time.Minute).UTC(), out.User.ID); err != nil {
			t.Fatal(err)
		}
		gone.MustData(deleteMine, nil, &del)
		if codeList(del.DeleteMyAccount.Errors) != "REQUIRED" {
			t.Errorf("deleteMyAccount without a password, signed in 6 minutes ago: %v, want REQUIRED", del.DeleteMyAccount.Errors)
		}
		out = completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s), leaver)))
		gone = anon.As(*out.AccessToken)
		gone.MustData(deleteMine, nil, &del)
		if len(del.DeleteMyAccount.Errors) > 0 {
			t.Fatalf("deleteMyAccount without a password: %v", del.DeleteMyAccount.Errors)
		}
		if err := db.NewRaw("SELECT count(*) FROM identities WHERE user_id = ?", out.User.ID).Scan(t.Context(), &n); err != nil || n != 0 {
			t.Errorf("%d identities left after erasure (%v)", n, err)
		}
		if again := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s), leaver))); again.User == nil || again.User.ID == out.User.ID {
			t.Errorf("after erasure the provider's account signs in to %+v, want a new account", again.User)
		}

		// A second factor is still asked for; a deactivated account is refused.
		if _, err := db.ExecContext(t.Context(), "UPDATE users SET mfa_enabled = TRUE WHERE id = ?", first.User.ID); err != nil {
			t.Fatal(err)
		}
		if r := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s), newcomer))); !r.MfaRequired || r.AccessToken != nil {
			t.Errorf("two-factor on: %+v, want mfaRequired", r)
		}
		if _, err := db.ExecContext(t.Context(), "UPDATE users SET is_active = FALSE WHERE id = ?", first.User.ID); err != nil {
			t.Fatal(err)
		}
		if r := completeSocial(t, anon, socialCode(t, s.signInAt(t, newBrowser(t, s), newcomer))); codeList(r.Errors) != "INVALID_CREDENTIALS" {
			t.Errorf("deactivated: %+v", r)
		}

		// Every sign-in, link and unlink is in the audit log.
		for action, want := range map[string]int{"IDENTITY_LINKED": 6, "IDENTITY_UNLINKED": 1, "SOCIAL_SIGN_IN_FAILED": 2} {
			if err := db.NewRaw("SELECT count(*) FROM audit_events WHERE action = ?", action).Scan(t.Context(), &n); err != nil || n != want {
				t.Errorf("%d %s events, want %d (%v)", n, action, want, err)
			}
		}
		if err := db.NewRaw("SELECT count(*) FROM audit_events WHERE action = 'LOGIN_SUCCEEDED' AND details LIKE '%social:acme%'").Scan(t.Context(), &n); err != nil || n != 8 {
			t.Errorf("%d social sign-ins audited, want 8 (%v)", n, err)
		}
	})
}

// What an attacker tries at each step: all refused, none signs anyone in.
func TestSocialSignInRefusals(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		s := startSocialServer(t, dbURL, socialApp, nil)
		anon := s.Client()
		person := &mockoidc.MockUser{Subject: "acme-9", Email: "target@example.com", EmailVerified: true}
		errorOf := func(what string, back *url.URL, want string) {
			t.Helper()
			if got := back.Query().Get("error"); got != want || back.Query().Get("code") != "" {
				t.Errorf("%s: came back to %s, want error %s", what, back, want)
			}
		}

		// Open redirects: only pages of the app.
		for _, to := range []string{"https://evil.example/cb", "http://app.test.evil.example/", "http://app.test@evil.example/",
			"//evil.example/", "/relative", "javascript:alert(1)", "http://app.test\\@evil.example/"} {
			if _, errs := startSocial(t, anon, "acme", to); codeList(errs) != "INVALID" {
				t.Errorf("redirectTo %q: %v, want INVALID", to, errs)
			}
		}
		if _, errs := startSocial(t, anon, "nowhere", socialApp); codeList(errs) != "PROVIDER_UNAVAILABLE" {
			t.Errorf("unknown provider: %v", errs)
		}

		// A state nobody issued.
		errorOf("unknown state", newBrowser(t, s).open(s.URL+"/auth/callback/acme?state=forged&code=x"), "INVALID_STATE")

		// The provider's answer replayed, taken to another provider's
		// callback, or finished in another browser than the one that
		// started the flow (login CSRF).
		var answer *url.URL
		capture := newBrowser(t, s)
		stop := capture.client.CheckRedirect
		capture.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.Path, "/auth/callback/") {
				answer = req.URL
				return http.ErrUseLastResponse
			}
			return stop(req, via)
		}
		authURL, _ := startSocial(t, anon, "acme", socialApp+"/signed-in")
		s.oidc.QueueUser(person)
		if resp, err := capture.client.Get(authURL); err == nil {
			resp.Body.Close()
		}
		if answer == nil {
			t.Fatal("the provider did not answer")
		}
		other := *answer
		other.Path = "/auth/callback/github"
		errorOf("another provider's callback", capture.open(other.String()), "INVALID_STATE")
		errorOf("another browser", newBrowser(t, s).open(answer.String()), "INVALID_STATE")
		kept := capture.client.Jar.Cookies(answer) // the flow's cookie, which the callback removes
		code := socialCode(t, capture.open(answer.String()))
		capture.client.Jar.SetCookies(answer, kept)
		errorOf("replayed answer, with the flow's cookie", capture.open(answer.String()), "INVALID_STATE")
		if r := completeSocial(t, anon, code); r.AccessToken == nil {
			t.Fatalf("the flow's own browser: %+v", r)
		}

		// /auth/start opened twice: the second browser gets nothing.
		authURL, _ = startSocial(t, anon, "acme", socialApp+"/signed-in")
		first := newBrowser(t, s)
		first.client.CheckRedirect = func(req *http.Request, via []*http.Request) error { return http.ErrUseLastResponse }
		if resp, err := first.client.Get(authURL); err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first open of /auth/start: %v %v", resp, err)
		}
		errorOf("a second browser at /auth/start", newBrowser(t, s).open(authURL), "INVALID_STATE")

		// An ID token for another nonce (an answer from another flow).
		b := newBrowser(t, s)
		b.onProvider = func(u *url.URL) {
			q := u.Query()
			q.Set("nonce", "another-flows-nonce")
			u.RawQuery = q.Encode()
		}
		errorOf("wrong nonce", s.signInAt(t, b, person), "PROVIDER_REFUSED")

		// A flow that ran past its 10 minutes at the provider.
		b = newBrowser(t, s)
		b.onProvider = func(*url.URL) {
			if _, err := s.DB().ExecContext(t.Context(), "UPDATE social_flows SET expires_at = ?", time.Now().Add(-time.Second).UTC()); err != nil {
				t.Error(err)
			}
		}
		errorOf("expired flow", s.signInAt(t, b, person), "INVALID_STATE")

		// The provider refuses (the person cancelled).
		b = newBrowser(t, s)
		b.onProvider = func(u *url.URL) {
			q := u.Query()
			q.Set("client_id", "not-ours")
			u.RawQuery = q.Encode()
		}
		authURL, _ = startSocial(t, anon, "acme", socialApp+"/signed-in")
		resp, err := b.client.Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 4 { // the provider's own error page, not ours
			t.Errorf("a wrong client id at the provider: %d", resp.StatusCode)
		}

		// An expired code, and codes that were never issued.
		code = socialCode(t, s.signInAt(t, newBrowser(t, s), person))
		if _, err := s.DB().ExecContext(t.Context(), "UPDATE social_flows SET expires_at = ?", time.Now().Add(-time.Second).UTC()); err != nil {
			t.Fatal(err)
		}
		for what, c := range map[string]string{"expired": code, "forged": "forged", "empty": ""} {
			if r := completeSocial(t, anon, c); codeList(r.Errors) != "INVALID_TOKEN" {
				t.Errorf("%s code: %+v", what, r)
			}
		}
		var signedIn int
		if err := s.DB().NewRaw("SELECT count(*) FROM sessions").Scan(t.Context(), &signedIn); err != nil || signedIn != 1 {
			t.Errorf("%d sessions, want 1 (the flow's own browser)", signedIn)
		}
	})
}

// codeList is errs' codes, comma-separated.
func codeList(errs []userError) string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Code
	}
	return strings.Join(out, ",")
}

// The app's page for the browser test: with no query it starts a sign-in
// with acme and sends the browser away; back with ?code= it completes the
// sign-in and shows who signed in in its title; with ?error=, the error.
const socialAppPage = `<!doctype html><title>app</title><script type="module">
const api = %q;
async function gql(query, input) {
  const r = await fetch(api, {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({query, variables: {input}})});
  return (await r.json()).data;
}
const q = new URLSearchParams(location.search);
if (q.get("code")) {
  const d = await gql("mutation($input: CompleteSocialSignInInput!) { completeSocialSignIn(input: $input) { accessToken user { email } errors { code } } }", {code: q.get("code")});
  const p = d.completeSocialSignIn;
  document.title = p.accessToken ? "signed-in:" + p.user.email : "error:" + p.errors.map(e => e.code).join();
} else if (q.get("error")) {
  document.title = "error:" + q.get("error");
} else {
  const d = await gql("mutation($input: StartSocialSignInInput!) { startSocialSignIn(input: $input) { authorizationUrl errors { code } } }",
    {provider: "acme", redirectTo: location.origin + "/back"});
  if (d.startSocialSignIn.authorizationUrl) location.assign(d.startSocialSignIn.authorizationUrl);
  else document.title = "error:" + d.startSocialSignIn.errors.map(e => e.code).join();
}
</script>`

// A real browser follows the whole chain: the app's page, usergraph's
// /auth/start, the provider, usergraph's callback, and the app's page again,
// which completes the sign-in.
func TestSocialSignInInARealBrowser(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		var api string
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, socialAppPage, api)
		}))
		defer app.Close()
		s := startSocialServer(t, dbURL, app.URL, map[string]string{"CORS_ALLOWED_ORIGINS": app.URL})
		api = s.URL + "/graphql"
		s.oidc.QueueUser(&mockoidc.MockUser{Subject: "browser-1", Email: "browser@example.com", EmailVerified: true})

		ctx := headlessChromium(t, 60*time.Second)
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL)); err != nil {
			t.Fatal(err)
		}
		// The page navigates three times on its own: read its title until
		// it says how the chain ended.
		var title, at string
		for ctx.Err() == nil && !strings.HasPrefix(title, "signed-in:") && !strings.HasPrefix(title, "error:") {
			time.Sleep(100 * time.Millisecond)
			title, _ = chromedp.Run(ctx, chromedp.Title())
			at, _ = chromedp.Run(ctx, chromedp.Location())
		}
		if title != "signed-in:browser@example.com" || !strings.HasPrefix(at, app.URL+"/back?code=") {
			t.Errorf("ended at %s with title %q, want signed in as browser@example.com", at, title)
		}
	})
}

// A provider that cannot be reached at start is reported and retried; the
// others work meanwhile, and it works once it answers.
func TestSocialProviderDiscoveryIsRetried(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		late, err := mockoidc.NewServer(nil)
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + freePort(t) // nothing answers there yet
		s := startSocialServer(t, dbURL, socialApp, map[string]string{
			"SIGNIN_PROVIDERS":                   "late,acme",
			"SIGNIN_PROVIDER_LATE_ISSUER":        "http://" + addr + "/oidc",
			"SIGNIN_PROVIDER_LATE_CLIENT_ID":     late.ClientID,
			"SIGNIN_PROVIDER_LATE_CLIENT_SECRET": late.ClientSecret,
		})
		anon := s.Client()
		if _, errs := startSocial(t, anon, "late", socialApp); codeList(errs) != "PROVIDER_UNAVAILABLE" {
			t.Errorf("before its discovery: %v, want PROVIDER_UNAVAILABLE", errs)
		}
		if !strings.Contains(s.Stderr.String(), "sign-in provider unavailable") || !strings.Contains(s.Stderr.String(), `"provider":"late"`) {
			t.Errorf("the failed discovery was not reported:\n%s", s.Stderr)
		}
		if url, errs := startSocial(t, anon, "acme", socialApp); url == "" {
			t.Errorf("the other provider: %v", errs)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := late.Start(ln, nil); err != nil {
			t.Fatal(err)
		}
		defer late.Shutdown()
		deadline := time.Now().Add(20 * time.Second) // the first retry is 5 s after the start
		for {
			url, _ := startSocial(t, anon, "late", socialApp+"/signed-in")
			if url != "" {
				late.QueueUser(&mockoidc.MockUser{Subject: "late-1", Email: "late@example.com", EmailVerified: true})
				if r := completeSocial(t, anon, socialCode(t, newBrowser(t, s).open(url))); r.AccessToken == nil {
					t.Errorf("sign-in with the provider once it answered: %+v", r)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the provider was not retried")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
