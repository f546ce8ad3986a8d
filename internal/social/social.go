// Package social signs people in with another identity provider: an OpenID
// Connect provider (discovery, the authorization code flow with PKCE, the
// ID token verified by go-oidc) or GitHub's OAuth 2.0 (its user and
// verified-email endpoints). It speaks the protocols and says who the
// provider vouches for; what that means for accounts is package account's.
package social

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/github"

	"github.com/usergraph/usergraph/internal/config"
)

// Claims are what a provider vouches for about the person who signed in.
type Claims struct {
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
}

// Errors a caller tells apart.
var (
	// ErrUnavailable: the provider is unknown, or its discovery has not
	// succeeded yet.
	ErrUnavailable = errors.New("social: provider unavailable")
	// ErrRefused: the provider's answer does not check out (the code, the
	// token's signature, issuer, audience, expiry or nonce).
	ErrRefused = errors.New("social: the provider's answer was refused")
)

// Provider is one configured provider, ready or not.
type Provider struct {
	config.Provider
	redirectURL string
	client      *http.Client
	apiBase     string // GitHub's API (tests point it elsewhere)

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	lastErr  error
}

// Registry holds the configured providers.
type Registry struct {
	list []*Provider
	byID map[string]*Provider
	log  *slog.Logger
}

// Options tune a Registry: the HTTP client used to reach providers (10 s
// timeout by default), and GitHub's endpoints (tests).
type Options struct {
	Client        *http.Client
	GitHubAPI     string
	GitHubAuthURL string
	GitHubToken   string
}

// NewRegistry prepares providers; callbackBase + "/auth/callback/{id}" is
// where each returns people. Discovery happens in Run.
func NewRegistry(providers []config.Provider, callbackBase string, log *slog.Logger, o Options) *Registry {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	r := &Registry{byID: map[string]*Provider{}, log: log}
	for _, cp := range providers {
		p := &Provider{Provider: cp, client: o.Client, redirectURL: callbackBase + "/auth/callback/" + cp.ID, apiBase: "https://api.github.com"}
		if cp.Type == config.ProviderGitHub {
			ep := github.Endpoint
			if o.GitHubAuthURL != "" {
				ep = oauth2.Endpoint{AuthURL: o.GitHubAuthURL, TokenURL: o.GitHubToken}
			}
			if o.GitHubAPI != "" {
				p.apiBase = o.GitHubAPI
			}
			p.oauth = &oauth2.Config{ClientID: cp.ClientID, ClientSecret: cp.ClientSecret, Endpoint: ep, RedirectURL: p.redirectURL, Scopes: cp.Scopes}
		}
		r.list = append(r.list, p)
		r.byID[cp.ID] = p
	}
	return r
}

// List is every configured provider, ready or not, in configured order.
func (r *Registry) List() []*Provider {
	if r == nil {
		return nil
	}
	return r.list
}

// Get returns the provider id when it is ready.
func (r *Registry) Get(id string) (*Provider, error) {
	if r == nil {
		return nil, ErrUnavailable
	}
	p := r.byID[id]
	if p == nil || !p.ready() {
		return nil, ErrUnavailable
	}
	return p, nil
}

// Discover runs discovery once for every provider not ready yet and
// reports whether all are ready.
func (r *Registry) Discover(ctx context.Context) bool {
	all := true
	for _, p := range r.List() {
		if p.ready() {
			continue
		}
		if err := p.discover(ctx); err != nil {
			all = false
			r.log.ErrorContext(ctx, "sign-in provider unavailable: its discovery failed; retrying",
				"provider", p.ID, "issuer", p.Issuer, "error", err)
			continue
		}
		r.log.InfoContext(ctx, "sign-in provider ready", "provider", p.ID)
	}
	return all
}

// Run discovers the providers, retrying those that fail (5 s, doubling up
// to 5 minutes) until all are ready or ctx ends; the others work meanwhile.
func (r *Registry) Run(ctx context.Context) {
	wait := 5 * time.Second
	for !r.Discover(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Minute)
	}
}

func (p *Provider) ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.oauth != nil
}

func (p *Provider) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.client), 15*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.ClientID})
	p.oauth = &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: op.Endpoint(),
		RedirectURL: p.redirectURL, Scopes: p.Scopes}
	return nil
}

// AuthCodeURL is where to send the person: the provider's authorization
// endpoint with state, the PKCE challenge of verifier (S256) and, for
// OpenID Connect, nonce.
func (p *Provider) AuthCodeURL(state, nonce, verifier string) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.Type == config.ProviderOIDC {
		opts = append(opts, oidc.Nonce(nonce))
	}
	return p.oauth.AuthCodeURL(state, opts...)
}

// Exchange trades the code the provider returned for the person's claims:
// for OpenID Connect, the ID token is verified (signature, issuer,
// audience, expiry) and its nonce must satisfy nonceOK; for GitHub, the user and its
// primary verified email are read from the API. Errors wrap ErrRefused
// when the answer does not check out.
func (p *Provider) Exchange(ctx context.Context, code, verifier string, nonceOK func(string) bool) (*Claims, error) {
	ctx = oidc.ClientContext(ctx, p.client)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("%w: code exchange: %v", ErrRefused, err)
	}
	if p.Type == config.ProviderGitHub {
		return p.github(ctx, tok)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, fmt.Errorf("%w: no id_token in the token response", ErrRefused)
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: id_token: %v", ErrRefused, err)
	}
	if !nonceOK(idt.Nonce) {
		return nil, fmt.Errorf("%w: id_token: nonce does not match the flow's", ErrRefused)
	}
	var c Claims
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("%w: id_token claims: %v", ErrRefused, err)
	}
	c.Subject = idt.Subject
	return &c, nil
}

// github reads the person from GitHub's API: the user's id and names, and
// its primary email when GitHub has verified it.
func (p *Provider) github(ctx context.Context, tok *oauth2.Token) (*Claims, error) {
	hc := p.oauth.Client(ctx, tok)
	var user struct {
		ID    int64  `json:"id"`
		Name  string `json:"name"`
		Login string `json:"login"`
	}
	if err := getJSON(ctx, hc, p.apiBase+"/user", &user); err != nil {
		return nil, err
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := getJSON(ctx, hc, p.apiBase+"/user/emails", &emails); err != nil {
		return nil, err
	}
	if user.ID == 0 {
		return nil, fmt.Errorf("%w: GitHub named no user", ErrRefused)
	}
	c := &Claims{Subject: fmt.Sprint(user.ID)}
	c.GivenName, c.FamilyName, _ = strings.Cut(strings.TrimSpace(user.Name), " ")
	for _, e := range emails {
		if e.Primary {
			c.Email, c.EmailVerified = e.Email, e.Verified
		}
	}
	return c, nil
}

func getJSON(ctx context.Context, hc *http.Client, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s", ErrRefused, url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(into)
}
