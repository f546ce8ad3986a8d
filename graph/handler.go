package graph

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/usergraph/usergraph/graph/limits"
	"github.com/usergraph/usergraph/graph/model"
	"github.com/usergraph/usergraph/graph/transport"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
)

// HandlerConfig is what the GraphQL endpoint needs besides the resolvers.
type HandlerConfig struct {
	// MaxRequestBytes bounds JSON bodies and the operations and map parts
	// of a multipart request; MaxUploadBytes is what file parts may add.
	MaxRequestBytes, MaxUploadBytes int64
	Limits                          limits.Limits
	Introspection                   bool
	Log                             *slog.Logger
	// Observer, when set, is told of every answered operation (see Observer).
	Observer Observer
	// Tracer, when set, records a span per operation and per root field.
	Tracer trace.Tracer
}

// Observer counts what the endpoint answers (metrics.Metrics).
type Observer interface {
	// Outcome is called once per root field of an operation ("query:me",
	// "mutation:login"; "invalid" for a request that did not run): the
	// code of its first error, top-level or in its payload's errors (a
	// failed sign-in is INVALID_CREDENTIALS), or "OK".
	Outcome(field, outcome string)
	// Latency is called once per operation, labelled by its first root
	// field, with how long the answer took.
	Latency(operation string, took time.Duration)
}

// RequestHeaders are the headers browsers may send to the endpoint (CORS).
var RequestHeaders = []string{"Authorization", "Content-Type", transport.PreflightHeader}

// NewHandler returns the GraphQL endpoint: gqlgen's executor with our
// transports, request limits, error presenter and per-request loaders.
func NewHandler(res *Resolver, cfg HandlerConfig) http.Handler {
	multipart := transport.Multipart{MaxBytes: cfg.MaxRequestBytes, MaxUpload: cfg.MaxUploadBytes, InMemory: 1 << 20}
	srv := handler.New(NewExecutableSchema(Config{Resolvers: res, Directives: Directives()}))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{MaxBytes: cfg.MaxRequestBytes})
	srv.AddTransport(multipart)
	srv.AddTransport(transport.Unsupported{}) // last: whatever the others do not read
	cache := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(cache)
	srv.SetParserTokenLimit(cfg.Limits.Tokens)
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(cfg.Limits.Extension(cache))
	presenter := ErrorPresenter(cfg.Log)
	srv.SetErrorPresenter(presenter)
	srv.SetRecoverFunc(Recover(cfg.Log))
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		// An invalid or expired bearer token fails every operation, even
		// those anyone may call, so a client learns at once to sign in again.
		if err := auth.FailureFrom(ctx); err != nil {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{presenter(ctx, err)}})
		}
		return next(context.WithValue(ctx, outcomesKey{}, &outcomes{}))
	})
	if cfg.Tracer != nil {
		srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
			ctx, span := cfg.Tracer.Start(ctx, "graphql "+operationLabel(ctx))
			defer span.End()
			resp := next(ctx)
			if resp != nil {
				span.SetAttributes(attribute.String("graphql.outcome", outcomeLabel(resp)))
			}
			return resp
		})
		srv.AroundRootFields(func(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
			ctx, span := cfg.Tracer.Start(ctx, "resolve "+graphql.GetRootFieldContext(ctx).Field.Name)
			defer span.End()
			return next(ctx)
		})
	}
	if cfg.Observer != nil {
		srv.AroundFields(recordRootOutcome)
		srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
			start := time.Now()
			resp := next(ctx)
			if resp != nil {
				observe(ctx, cfg.Observer, resp, time.Since(start))
			}
			return resp
		})
	}
	return WithRequestState(res, noStore(limitBody(cfg.MaxRequestBytes, multipart.BodyLimit(), srv)))
}

// operationLabel names an operation by its kind and first root field, both
// bounded by the schema (client-chosen operation names are not: they would
// make a metric label anyone can multiply).
func operationLabel(ctx context.Context) string {
	if !graphql.HasOperationContext(ctx) {
		return "invalid"
	}
	op := graphql.GetOperationContext(ctx).Operation
	if op == nil {
		return "invalid"
	}
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			return string(op.Operation) + ":" + f.Name
		}
	}
	return string(op.Operation)
}

// outcomes are the root fields of one operation and how each ended.
type outcomes struct {
	mu     sync.Mutex
	fields []rootOutcome
}

type rootOutcome struct{ key, label, outcome string }

type outcomesKey struct{}

