package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Every request has an id: the caller's X-Request-Id when it is sane, a
// new one otherwise; it comes back in the response header and is in the log
// lines the request wrote.
func TestRequestIDs(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		post := func(id string) string {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
			req.Header.Set("Content-Type", "application/json")
			if id != "" {
				req.Header.Set("X-Request-Id", id)
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.Header.Get("X-Request-Id")
		}
		if got := post("edge-7f3a.42"); got != "edge-7f3a.42" {
			t.Errorf("a caller's request id came back as %q", got)
		}
		for _, bad := range []string{"", "has space", strings.Repeat("x", 200), "<script>"} {
			if got := post(bad); len(got) != 36 || got == bad {
				t.Errorf("request id %q: answered %q, want a new UUID", bad, got)
			}
		}
		// The request's log line carries its id.
		var found bool
		for _, line := range strings.Split(srv.Stderr.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "request" && rec["request_id"] == "edge-7f3a.42" {
				found = true
			}
		}
		if !found {
			t.Errorf("no log line of the request carries its id:\n%s", srv.Stderr.String())
		}
	})
}

// A role-guarded field the caller may not use is null with a FORBIDDEN
// error; the rest of the answer stays. removeAvatar needs no input.
func TestForbiddenFieldsKeepTheRestOfTheAnswer(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		p := mustSignIn(t, srv.Client().register(registerInput("partial@example.com", "+4944600001")))
		c := srv.Client().As(*p.AccessToken)
		r := c.Do(`{ me { email } users { totalCount } auditEvents { totalCount } }`, nil)
		var d struct {
			Me          *struct{ Email string }
			Users       *struct{ TotalCount int }
			AuditEvents *struct{ TotalCount int }
		}
		if err := json.Unmarshal(r.Data, &d); err != nil || d.Me == nil || d.Me.Email != "partial@example.com" || d.Users != nil || d.AuditEvents != nil {
			t.Fatalf("data = %s (%v)", r.Data, err)
		}
		if len(r.Errors) != 2 || r.Code() != "FORBIDDEN" || r.Errors[1].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("errors = %+v, want FORBIDDEN on users and auditEvents", r.Errors)
		}
		r = c.Do(`mutation { removeAvatar { user { profile { avatarUrl } } errors { code } } }`, nil)
		if r.Code() != "" || !strings.Contains(string(r.Data), `"avatarUrl":null`) {
			t.Errorf("removeAvatar without input: %s %+v", r.Data, r.Errors)
		}
	})
}

// /metrics speaks Prometheus' format with usergraph_ metrics that move with
// the traffic: operations by root field and outcome, latency, responses by
// status, password hashes, rate-limit refusals, the outbox and the pool. It
// is served on METRICS_ADDR only: the public port answers 404.
func TestMetrics(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["RATE_LIMIT_PER_IP_PER_MINUTE"] = "2"
		srv := startServer(t, env)
		reg := mustSignIn(t, srv.Client().register(registerInput("metrics@example.com", "+4944700001")))
		srv.Client().login("metrics@example.com", "wrong-Password-1")
		srv.Client().login("metrics@example.com", "wrong-Password-1")
		if r := srv.Client().Do(loginMutation, map[string]any{"email": "metrics@example.com", "password": "x"}); r.Code() != "RATE_LIMITED" {
			t.Fatalf("third login from one address: %q", r.Code()) // over the per-address limit
		}
		srv.Client().Do(`{ me { id } }`, nil)
		consumer := srv.Client().As(*reg.AccessToken)
		consumer.Do(`{ me { id } users { totalCount } }`, nil) // me answered, users FORBIDDEN
		if resp, err := httpClient.Get(srv.URL + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("/metrics on the public port: %v %v, want 404", resp, err)
		}
		scrape := func() string {
			resp, err := httpClient.Get(srv.MetricsURL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			return string(b)
		}
		body := scrape()
		for _, want := range []string{
			`usergraph_graphql_operations_total{operation="mutation:register",outcome="OK"} 1`,
			`usergraph_graphql_operations_total{operation="mutation:login",outcome="RATE_LIMITED"} 1`,
			// Payload errors are outcomes: a failed sign-in is not OK.
			`usergraph_graphql_operations_total{operation="mutation:login",outcome="INVALID_CREDENTIALS"} 2`,
			// Each root field counts for itself.
			`usergraph_graphql_operations_total{operation="query:me",outcome="OK"} 1`,
			`usergraph_graphql_operations_total{operation="query:users",outcome="FORBIDDEN"} 1`,
			`usergraph_graphql_operations_total{operation="query:me",outcome="UNAUTHENTICATED"} 1`,
			`usergraph_graphql_operation_duration_seconds_count{operation="mutation:register"} 1`,
			`usergraph_http_responses_total{code="200"}`,
			`usergraph_mail_outbox_emails{status="PENDING"}`,
			`usergraph_db_connections_open`,
			`usergraph_password_hash_queue 0`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		// This server's own counts: a registration and two logins hashed, one login refused.
		for _, re := range []string{`usergraph_password_hashes_total 3\n`, `usergraph_rate_limit_refusals_total 1\n`} {
			if !regexp.MustCompile(re).MatchString(body) {
				t.Errorf("/metrics does not match %s", re)
			}
		}
	})
}

