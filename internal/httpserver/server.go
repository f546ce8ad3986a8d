// Package httpserver assembles usergraph's HTTP handler: every route, the
// GraphQL endpoint with its limits, and the middleware around them.
package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/rs/cors"
	"github.com/uptrace/bun"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/usergraph/usergraph/graph"
	"github.com/usergraph/usergraph/graph/limits"
	"github.com/usergraph/usergraph/graph/transport"
	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/media"
	"github.com/usergraph/usergraph/internal/wallet"
)

// Deps are everything the HTTP layer needs.
type Deps struct {
	Config    config.Config
	Log       *slog.Logger
	DB        *bun.DB
	Accounts  *account.Service
	Batches   *batch.Service
	Wallets   *wallet.Service
	Audit     *audit.Log
	Media     media.Store
	Tokens    *auth.Issuer
	Keys      *auth.Keys
	SchemaSDL []byte // served at /schema.graphql
}

// NewServer returns the handler for every route of usergraph.
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	res := &graph.Resolver{
		Accounts: d.Accounts, BatchService: d.Batches, Wallets: d.Wallets, Audit: d.Audit,
		MediaURL: strings.TrimRight(d.Config.PublicURL, "/") + "/media/",
	}
	multipart := transport.Multipart{MaxBytes: d.Config.MaxRequestBytes, MaxUpload: uploadAllowance(d.Config), InMemory: 1 << 20}
	gql := codedErrors(graph.WithRequestState(res, graphQLHandler(d, res, multipart)))
	mux.Handle("GET /graphql", gql)
	mux.Handle("POST /graphql", gql)
	mux.HandleFunc("GET /schema.graphql", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(d.SchemaSDL)
	})
	mux.HandleFunc("GET /.well-known/jwks.json", jwksHandler(d.Keys))
	mux.Handle("GET /media/{name...}", media.Handler(d.Media))
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
	if d.Config.PlaygroundEnabled {
		mux.Handle("GET /{$}", playgroundHandler(d.Config.PlaygroundAssetsURL))
	}

	// Middleware, innermost first.
	var h http.Handler = mux
	h = authenticate(d.Log, d.Tokens, d.Accounts, h)
	h = withTimeout(d.Config.RequestTimeout, h)
	h = limitBody(d.Config.MaxRequestBytes, multipart.BodyLimit(), h)
	h = cors.New(cors.Options{
		AllowedOrigins: d.Config.CORSAllowedOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type", transport.PreflightHeader},
		MaxAge:         600,
	}).Handler(h)
	h = securityHeaders(h)
	h = logRequests(d.Log, h)
	h = withClient(d.Config.TrustProxyHeaders, h)
	return h
}

// uploadAllowance is what file parts of a multipart request may add to
// MAX_REQUEST_BYTES: room for an oversized avatar, so the user gets a
// FILE_TOO_LARGE payload error rather than a refused request, up to twice
// the limit.
func uploadAllowance(c config.Config) int64 { return 2 * c.AvatarMaxBytes }

// graphQLHandler is gqlgen's server with our transports, limits and errors.
func graphQLHandler(d Deps, res *graph.Resolver, multipart transport.Multipart) http.Handler {
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: res, Directives: graph.Directives()}))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{MaxBytes: d.Config.MaxRequestBytes})
	srv.AddTransport(multipart)
	cache := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(cache)
	srv.SetParserTokenLimit(d.Config.QueryMaxTokens)
	if d.Config.IntrospectionEnabled {
		srv.Use(extension.Introspection{})
	}
	srv.Use(limits.Limits{
		Tokens: d.Config.QueryMaxTokens, Fields: d.Config.QueryMaxFields, Depth: d.Config.QueryMaxDepth,
		Aliases: d.Config.QueryMaxAliases, Complexity: d.Config.QueryMaxComplex, Mutations: d.Config.QueryMaxMutations,
	}.Extension(cache))
	srv.SetErrorPresenter(graph.ErrorPresenter(d.Log))
	srv.SetRecoverFunc(graph.Recover(d.Log))
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		// An invalid or expired bearer token fails every operation, even
		// those anyone may call, so a client learns at once to sign in again.
		if authErr := authErrorFrom(ctx); authErr != nil {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{authErr}})
		}
		return next(ctx)
	})
	return srv
}

func jwksHandler(keys *auth.Keys) http.HandlerFunc {
	body, err := keys.JWKS()
	return func(w http.ResponseWriter, _ *http.Request) {
		if err != nil {
			http.Error(w, "signing keys unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(body)
	}
}

// playgroundHandler serves GraphiQL. With assetsURL set, its scripts and
// styles come from there (self-hosted copies of the graphiql, react and
// react-dom npm files) instead of the public CDN.
func playgroundHandler(assetsURL string) http.Handler {
	var opts []playground.GraphiqlConfigOption
	if base := strings.TrimRight(assetsURL, "/"); base != "" {
		opts = append(opts,
			playground.WithGraphiqlVersion(base+"/graphiql.min.js", base+"/graphiql.min.css", "", ""),
			playground.WithGraphiqlReactVersion(base+"/react.production.min.js", base+"/react-dom.production.min.js", "", ""),
		)
	}
	return playground.Handler("usergraph", "/graphql", opts...)
}
