// Package httpserver assembles usergraph's HTTP handler: every route, with
// the GraphQL endpoint mounted from the graph package, and the generic
// middleware around them (client address, request log, security headers,
// CORS, deadline, bearer authentication).
package httpserver

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/cors"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/media"
	"github.com/usergraph/usergraph/internal/metrics"
)

// Deps are everything the HTTP layer needs. The GraphQL endpoint and the
// playground are built by the graph package and mounted here.
type Deps struct {
	Config   config.Config
	Log      *slog.Logger
	DB       *bun.DB
	Accounts *account.Service
	Media    media.Store
	Tokens   *auth.Issuer
	Keys     *auth.Keys
	// GraphQL serves /graphql; Playground, when not nil, serves /.
	GraphQL, Playground http.Handler
	// PlaygroundAssets, when not nil, serves /playground/ (PLAYGROUND_ASSETS_DIR).
	PlaygroundAssets http.Handler
	// RequestHeaders are the headers browsers may send (CORS).
	RequestHeaders []string
	// TrustedProxies are config.TrustedProxies, parsed.
	TrustedProxies []*net.IPNet
	SchemaSDL      []byte // served at /schema.graphql
	// Metrics counts every response (they are served apart, on METRICS_ADDR).
	Metrics *metrics.Metrics
}

// NewServer returns the handler for every route of usergraph.
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /graphql", d.GraphQL)
	mux.Handle("POST /graphql", d.GraphQL)
	mux.HandleFunc("GET /schema.graphql", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(d.SchemaSDL)
	})
	mux.HandleFunc("GET /.well-known/jwks.json", jwksHandler(d.Keys, d.Config.KeysReloadInterval))
	mux.HandleFunc("GET /.well-known/openid-configuration", discoveryHandler(d.Config))
	mux.Handle("GET /media/{name...}", media.Handler(d.Media))
	secure := strings.HasPrefix(d.Config.CallbackBase(), "https:")
	mux.HandleFunc("GET /auth/start/{flow}", socialStart(d.Accounts, d.Config.AppURL, secure))
	mux.HandleFunc("GET /auth/callback/{provider}", socialCallback(d.Accounts, secure))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := d.DB.PingContext(ctx); err != nil {
			d.Log.WarnContext(ctx, "readiness check failed", "error", err.Error())
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if d.PlaygroundAssets != nil {
		mux.Handle("GET /playground/", d.PlaygroundAssets)
	}
	if d.Playground != nil {
		mux.Handle("GET /{$}", d.Playground)
	}

	// Middleware, innermost first.
	var h http.Handler = mux
	h = authenticate(d.Log, d.Tokens, d.Accounts, h)
	h = withTimeout(d.Config.RequestTimeout, h)
	if len(d.Config.CORSAllowedOrigins) > 0 { // none configured: same-origin only
		h = cors.New(cors.Options{
			AllowedOrigins: d.Config.CORSAllowedOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: append(slices.Clone(d.RequestHeaders), RequestIDHeader),
			ExposedHeaders: []string{RequestIDHeader},
			MaxAge:         600,
		}).Handler(h)
	}
	h = securityHeaders(d.Config.HSTSMaxAge, h)
	h = logRequests(d.Log, d.Metrics, h)
	h = withClient(d.TrustedProxies, d.Config.PublicURL, h)
	h = withRequestID(h)
	return h
}

// discoveryHandler publishes where the signing keys are and how tokens are
// signed (OpenID Connect Discovery's fields that apply to access tokens),
// so standard JWT libraries verify usergraph's tokens from this URL alone.
// URLs are absolute: PUBLIC_URL, else this server's own origin (withClient).
// Only an answer built on PUBLIC_URL may be kept by shared caches.
func discoveryHandler(cfg config.Config) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		client := auth.ClientFrom(r.Context())
		base := client.Origin
		if client.OriginConfigured {
			w.Header().Set("Cache-Control", "public, max-age=300")
		} else {
			w.Header().Set("Cache-Control", "no-store")
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                cfg.Issuer(),
			"jwks_uri":                              base + "/.well-known/jwks.json",
			"id_token_signing_alg_values_supported": []string{"EdDSA"},
			"token_endpoint_auth_methods_supported": []string{"none"},
			"subject_types_supported":               []string{"public"},
			"response_types_supported":              []string{"token"},
			"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "jti", "role", "sid"},
		})
	}
}

// jwksHandler serves the public keys. Verifiers may keep them for reload
// (KEYS_RELOAD_INTERVAL), as long as a replica keeps a pruned key: a new
// key is seen and a pruned one dropped as soon everywhere.
func jwksHandler(keys *auth.Keys, reload time.Duration) http.HandlerFunc {
	cache := "public, max-age=" + strconv.Itoa(max(1, int(reload.Seconds())))
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", cache)
		w.Write(keys.JWKS())
	}
}