// `usergraph healthcheck` (the container's health check) exits 0 only when
// the server on PORT is ready.
func TestHealthcheckCommand(t *testing.T) {
	srv := startServer(t, testEnv(t, ""))
	env := testEnv(t, "")
	env["PORT"] = srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	if out, err := usergraphCmd(t, env, "", "healthcheck"); err != nil || !strings.Contains(out, "ready") {
		t.Errorf("healthcheck of a ready server: %v %s", err, out)
	}
	srv.Stop()
	if _, err := usergraphCmd(t, env, "", "healthcheck"); err == nil {
		t.Error("healthcheck passed with no server")
	}
}

// The playground explains itself when its scripts do not load, and
// PLAYGROUND_ASSETS_DIR serves self-hosted GraphiQL files from this origin
// (refusing to start without all four). The explanation script is allowed
// by the page's Content-Security-Policy (by hash), or it could not run.
func TestPlaygroundAssets(t *testing.T) {
	srv := startServer(t, testEnv(t, ""))
	resp, err := httpClient.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllSubmatch(page, -1)
	explains := false
	for _, m := range scripts {
		explains = explains || strings.Contains(string(m[1]), "PLAYGROUND_ASSETS_DIR")
		sum := sha256.Sum256(m[1])
		if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("the CSP does not allow the inline script %.60q…: %s", m[1], csp)
		}
	}
	if len(scripts) < 3 || !explains {
		t.Fatalf("no explanation for scripts that fail to load:\n%s", page)
	}

	dir := t.TempDir()
	env := testEnv(t, "")
	env["PLAYGROUND_ASSETS_DIR"] = dir
	if out, err := usergraphCmd(t, env, "", "keys", "list"); err == nil || !strings.Contains(out, "graphiql.min.js") {
		t.Errorf("an assets folder without the files: %v %s", err, out)
	}
	for _, name := range []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("/* "+name+" */"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("not served"), 0o600)
	srv2 := startServer(t, env)
	resp, err = httpClient.Get(srv2.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `src="/playground/graphiql.min.js"`) || strings.Contains(string(page), `src="https://cdn.jsdelivr`) {
		t.Errorf("the page does not load the self-hosted files:\n%s", page)
	}
	for path, want := range map[string]int{"/playground/react.production.min.js": 200, "/playground/secret.txt": 404, "/playground/": 404} {
		resp, err := httpClient.Get(srv2.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && !strings.Contains(string(body), "react.production.min.js")) {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// With MEDIA_STORE=s3, avatars live in the bucket (here an in-process
// S3-compatible fake), so a replica serves avatars another one received and
// a removal is seen by all.
func TestAvatarsSharedThroughS3(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("avatars"); err != nil {
		t.Fatal(err)
	}
	fake := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(fake.Close) // after the parallel subtests, not when this function returns
	testdb.Run(t, func(t *testing.T, dbURL string) {
		envA, envB := testEnv(t, dbURL), testEnv(t, dbURL)
		if dbURL == "" { // SQLite: one database file
			envB["DATA_DIR"] = envA["DATA_DIR"]
		}
		prefix := "t" + strings.ReplaceAll(t.Name(), "/", "-") + "/"
		for _, env := range []map[string]string{envA, envB} {
			env["MEDIA_STORE"], env["S3_ENDPOINT"], env["S3_BUCKET"], env["S3_PREFIX"] = "s3", strings.TrimPrefix(fake.URL, "http://"), "avatars", prefix
			env["S3_INSECURE"], env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"] = "true", "test", "test-secret"
		}
		a, b := startServer(t, envA), startServer(t, envB)
		p := mustSignIn(t, a.Client().register(registerInput("s3@example.com", "+4944800001")))
		pic := pngImage(t, 12, 12)
		up, _ := a.Client().As(*p.AccessToken).upload("me.png", pic)
		if up.User == nil || up.User.Profile.AvatarURL == nil {
			t.Fatalf("upload: %v", codes(up.Errors))
		}
		name := (*up.User.Profile.AvatarURL)[strings.Index(*up.User.Profile.AvatarURL, "/media/")+len("/media/"):]
		if obj, err := backend.HeadObject("avatars", prefix+name); err != nil || obj.Size != int64(len(pic)) {
			t.Fatalf("the bucket does not hold the avatar %s: %v", prefix+name, err)
		}
		for _, srv := range []*testServer{a, b} {
			resp, err := httpClient.Get(srv.URL + "/media/" + name)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Equal(body, pic) || resp.Header.Get("Content-Type") != "image/png" {
				t.Errorf("replica %s serves the avatar: %d %s", srv.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
		b.Client().As(*p.AccessToken).MustData(`mutation { removeAvatar { errors { code } } }`, nil, &struct{}{})
		for _, srv := range []*testServer{a, b} {
			resp, err := httpClient.Get(srv.URL + "/media/" + name)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("after removal, replica %s answers %d", srv.URL, resp.StatusCode)
			}
		}
		if out, err := usergraphCmd(t, map[string]string{"ENV_FILE": envA["ENV_FILE"], "DATA_DIR": t.TempDir(), "MEDIA_STORE": "s3",
			"S3_ENDPOINT": envA["S3_ENDPOINT"], "S3_BUCKET": "missing", "S3_INSECURE": "true", "S3_ACCESS_KEY_ID": "test", "S3_SECRET_ACCESS_KEY": "x"},
			"", "keys", "list"); err == nil || !strings.Contains(out, "bucket missing does not exist") {
			t.Errorf("a missing bucket: %v %s", err, out)
		}
	})
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, one request becomes one trace: the
// HTTP span, the GraphQL operation and its root field, and the SQL it ran
// (with placeholders, not values), continuing the caller's traceparent.
func TestTracesReachTheCollector(t *testing.T) {
	var mu sync.Mutex
	var spans []*tracepb.Span
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(b)
	}))
	t.Cleanup(collector.Close)
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["OTEL_EXPORTER_OTLP_ENDPOINT"], env["MAIL_POLL_INTERVAL"] = collector.URL, "20ms"
		srv := startServer(t, env)
		p := mustSignIn(t, srv.Client().register(registerInput("traced@example.com", "+4944900001")))
		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		c := srv.Client().As(*p.AccessToken)
		c.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		c.MustData(`{ me { email } }`, nil, &struct{}{})
		c.MustData(`mutation { updateProfile(input: {city: "Traced"}) { errors { code } } }`, nil, &struct{}{})
		time.Sleep(200 * time.Millisecond) // the mail poller runs ten times meanwhile
		srv.Stop()                         // flushes the batch
		mu.Lock()
		defer mu.Unlock()
		names, statements := map[string]bool{}, ""
		for _, s := range spans {
			if hex.EncodeToString(s.TraceId) != traceID {
				continue
			}
			names[s.Name] = true
			for _, a := range s.Attributes {
				if a.Key == "db.statement" {
					statements += a.Value.GetStringValue() + "\n"
				}
			}
		}
		// Statements are named by what they are (bun names raw ones SELECT).
		for _, want := range []string{"POST /graphql", "graphql query:me", "resolve me", "SELECT", "UPDATE", "INSERT"} {
			if !names[want] {
				t.Errorf("no %q span in the caller's trace; spans: %v", want, names)
			}
		}
		// Only requests start traces: no root span but a request's (the idle
		// mail poller's queries are not traced).
		for _, s := range spans {
			if len(s.ParentSpanId) == 0 && !strings.HasPrefix(s.Name, "POST ") && !strings.HasPrefix(s.Name, "GET ") {
				t.Errorf("a trace that no request started: %q", s.Name)
			}
		}
		// Every log line of the traced request names the trace and its span.
		traced := 0
		for _, line := range strings.Split(srv.Stderr.String(), "\n") {
			if strings.Contains(line, `"trace_id":"`+traceID+`"`) && strings.Contains(line, `"span_id":"`) {
				traced++
			}
		}
		if traced < 2 {
			t.Errorf("%d log lines carry the caller's trace_id; want its two requests' lines", traced)
		}
		if statements == "" || strings.Contains(statements, "traced@example.com") || strings.Contains(statements, p.User.ID) {
			t.Errorf("SQL in spans carries values, or is missing:\n%s", statements)
		}
	})
}