// recordRootOutcome notes how each root field's resolver ended: its
// error's code, or its payload's first UserError code, or OK.
func recordRootOutcome(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Query" && fc.Object != "Mutation" || fc.Field.Field == nil {
		return res, err // not a root field: most fields end here, cheaply
	}
	o, ok := ctx.Value(outcomesKey{}).(*outcomes)
	if !ok {
		return res, err
	}
	outcome := "OK"
	if err != nil {
		outcome = errorCode(err)
	} else if code := payloadCode(res); code != "" {
		outcome = code
	}
	kind := strings.ToLower(fc.Object)
	o.mu.Lock()
	o.fields = append(o.fields, rootOutcome{key: fc.Field.Alias, label: kind + ":" + fc.Field.Name, outcome: outcome})
	o.mu.Unlock()
	return res, err
}

// errorCode is the code an error is answered with.
func errorCode(err error) string {
	if coded := apperr.Errors(err); len(coded) > 0 {
		return string(coded[0].Code)
	}
	return string(apperr.Internal)
}

// payloadCode is the code of the first UserError of a mutation's payload
// (every payload has an Errors list), or "".
func payloadCode(res any) string {
	v := reflect.ValueOf(res)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return ""
	}
	f := v.Elem().FieldByName("Errors")
	if !f.IsValid() {
		return "" // not a payload
	}
	errs, ok := f.Interface().([]*model.UserError)
	if !ok || len(errs) == 0 {
		return ""
	}
	return string(errs[0].Code)
}

// observe reports an answered operation: one outcome per root field (an
// error below a field that ended OK counts for it), or, when none ran,
// one for the operation; and its latency.
func observe(ctx context.Context, obs Observer, resp *graphql.Response, took time.Duration) {
	obs.Latency(operationLabel(ctx), took)
	o, _ := ctx.Value(outcomesKey{}).(*outcomes)
	if o == nil || len(o.fields) == 0 {
		obs.Outcome(operationLabel(ctx), outcomeLabel(resp))
		return
	}
	for _, f := range o.fields {
		outcome := f.outcome
		for _, e := range resp.Errors {
			if outcome == "OK" && len(e.Path) > 0 && fmt.Sprint(e.Path[0]) == f.key {
				outcome, _ = e.Extensions["code"].(string)
				break
			}
		}
		obs.Outcome(f.label, outcome)
	}
}

// outcomeLabel is the code of a response's first error, or "OK".
func outcomeLabel(resp *graphql.Response) string {
	if len(resp.Errors) == 0 {
		return "OK"
	}
	if code, ok := resp.Errors[0].Extensions["code"].(string); ok {
		return code
	}
	return "ERROR"
}

// noStore keeps answers, which carry tokens and personal data, out of
// every cache.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// Playground serves GraphiQL for endpoint. With assetsURL set, its scripts
// and styles come from there (self-hosted copies of the graphiql, react and
// react-dom npm files) instead of the public CDN. The page is rendered once
// and served with a Content-Security-Policy that allows its one inline
// script by hash, its assets' origins, and requests to this origin only.
func Playground(endpoint, assetsURL string) http.Handler {
	var opts []playground.GraphiqlConfigOption
	if base := strings.TrimRight(assetsURL, "/"); base != "" {
		opts = append(opts,
			playground.WithGraphiqlVersion(base+"/graphiql.min.js", base+"/graphiql.min.css", "", ""),
			playground.WithGraphiqlReactVersion(base+"/react.production.min.js", base+"/react-dom.production.min.js", "", ""),
		)
	}
	rec := httptest.NewRecorder()
	playground.Handler("usergraph", endpoint, opts...).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	page := strings.Replace(rec.Body.String(), "<head>", "<head>\n"+assetsWatchdog, 1)
	page = strings.Replace(page, "</body>", assetsFailed+"</body>", 1)
	query, _ := json.Marshal(exampleQuery)
	headers, _ := json.Marshal("{\n  \"Authorization\": \"Bearer \"\n}")
	page = strings.Replace(page, "inputValueDeprecation: true", "inputValueDeprecation: true,\n          defaultQuery: "+string(query)+
		",\n          defaultHeaders: "+string(headers), 1)
	csp := playgroundPolicy(page)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		io.WriteString(w, page)
	})
}

// PlaygroundFiles are the self-hosted GraphiQL files PLAYGROUND_ASSETS_DIR
// or PLAYGROUND_ASSETS_URL must hold, from the npm packages graphiql@4.1.2
// (graphiql.min.js, graphiql.min.css at the package's root), react@18.2.0
// (umd/react.production.min.js) and react-dom@18.2.0
// (umd/react-dom.production.min.js): the versions the page is written for.
var PlaygroundFiles = []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"}

