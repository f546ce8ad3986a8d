package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/usergraph/usergraph/internal/passkeytest"
	"github.com/usergraph/usergraph/internal/testdb"
)

const (
	startRegistrationMutation  = `mutation($in: StartPasskeyRegistrationInput!) { startPasskeyRegistration(input: $in) { options errors { field code message } } }`
	finishRegistrationMutation = `mutation($in: FinishPasskeyRegistrationInput!) { finishPasskeyRegistration(input: $in) { passkey { id name createdAt lastUsedAt } errors { field code message } } }`
	startSignInMutation        = `mutation($in: StartPasskeySignInInput!) { startPasskeySignIn(input: $in) { options challengeId errors { field code message } } }`
	finishSignInMutation       = `mutation($in: FinishPasskeySignInInput!) { finishPasskeySignIn(input: $in) { accessToken refreshToken user { id email } mfaRequired errors { field code message } } }`
)

type passkeyInfo struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CreatedAt  string  `json:"createdAt"`
	LastUsedAt *string `json:"lastUsedAt"`
}

// registerPasskey adds dev's passkey to c's account through the API.
func registerPasskey(t *testing.T, c *client, dev *passkeytest.Device, name string) passkeyInfo {
	t.Helper()
	var start struct {
		StartPasskeyRegistration struct {
			Options json.RawMessage
			Errors  []userError
		}
	}
	c.MustData(startRegistrationMutation, map[string]any{"in": map[string]any{}}, &start)
	if len(start.StartPasskeyRegistration.Errors) > 0 {
		t.Fatalf("startPasskeyRegistration: %v", start.StartPasskeyRegistration.Errors)
	}
	answer, err := dev.Create(start.StartPasskeyRegistration.Options)
	if err != nil {
		t.Fatal(err)
	}
	var finish struct {
		FinishPasskeyRegistration struct {
			Passkey *passkeyInfo
			Errors  []userError
		}
	}
	c.MustData(finishRegistrationMutation, map[string]any{"in": map[string]any{"credential": answer, "name": name}}, &finish)
	if p := finish.FinishPasskeyRegistration; len(p.Errors) > 0 || p.Passkey == nil {
		t.Fatalf("finishPasskeyRegistration: %v", p.Errors)
	}
	return *finish.FinishPasskeyRegistration.Passkey
}

type passkeyStart struct {
	Options     json.RawMessage
	ChallengeID *string
	Errors      []userError
}

// startPasskeySignIn starts a sign-in for email ("" for discoverable).
func startPasskeySignIn(t *testing.T, c *client, email string) passkeyStart {
	t.Helper()
	in := map[string]any{}
	if email != "" {
		in["email"] = email
	}
	var d struct{ StartPasskeySignIn passkeyStart }
	c.MustData(startSignInMutation, map[string]any{"in": in}, &d)
	if len(d.StartPasskeySignIn.Errors) > 0 || d.StartPasskeySignIn.ChallengeID == nil {
		t.Fatalf("startPasskeySignIn: %v", d.StartPasskeySignIn.Errors)
	}
	return d.StartPasskeySignIn
}

// signInWithPasskey runs a whole passkey sign-in with dev.
func signInWithPasskey(t *testing.T, c *client, email string, dev *passkeytest.Device) authPayload {
	t.Helper()
	start := startPasskeySignIn(t, c, email)
	answer, err := dev.Get(start.Options)
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ FinishPasskeySignIn authPayload }
	c.MustData(finishSignInMutation, map[string]any{"in": map[string]any{"challengeId": *start.ChallengeID, "credential": answer}}, &d)
	return d.FinishPasskeySignIn
}