// A file over AVATAR_MAX_BYTES gets one answer however it is sent: HTTP
// 413, FILE_TOO_LARGE and maxBytes, whether the request says its length
// (as browsers do) or not, and whether it is a byte over or far over.
// (browser_test.go sends them from Chromium with FormData.)
func TestTooLargeUploadsHaveOneAnswer(t *testing.T) {
	env := testEnv(t, "")
	env["AVATAR_MAX_BYTES"] = "2048"
	srv := startServer(t, env)
	p := mustSignIn(t, srv.Client().register(registerInput("bigfile@example.com", "+4945100001")))
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
	}{{"a byte over, with a length", 2049, false}, {"a byte over, without one", 2049, true},
		{"far over, with a length", 200000, false}, {"far over, without one", 200000, true}} {
		ct, body := multipartBody(t, uploadAvatarOperations, bytes.Repeat([]byte("x"), tc.size))
		var reader io.Reader = bytes.NewReader(body)
		if tc.chunked {
			reader = io.MultiReader(reader) // no Len: sent chunked, without Content-Length
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", reader)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+*p.AccessToken)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r, _ := readAnswer(t, resp)
		if r.Status != http.StatusRequestEntityTooLarge || r.Code() != "FILE_TOO_LARGE" || r.Errors[0].Extensions["maxBytes"] != float64(2048) {
			t.Errorf("%s: status %d, %+v", tc.name, r.Status, r.Errors)
		}
	}
}