// exampleQuery is what the playground's editor opens with (until the
// visitor's own query is stored): how to sign in and use the token.
const exampleQuery = `# usergraph: sign in, then put the accessToken from the answer in the Headers
# tab below ({"Authorization": "Bearer <accessToken>"}) and run Me.
# Every field is described in the Docs pane; /schema.graphql is the schema.

mutation SignIn {
  login(input: {email: "you@example.com", password: "your password"}) {
    accessToken
    refreshToken
    mfaRequired
    mfaToken
    errors { field code message }
  }
}

query Me {
  me { id email fullName role mfaEnabled wallet { balance currency } }
}
`

// assetsWatchdog goes first in the page's head. It defines the page's
// explanation for scripts that did not load (no network to the CDN, or
// missing self-hosted files), and gives the scripts 5 s: a CDN that hangs
// rather than fails holds them, and with them the page, for as long as the
// browser waits (half a minute or more), so after 5 s without GraphiQL it
// stops the page loading and explains. assetsFailed explains at once when
// they fail.
const assetsWatchdog = `<script>
window.usergraphExplain = function () {
  if (document.getElementById("playground-unavailable")) return;
  var box = document.getElementById("graphiql") || document.body ||
    document.documentElement.appendChild(document.createElement("body"));
  box.innerHTML = "";
  var p = document.createElement("div");
  p.id = "playground-unavailable";
  p.style.cssText = "max-width:44rem;margin:4rem auto;font:16px/1.5 system-ui,sans-serif";
  p.innerHTML = "<h1 style='font-size:1.4rem'>The playground could not load its scripts</h1>" +
    "<p>GraphiQL and React did not load (the browser console says which file failed or hung). " +
    "The API itself works: send POST requests to <code>/graphql</code>.</p>" +
    "<p>Two ways out: let this browser reach the public CDN (cdn.jsdelivr.net), or host the files yourself: " +
    "put graphiql.min.js and graphiql.min.css (npm graphiql@4.1.2), react.production.min.js " +
    "(react@18.2.0, umd/) and react-dom.production.min.js (react-dom@18.2.0, umd/) in a folder and set " +
    "<code>PLAYGROUND_ASSETS_DIR</code> to it (served from this server), or serve them elsewhere and set " +
    "<code>PLAYGROUND_ASSETS_URL</code>.</p>";
  box.appendChild(p);
};
window.usergraphLoaded = function () {
  return typeof GraphiQL !== "undefined" && typeof React !== "undefined" && typeof ReactDOM !== "undefined";
};
window.setTimeout(function () {
  if (window.usergraphLoaded()) return;
  window.stop();
  window.usergraphExplain();
}, 5000);
</script>
`

// assetsFailed goes last in the page's body: the load event comes after
// every script ran or failed.
const assetsFailed = `<script>
window.addEventListener("load", function () {
  if (!window.usergraphLoaded()) window.usergraphExplain();
});
</script>
`

// PlaygroundAssets serves the files of dir (PLAYGROUND_ASSETS_DIR) under
// /playground/, after checking that every file the page needs is there.
func PlaygroundAssets(dir string) (http.Handler, error) {
	var missing []string
	for _, name := range PlaygroundFiles {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.IsDir() {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("PLAYGROUND_ASSETS_DIR %s lacks %s (see .env.example for the npm packages they come from)",
			dir, strings.Join(missing, ", "))
	}
	files := http.FileServer(http.Dir(dir))
	return http.StripPrefix("/playground/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(PlaygroundFiles, r.URL.Path) { // only the four files, never a listing
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})), nil
}

var (
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	assetURL     = regexp.MustCompile(`(?:src|href)="(https?://[^"]+)"`)
)

// playgroundPolicy is the Content-Security-Policy of page: its inline
// scripts by hash, the origins of its scripts and styles, and requests
// (the GraphQL endpoint) to this origin only.
func playgroundPolicy(page string) string {
	scripts := []string{"'self'"}
	for _, m := range inlineScript.FindAllStringSubmatch(page, -1) {
		sum := sha256.Sum256([]byte(m[1]))
		scripts = append(scripts, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	assets := []string{"'self'"}
	for _, m := range assetURL.FindAllStringSubmatch(page, -1) {
		if u, err := url.Parse(html.UnescapeString(m[1])); err == nil {
			if origin := u.Scheme + "://" + u.Host; !slices.Contains(assets, origin) {
				assets = append(assets, origin)
			}
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + strings.Join(append(scripts, assets[1:]...), " "),
		// GraphiQL and React set styles on elements at run time.
		"style-src " + strings.Join(assets, " ") + " 'unsafe-inline'",
		"font-src " + strings.Join(assets, " ") + " data:",
		"img-src 'self' data:",
		"connect-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// limitBody caps request bodies: multipart uploads at maxUpload, the rest
// at maxBytes. The transports check their parts within these.
func limitBody(maxBytes, maxUpload int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := maxBytes
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			limit = maxUpload
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
