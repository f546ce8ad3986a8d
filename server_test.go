package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
)

// syncBuffer is a goroutine-safe buffer for the server's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a running usergraph started through run().
type testServer struct {
	t       testing.TB
	URL     string
	env     map[string]string
	Stderr  *syncBuffer
	dbURL   string
	dataDir string
	Stop    func() // shuts the server down and waits; also runs at cleanup
}

// testEnv is the environment every test server starts with; tests override keys.
func testEnv(t testing.TB, databaseURL string) map[string]string {
	return map[string]string{
		"ENV_FILE":                     filepath.Join(t.TempDir(), "no.env"),
		"PORT":                         "0",
		"DATA_DIR":                     t.TempDir(),
		"DATABASE_URL":                 databaseURL,
		"LOG_LEVEL":                    "debug",
		"RATE_LIMIT_PER_IP_PER_MINUTE": "1000",
	}
}

var listenLine = regexp.MustCompile(`listening on (http://localhost:\d+)`)

// startServer runs usergraph with env until the test ends, and waits for /healthz.
func startServer(t testing.TB, env map[string]string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"usergraph"}, func(k string) string { return env[k] }, strings.NewReader(""), stdout, stderr)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server stopped with error: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("server did not shut down within 20s")
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			// Show what the server said about it, without the request lines.
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
					t.Log("server: " + line)
				}
			}
		}
		stop()
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("server exited early: %v\n%s", err, stderr)
		default:
		}
		if m := listenLine.FindStringSubmatch(stdout.String()); m != nil {
			// The server listens on every address; tests reach it over IPv4,
			// so the client address it records is 127.0.0.1.
			m[1] = strings.Replace(m[1], "localhost", "127.0.0.1", 1)
			resp, err := httpClient.Get(m[1] + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return &testServer{t: t, URL: m[1], env: env, Stderr: stderr, dbURL: env["DATABASE_URL"], dataDir: env["DATA_DIR"], Stop: stop}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server did not become healthy\nstdout: %s\nstderr: %s", stdout, stderr)
	return nil
}

// DB opens the server's database, for checks and for setup that has no API.
func (s *testServer) DB() *bun.DB {
	s.t.Helper()
	conn, err := db.Open(context.Background(), s.dbURL, filepath.Join(s.dataDir, "usergraph.db"))
	if err != nil {
		s.t.Fatalf("open test database: %v", err)
	}
	s.t.Cleanup(func() { conn.Close() })
	return conn
}

// gqlError is one top-level GraphQL error.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// gqlResponse is a GraphQL response with data left raw.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Status int             `json:"-"`
}

// Code is the first error's extensions.code, or "".
func (r gqlResponse) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// client sends GraphQL requests as one user (or anonymously with no token).
type client struct {
	t      testing.TB
	srv    *testServer
	Token  string
	Header http.Header
}

func (s *testServer) Client() *client { return &client{t: s.t, srv: s, Header: http.Header{}} }

// As returns a client that sends token.
func (c *client) As(token string) *client {
	return &client{t: c.t, srv: c.srv, Token: token, Header: c.Header.Clone()}
}

// httpClient is what tests call the server with: a request that hangs
// fails the test instead of the whole run.
var httpClient = &http.Client{Timeout: 60 * time.Second}

// Do posts a query with variables and decodes the response. It fails the
// test at once when the request fails; goroutines use DoAsync.
func (c *client) Do(query string, vars map[string]any) gqlResponse {
	c.t.Helper()
	out, err := c.post(query, vars)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// DoAsync is Do for goroutines other than the test's own, which must not
// call t.Fatal: a failed request is reported with t.Error and answers an
// error with code TRANSPORT_ERROR, which no assertion expects.
func (c *client) DoAsync(query string, vars map[string]any) gqlResponse {
	out, err := c.post(query, vars)
	if err != nil {
		c.t.Error(err)
		out.Errors = []gqlError{{Message: err.Error(), Extensions: map[string]any{"code": "TRANSPORT_ERROR"}}}
	}
	return out
}

func (c *client) post(query string, vars map[string]any) (gqlResponse, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header = c.Header.Clone()
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return gqlResponse{}, fmt.Errorf("POST /graphql: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("response is not JSON (status %d): %.500s", resp.StatusCode, raw)
	}
	out.Status = resp.StatusCode
	return out, nil
}

// MustData runs a query that must succeed and decodes data into dst.
func (c *client) MustData(query string, vars map[string]any, dst any) {
	c.t.Helper()
	resp := c.Do(query, vars)
	if len(resp.Errors) > 0 {
		c.t.Fatalf("unexpected errors: %+v", resp.Errors)
	}
	if err := json.Unmarshal(resp.Data, dst); err != nil {
		c.t.Fatalf("decode data %s: %v", resp.Data, err)
	}
}

// userError is a payload UserError.
type userError struct {
	Field   []string `json:"field"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
}

func (e userError) String() string {
	return fmt.Sprintf("%s@%s", e.Code, strings.Join(e.Field, "."))
}

// codes lists errors as CODE@field.path for compact assertions.
func codes(errs []userError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.String()
	}
	return out
}