// /readyz answers 503 when the database is unreachable, and 200 again
// when it is back; /healthz stays 200 (the process is up). PostgreSQL only:
// the embedded SQLite file cannot become unreachable to the process that
// holds it open. The server reaches PostgreSQL through a TCP proxy the test
// cuts.
func TestReadyzWithTheDatabaseDown(t *testing.T) {
	dbURL := testdb.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startTCPProxy(t, u.Host)
	u.Host = proxy.addr
	srv := startServer(t, testEnv(t, u.String()))
	c := &http.Client{Timeout: 10 * time.Second}
	status := func(path string) int {
		t.Helper()
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/readyz"); got != 200 {
		t.Fatalf("/readyz = %d before", got)
	}
	proxy.cut()
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down = %d, want 503", got)
	}
	if got := status("/healthz"); got != 200 {
		t.Errorf("/healthz with the database down = %d, want 200", got)
	}
	proxy.restore(t)
	// Each failed check drops a dead pooled connection; readiness returns
	// once the pool has a live one.
	deadline := time.Now().Add(10 * time.Second)
	for status("/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz stayed 503 after the database came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tcpProxy forwards a local port to target until cut.
type tcpProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
}

// cut stops accepting and closes every forwarded connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *tcpProxy) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// Go's profiles are served only when METRICS_PPROF asks, and only on
// METRICS_ADDR: never on the public port, and not beside /metrics by default.
func TestProfilesOnlyOnTheMetricsAddressWhenAsked(t *testing.T) {
	get := func(url string) int {
		resp, err := httpClient.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	env := testEnv(t, "")
	off := startServer(t, env)
	if code := get(strings.TrimSuffix(off.MetricsURL, "/metrics") + "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("profiles without METRICS_PPROF: %d, want 404", code)
	}
	env = testEnv(t, "")
	env["METRICS_PPROF"] = "true"
	on := startServer(t, env)
	profiles := strings.TrimSuffix(on.MetricsURL, "/metrics") + "/debug/pprof/"
	if code := get(profiles); code != http.StatusOK {
		t.Errorf("profiles with METRICS_PPROF: %d, want 200", code)
	}
	if code := get(profiles + "heap"); code != http.StatusOK {
		t.Errorf("heap profile with METRICS_PPROF: %d, want 200", code)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if code := get(on.URL + path); code != http.StatusNotFound {
			t.Errorf("%s on the public port: %d, want 404", path, code)
		}
	}
}