// Passkeys through the GraphQL endpoint, as an app's page uses them (the
// device plays the browser of https://app.test): register, sign in with an
// email and without, list, rename, remove; private to their owner;
// exported without anything secret; gone with the account.
func TestPasskeysThroughTheAPI(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["WEBAUTHN_RP_ID"], env["WEBAUTHN_RP_ORIGINS"] = "app.test", "https://app.test"
		srv := startServer(t, env)
		anon := srv.Client()
		owner := anon.As(*mustSignIn(t, anon.register(registerInput("pk@example.com", "+4915120000001"))).AccessToken)
		dev := passkeytest.New("app.test", "https://app.test")
		added := registerPasskey(t, owner, dev, "Laptop")
		if added.Name != "Laptop" || added.LastUsedAt != nil {
			t.Errorf("added passkey %+v", added)
		}

		for _, email := range []string{"pk@example.com", ""} {
			in := mustSignIn(t, signInWithPasskey(t, anon, email, dev))
			if in.User.Email != "pk@example.com" || anon.As(*in.AccessToken).meCode() != "" {
				t.Errorf("passkey sign-in (email %q): %+v", email, in.User)
			}
		}
		// The options for an email without an account look like any other's.
		shape := func(raw json.RawMessage) []string {
			var m map[string]any
			json.Unmarshal(raw, &m)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return keys
		}
		known, unknown := startPasskeySignIn(t, anon, "pk@example.com"), startPasskeySignIn(t, anon, "nobody@example.com")
		if a, b := shape(known.Options), shape(unknown.Options); !slices.Equal(a, b) || slices.Contains(a, "allowCredentials") {
			t.Errorf("options for a known email %v, for an unknown one %v (no allowCredentials in either)", a, b)
		}

		var me struct {
			Me struct{ Passkeys []passkeyInfo }
		}
		owner.MustData(`{ me { passkeys { id name createdAt lastUsedAt } } }`, nil, &me)
		if len(me.Me.Passkeys) != 1 || me.Me.Passkeys[0].ID != added.ID || me.Me.Passkeys[0].LastUsedAt == nil {
			t.Fatalf("me.passkeys: %+v", me.Me.Passkeys)
		}
		// Another user cannot read them.
		stranger := anon.As(*mustSignIn(t, anon.register(registerInput("other@example.com", "+4915120000002"))).AccessToken)
		if r := stranger.Do(`query($id: ID!) { user(id: $id) { passkeys { id } } }`, map[string]any{"id": mustMeID(t, owner)}); len(r.Errors) == 0 && !strings.Contains(string(r.Data), "null") {
			t.Errorf("a stranger read passkeys: %s", r.Data)
		}

		var renamed struct {
			RenamePasskey struct {
				Passkey *passkeyInfo
				Errors  []userError
			}
		}
		owner.MustData(`mutation($in: RenamePasskeyInput!) { renamePasskey(input: $in) { passkey { id name } errors { field code message } } }`,
			map[string]any{"in": map[string]any{"id": added.ID, "name": "Work laptop"}}, &renamed)
		if renamed.RenamePasskey.Passkey == nil || renamed.RenamePasskey.Passkey.Name != "Work laptop" {
			t.Errorf("rename: %+v", renamed.RenamePasskey)
		}
		stranger.MustData(`mutation($in: RenamePasskeyInput!) { renamePasskey(input: $in) { passkey { id name } errors { field code message } } }`,
			map[string]any{"in": map[string]any{"id": added.ID, "name": "Mine"}}, &renamed)
		if !slices.Equal(codes(renamed.RenamePasskey.Errors), []string{"NOT_FOUND@input.id"}) {
			t.Errorf("a stranger's rename: %v", codes(renamed.RenamePasskey.Errors))
		}

		// The export has the public key and nothing that signs.
		var export struct{ MyData map[string]json.RawMessage }
		owner.MustData(`{ myData }`, nil, &export)
		var exported []map[string]any
		json.Unmarshal(export.MyData["passkeys"], &exported)
		if len(exported) != 1 || exported[0]["publicKey"] == "" || exported[0]["name"] != "Work laptop" {
			t.Errorf("exported passkeys: %s", export.MyData["passkeys"])
		}

		var removed struct {
			RemovePasskey struct {
				Ok     bool
				Errors []userError
			}
		}
		owner.MustData(`mutation($in: RemovePasskeyInput!) { removePasskey(input: $in) { ok errors { field code message } } }`,
			map[string]any{"in": map[string]any{"id": added.ID}}, &removed)
		if !removed.RemovePasskey.Ok {
			t.Fatalf("remove: %v", removed.RemovePasskey.Errors)
		}
		if r := signInWithPasskey(t, anon, "", dev); !slices.Equal(codes(r.Errors), []string{"INVALID_CREDENTIALS@"}) {
			t.Errorf("a removed passkey signed in: %v", codes(r.Errors))
		}
	})
}

