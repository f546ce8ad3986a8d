package social

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/usergraph/usergraph/internal/config"
)

// GitHub's OAuth 2.0: the authorization URL asks for PKCE (and no nonce:
// GitHub is not OpenID Connect), the code is exchanged with the verifier,
// and the person is read from GitHub's user and emails endpoints (served
// here by a stand-in speaking their documented shapes).
func TestGitHub(t *testing.T) {
	const verifier = "a-verifier-of-at-least-43-characters-for-pkce-s256"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("code") != "the-code" || r.Form.Get("code_verifier") != verifier {
			http.Error(w, `{"error":"bad_verification_code"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"gho_token","token_type":"bearer","scope":"read:user,user:email"}`)
	})
	authed := func(body any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_token" {
				http.Error(w, "Requires authentication", http.StatusUnauthorized)
				return
			}
			json.NewEncoder(w).Encode(body)
		}
	}
	mux.HandleFunc("GET /user", authed(map[string]any{"id": 583231, "login": "octocat", "name": "Mona Octocat"}))
	mux.HandleFunc("GET /user/emails", authed([]map[string]any{
		{"email": "old@example.com", "primary": false, "verified": true},
		{"email": "octocat@example.com", "primary": true, "verified": true},
	}))
	gh := httptest.NewServer(mux)
	defer gh.Close()

	r := NewRegistry([]config.Provider{{ID: "github", Name: "GitHub", Type: config.ProviderGitHub,
		ClientID: "Iv1.x", ClientSecret: "s", Scopes: []string{"read:user", "user:email"}}},
		"https://id.example.com", slog.New(slog.DiscardHandler),
		Options{GitHubAPI: gh.URL, GitHubAuthURL: gh.URL + "/login/oauth/authorize", GitHubToken: gh.URL + "/login/oauth/access_token"})
	if !r.Discover(context.Background()) {
		t.Fatal("GitHub needs no discovery")
	}
	p, err := r.Get("github")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.AuthCodeURL("the-state", "unused", verifier))
	q := u.Query()
	if q.Get("state") != "the-state" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(verifier) ||
		q.Get("code_challenge_method") != "S256" || q.Has("nonce") || q.Get("redirect_uri") != "https://id.example.com/auth/callback/github" {
		t.Errorf("authorization URL %s", u)
	}
	c, err := p.Exchange(context.Background(), "the-code", verifier, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *c != (Claims{Subject: "583231", Email: "octocat@example.com", EmailVerified: true, GivenName: "Mona", FamilyName: "Octocat"}) {
		t.Errorf("claims %+v", c)
	}
	if _, err := p.Exchange(context.Background(), "the-code", "another-verifier-another-verifier-another-verifier", nil); err == nil {
		t.Error("a code exchanged with another verifier")
	}
	if _, err := r.Get("acme"); err != ErrUnavailable {
		t.Errorf("an unknown provider: %v", err)
	}
}