func mustMeID(t *testing.T, c *client) string {
	t.Helper()
	var d struct{ Me struct{ ID string } }
	c.MustData(`{ me { id } }`, nil, &d)
	return d.Me.ID
}

// A passkey in a real browser: headless Chromium with a virtual
// authenticator (the DevTools protocol's WebAuthn domain) on a page of
// the server's own origin registers a passkey, signs out, and signs in
// with it with an email and discoverably, calling navigator.credentials
// around the GraphQL mutations as an app's page does (README's snippet).
func TestPasskeysInARealBrowser(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		// The origin must be known before the server starts: take a free port.
		port := freePort(t)
		env := testEnv(t, dbURL)
		env["PORT"], env["HOST"] = port, "127.0.0.1"
		env["WEBAUTHN_RP_ID"], env["WEBAUTHN_RP_ORIGINS"] = "localhost", "http://localhost:"+port
		srv := startServer(t, env)
		p := mustSignIn(t, srv.Client().register(registerInput("browser-pk@example.com", "+4915120000003")))

		ctx := headlessChromium(t, 90*time.Second)
		err := chromedp.Do(ctx,
			chromedp.Navigate("http://localhost:"+port+"/healthz"), // any page of the origin
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
					return err
				}
				_, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
					Options: &webauthn.VirtualAuthenticatorOptions{
						Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
						Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
						IsUserVerified: true, AutomaticPresenceSimulation: true,
					}})
				return err
			}))
		if err != nil {
			t.Fatalf("open the page with a virtual authenticator: %v", err)
		}
		run := func(what, js string) map[string]any {
			t.Helper()
			out, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](passkeyPageJS+js, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if out["error"] != nil {
				t.Fatalf("%s: %v", what, out["error"])
			}
			return out
		}
		added := run("register a passkey", `registerPasskey(`+strconv.Quote(*p.AccessToken)+`, "This browser")`)
		if added["name"] != "This browser" {
			t.Errorf("registered %v", added)
		}
		out := run("sign out", `gql("mutation($t: String!) { logout(input: {refreshToken: $t}) { ok } }", {t: `+
			strconv.Quote(*p.RefreshToken)+`}, `+strconv.Quote(*p.AccessToken)+`)`)
		if out["logout"].(map[string]any)["ok"] != true {
			t.Fatalf("sign out: %v", out)
		}
		for _, email := range []string{`"browser-pk@example.com"`, `undefined`} {
			in := run("sign in with "+email, `signInWithPasskey(`+email+`)`)
			if in["email"] != "browser-pk@example.com" {
				t.Errorf("signed in with %s as %v", email, in)
			}
		}
	})
}

// passkeyPageJS is what an app's page does around the GraphQL mutations:
// README's snippet, with the browser's own JSON helpers.
const passkeyPageJS = `
async function gql(query, variables, token) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch("/graphql", {method: "POST", headers, body: JSON.stringify({query, variables})});
  const body = await r.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
async function registerPasskey(token, name) {
  try {
    const start = (await gql("mutation { startPasskeyRegistration(input: {}) { options errors { code message } } }", {}, token)).startPasskeyRegistration;
    if (start.errors.length) return {error: start.errors};
    const credential = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(start.options)});
    const done = (await gql("mutation($in: FinishPasskeyRegistrationInput!) { finishPasskeyRegistration(input: $in) { passkey { id name } errors { code message } } }",
      {in: {credential: credential.toJSON(), name}}, token)).finishPasskeyRegistration;
    return done.errors.length ? {error: done.errors} : done.passkey;
  } catch (e) { return {error: String(e)}; }
}
async function signInWithPasskey(email) {
  try {
    const start = (await gql("mutation($in: StartPasskeySignInInput!) { startPasskeySignIn(input: $in) { options challengeId errors { code message } } }", {in: {email}})).startPasskeySignIn;
    if (start.errors.length) return {error: start.errors};
    const credential = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(start.options)});
    const done = (await gql("mutation($in: FinishPasskeySignInInput!) { finishPasskeySignIn(input: $in) { accessToken errors { code message } } }",
      {in: {challengeId: start.challengeId, credential: credential.toJSON()}})).finishPasskeySignIn;
    if (done.errors.length) return {error: done.errors};
    return (await gql("{ me { email } }", {}, done.accessToken)).me;
  } catch (e) { return {error: String(e)}; }
}
`
