// Fixtures shared by the end-to-end tests: a running server, clients,
// sign-in helpers, the B2B setup, emails, and request builders.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/testdb"
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
	// MetricsURL is /metrics on METRICS_ADDR ("" when it is not set).
	MetricsURL string
}

// testEnv is the environment every test server starts with; tests override keys.
func testEnv(t testing.TB, databaseURL string) map[string]string {
	pooler := ""
	if databaseURL != "" && testdb.Pooler() {
		pooler = "transaction"
	}
	return map[string]string{
		"DATABASE_POOLER":              pooler,
		"ENV_FILE":                     filepath.Join(t.TempDir(), "no.env"),
		"PORT":                         "0",
		"DATA_DIR":                     t.TempDir(),
		"DATABASE_URL":                 databaseURL,
		"LOG_LEVEL":                    "debug",
		"RATE_LIMIT_PER_IP_PER_MINUTE": "1000",
		"REFRESH_PER_IP_PER_MINUTE":    "6000",
		"METRICS_ADDR":                 "127.0.0.1:0",
	}
}

var (
	listenLine  = regexp.MustCompile(`listening on (http://localhost:\d+)`)
	metricsLine = regexp.MustCompile(`metrics on (http://\S+/metrics)`)
)

// freePort returns a loopback port free a moment ago, for a server whose
// own URL must be known before it starts (PUBLIC_URL, passkey origins).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

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
					srv := &testServer{t: t, URL: m[1], env: env, Stderr: stderr, dbURL: env["DATABASE_URL"], dataDir: env["DATA_DIR"], Stop: stop}
					if mm := metricsLine.FindStringSubmatch(stdout.String()); mm != nil {
						srv.MetricsURL = mm[1]
					}
					return srv
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server did not become healthy\nstdout: %s\nstderr: %s", stdout, stderr)
	return nil
}

// hashesComputed is the argon2id hashes the server computed so far, read
// from its /metrics (usergraph_password_hashes_total).
func (s *testServer) hashesComputed() int64 {
	s.t.Helper()
	return int64(s.metric("usergraph_password_hashes_total"))
}

// metric reads one unlabelled sample from the server's /metrics.
func (s *testServer) metric(name string) float64 {
	s.t.Helper()
	resp, err := httpClient.Get(s.MetricsURL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		s.t.Fatalf("/metrics has no %s", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

// DB opens the server's database, for checks and for setup that has no API.
func (s *testServer) DB() *bun.DB {
	s.t.Helper()
	conn, err := db.Open(context.Background(), s.dbURL, filepath.Join(s.dataDir, "usergraph.db"), testdb.Options()...)
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

// headers puts the client's headers on req; a "Host" header becomes the
// request's Host.
func (c *client) headers(req *http.Request) {
	req.Header = c.Header.Clone()
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
		req.Header.Del("Host")
	}
}

func (c *client) post(query string, vars map[string]any) (gqlResponse, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+"/graphql", bytes.NewReader(body))
	c.headers(req)
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

// email is one message the file driver wrote, decoded.
type email struct {
	File, To, Subject, Text, HTML string
}

// readEmails parses every .eml file in dir as a MIME message.
func readEmails(t testing.TB, dir string) []email {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	var out []email
	for _, f := range files {
		raw, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(raw)
		if err != nil {
			t.Fatalf("%s is not a MIME message: %v", f, err)
		}
		e := email{File: f, To: msg.Header.Get("To"), Subject: msg.Header.Get("Subject")}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("%s: content type: %v", f, err)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			body, _ := io.ReadAll(part) // NextPart decodes quoted-printable
			switch ct := part.Header.Get("Content-Type"); {
			case strings.HasPrefix(ct, "text/plain"):
				e.Text = string(body)
			case strings.HasPrefix(ct, "text/html"):
				e.HTML = string(body)
			}
		}
		raw.Close()
		out = append(out, e)
	}
	return out
}

// emailsTo returns the emails to addr (as written in the To header).
func emailsTo(all []email, addr string) []email {
	var out []email
	for _, e := range all {
		if strings.Contains(strings.ToLower(e.To), strings.ToLower(addr)) {
			out = append(out, e)
		}
	}
	return out
}

// waitEmails waits until addr has received n emails in the server's mail
// directory and returns them.
func (s *testServer) waitEmails(addr string, n int) []email {
	s.t.Helper()
	// Generous: under the race detector a thousand queued emails take a while.
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := emailsTo(readEmails(s.t, filepath.Join(s.dataDir, "mail")), addr)
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				s.t.Fatalf("%s received %d emails, want %d", addr, len(got), n)
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var tokenLink = regexp.MustCompile(`/(setup-password|reset-password|verify-email)\?token=([A-Za-z0-9_-]+)`)

// linkToken returns the token of the link in an email, checking that the
// text and HTML parts carry the same link.
func linkToken(t testing.TB, e email, path string) string {
	t.Helper()
	m := tokenLink.FindStringSubmatch(e.Text)
	h := tokenLink.FindStringSubmatch(e.HTML)
	if m == nil || h == nil || m[1] != path || m[2] != h[2] {
		t.Fatalf("email %q has no %s link in both parts:\n%s", e.Subject, path, e.Text)
	}
	return m[2]
}

// outboxCount is how many emails to addr the outbox holds, sent or not. The
// outbox row is written in the transaction of the change that sends it, so
// it is there as soon as the mutation has answered.
func (s *testServer) outboxCount(addr string) int {
	s.t.Helper()
	var n int
	if err := s.DB().NewRaw("SELECT count(*) FROM mail_outbox WHERE lower(recipient) LIKE ?", "%"+strings.ToLower(addr)+"%").Scan(context.Background(), &n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

const userFields = `id email mobile firstName lastName fullName role isActive isVerified isApproved dateJoined lastLogin`

const registerMutation = `mutation($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken expiresIn user { ` + userFields + ` } errors { field code message } }
}`

const loginMutation = `mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken refreshToken expiresIn user { id email role lastLogin } errors { field code message } }
}`

const refreshMutation = `mutation($t: String!) {
  refreshToken(input: {refreshToken: $t}) { accessToken refreshToken user { id } errors { field code message } }
}`

const logoutMutation = `mutation($t: String!, $all: Boolean) {
  logout(input: {refreshToken: $t, everywhere: $all}) { ok errors { field code message } }
}`

type testUser struct {
	ID         string  `json:"id"`
	Email      string  `json:"email"`
	Mobile     string  `json:"mobile"`
	FirstName  string  `json:"firstName"`
	LastName   string  `json:"lastName"`
	FullName   string  `json:"fullName"`
	Role       string  `json:"role"`
	IsActive   bool    `json:"isActive"`
	IsVerified bool    `json:"isVerified"`
	IsApproved bool    `json:"isApproved"`
	DateJoined string  `json:"dateJoined"`
	LastLogin  *string `json:"lastLogin"`
}

type authPayload struct {
	AccessToken  *string     `json:"accessToken"`
	RefreshToken *string     `json:"refreshToken"`
	ExpiresIn    *int        `json:"expiresIn"`
	User         *testUser   `json:"user"`
	Errors       []userError `json:"errors"`
}

const goodPassword = "velvet-Lantern-42"

func registerInput(email, mobile string) map[string]any {
	return map[string]any{
		"email": email, "mobile": mobile, "firstName": "Ann", "lastName": "Lee",
		"password": goodPassword, "passwordConfirm": goodPassword,
	}
}

func (c *client) register(input map[string]any) authPayload {
	c.t.Helper()
	var d struct{ Register authPayload }
	c.MustData(registerMutation, map[string]any{"input": input}, &d)
	return d.Register
}

func (c *client) login(email, password string) authPayload {
	c.t.Helper()
	var d struct{ Login authPayload }
	c.MustData(loginMutation, map[string]any{"email": email, "password": password}, &d)
	return d.Login
}

func (c *client) refresh(token string) authPayload {
	c.t.Helper()
	var d struct{ RefreshToken authPayload }
	c.MustData(refreshMutation, map[string]any{"t": token}, &d)
	return d.RefreshToken
}

// mustSignIn asserts a successful AuthPayload and returns it.
func mustSignIn(t testing.TB, p authPayload) authPayload {
	t.Helper()
	if len(p.Errors) > 0 || p.AccessToken == nil || p.RefreshToken == nil || p.User == nil {
		t.Fatalf("expected a sign-in, got errors %v", codes(p.Errors))
	}
	return p
}

func (c *client) meCode() string {
	c.t.Helper()
	return c.Do(`{ me { id } }`, nil).Code()
}

const adminEmail = "admin@usergraph.test"

// b2bEnv starts a server with a bootstrap admin and returns it with the
// admin's signed-in client.
func b2bServer(t testing.TB, dbURL string, extra map[string]string) (*testServer, *client) {
	t.Helper()
	env := testEnv(t, dbURL)
	env["BOOTSTRAP_ADMIN_EMAIL"], env["BOOTSTRAP_ADMIN_MOBILE"], env["BOOTSTRAP_ADMIN_PASSWORD"] = adminEmail, "+12025550001", goodPassword
	env["APP_URL"] = "https://app.example.test"
	for k, v := range extra {
		env[k] = v
	}
	srv := startServer(t, env)
	admin := mustSignIn(t, srv.Client().login(adminEmail, goodPassword))
	return srv, srv.Client().As(*admin.AccessToken)
}

const createB2BAdminMutation = `mutation($in: CreateB2BAdminInput!) {
  createB2BAdmin(input: $in) { user { id email role isActive isVerified isApproved companyName createdBy { email } approval { status } } errors { field code message } }
}`

type payloadUser struct {
	User *struct {
		ID          string  `json:"id"`
		Email       string  `json:"email"`
		Role        string  `json:"role"`
		IsActive    bool    `json:"isActive"`
		IsVerified  bool    `json:"isVerified"`
		IsApproved  bool    `json:"isApproved"`
		CompanyName *string `json:"companyName"`
		CreatedBy   *struct {
			Email string `json:"email"`
		} `json:"createdBy"`
		Approval *struct {
			Status string `json:"status"`
		} `json:"approval"`
	} `json:"user"`
	Errors []userError `json:"errors"`
}

// createB2BAdmin creates a B2B admin as admin and returns its id.
func createB2BAdmin(t testing.TB, admin *client, email, mobile string) string {
	t.Helper()
	var d struct{ CreateB2BAdmin payloadUser }
	admin.MustData(createB2BAdminMutation, map[string]any{"in": map[string]any{
		"email": email, "mobile": mobile, "firstName": "Bea", "lastName": "Boss", "companyName": "Acme Ltd",
	}}, &d)
	if len(d.CreateB2BAdmin.Errors) > 0 {
		t.Fatalf("createB2BAdmin: %v", codes(d.CreateB2BAdmin.Errors))
	}
	return d.CreateB2BAdmin.User.ID
}

const setupPasswordMutation = `mutation($t: String!, $p: String!, $c: String!) {
  setupPassword(input: {token: $t, password: $p, passwordConfirm: $c}) { accessToken refreshToken user { id email isVerified role } errors { field code message } }
}`

func (c *client) setupPassword(token, password string) authPayload {
	c.t.Helper()
	var d struct{ SetupPassword authPayload }
	c.MustData(setupPasswordMutation, map[string]any{"t": token, "p": password, "c": password}, &d)
	return d.SetupPassword
}

// onboard follows the setup email sent to addr and returns the signed-in client.
func onboard(t testing.TB, srv *testServer, addr string) *client {
	t.Helper()
	mails := srv.waitEmails(addr, 1)
	p := mustSignIn(t, srv.Client().setupPassword(linkToken(t, mails[0], "setup-password"), goodPassword))
	return srv.Client().As(*p.AccessToken)
}

const approveMutation = `mutation($id: ID!) {
  approveB2BAdmin(input: {userId: $id}) { approval { id status decidedAt decidedBy { email } user { id isApproved } } errors { field code message } }
}`

const rejectMutation = `mutation($id: ID!, $reason: String!) {
  rejectB2BAdmin(input: {userId: $id, reason: $reason}) { approval { status rejectionReason decidedAt decidedBy { email } user { isActive isApproved } } errors { field code message } }
}`

type approvalPayload struct {
	Approval *struct {
		ID              string  `json:"id"`
		Status          string  `json:"status"`
		DecidedAt       *string `json:"decidedAt"`
		RejectionReason *string `json:"rejectionReason"`
		DecidedBy       *struct {
			Email string `json:"email"`
		} `json:"decidedBy"`
		User struct {
			IsActive   bool `json:"isActive"`
			IsApproved bool `json:"isApproved"`
		} `json:"user"`
	} `json:"approval"`
	Errors []userError `json:"errors"`
}

func approve(t testing.TB, admin *client, id string) approvalPayload {
	t.Helper()
	var d struct{ ApproveB2BAdmin approvalPayload }
	admin.MustData(approveMutation, map[string]any{"id": id}, &d)
	return d.ApproveB2BAdmin
}

const createBatchMutation = `mutation($name: String!, $max: Int) {
  createBatch(input: {name: $name, description: "Q4 hires", maxUsers: $max}) { batch { id name maxUsers isActive userCount canAddUsers createdBy { email } } errors { field code message } }
}`

type batchPayload struct {
	Batch *struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		MaxUsers    int    `json:"maxUsers"`
		IsActive    bool   `json:"isActive"`
		UserCount   int    `json:"userCount"`
		CanAddUsers bool   `json:"canAddUsers"`
	} `json:"batch"`
	Errors []userError `json:"errors"`
}

func createBatch(t testing.TB, c *client, name string, max int) batchPayload {
	t.Helper()
	var d struct{ CreateBatch batchPayload }
	c.MustData(createBatchMutation, map[string]any{"name": name, "max": max}, &d)
	return d.CreateBatch
}

const createB2BUserMutation = `mutation($in: CreateB2BUserInput!) {
  createB2BUser(input: $in) { user { id email role isApproved createdBy { email } } errors { field code message } }
}`

func createB2BUser(t testing.TB, c *client, batchID, email, mobile string) payloadUser {
	t.Helper()
	var d struct{ CreateB2BUser payloadUser }
	c.MustData(createB2BUserMutation, map[string]any{"in": map[string]any{
		"batchId": batchID, "email": email, "mobile": mobile, "firstName": "Uma", "lastName": "User",
	}}, &d)
	return d.CreateB2BUser
}

const createB2BUsersMutation = `mutation($in: CreateB2BUsersInput!) {
  createB2BUsers(input: $in) { count results { index user { id email } errors { field code message } } errors { field code message } }
}`

type bulkPayload struct {
	Count   int `json:"count"`
	Results []struct {
		Index int `json:"index"`
		User  *struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"user"`
		Errors []userError `json:"errors"`
	} `json:"results"`
	Errors []userError `json:"errors"`
}

func row(email, mobile string) map[string]any {
	return map[string]any{"email": email, "mobile": mobile, "firstName": "Row", "lastName": "Person"}
}

func createB2BUsers(t testing.TB, c *client, batchID string, policy string, rows ...map[string]any) bulkPayload {
	t.Helper()
	var d struct{ CreateB2BUsers bulkPayload }
	c.MustData(createB2BUsersMutation, map[string]any{"in": map[string]any{
		"batchId": batchID, "users": rows, "errorPolicy": policy,
	}}, &d)
	return d.CreateB2BUsers
}

const usersQuery = `query($f: UserFilter, $o: UserOrder, $first: Int, $after: String) {
  users(filter: $f, orderBy: $o, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id email role isActive lastLogin dateJoined batch { name } createdBy { email } } }
  }
}`

// pageInfo is a connection's pageInfo.
type pageInfo struct {
	HasNextPage bool    `json:"hasNextPage"`
	EndCursor   *string `json:"endCursor"`
}

type usersResult struct {
	Users struct {
		TotalCount int      `json:"totalCount"`
		PageInfo   pageInfo `json:"pageInfo"`
		Edges      []struct {
			Node struct {
				ID         string     `json:"id"`
				Email      string     `json:"email"`
				Role       string     `json:"role"`
				LastLogin  *time.Time `json:"lastLogin"`
				DateJoined time.Time  `json:"dateJoined"`
			} `json:"node"`
		} `json:"edges"`
	} `json:"users"`
}

func (r usersResult) emails() []string {
	var out []string
	for _, e := range r.Users.Edges {
		out = append(out, e.Node.Email)
	}
	return out
}

// approvedB2BAdmin creates, onboards and approves a B2B admin.
func approvedB2BAdmin(t testing.TB, srv *testServer, admin *client, addr, mobile string) *client {
	t.Helper()
	id := createB2BAdmin(t, admin, addr, mobile)
	c := onboard(t, srv, addr)
	if a := approve(t, admin, id); a.Approval == nil {
		t.Fatalf("approve: %v", codes(a.Errors))
	}
	return c
}

// eachDialect runs f on SQLite and PostgreSQL one after the other, for
// tests that read process-wide counters (testdb.Run runs them in parallel).
func eachDialect(t *testing.T, f func(t *testing.T, dbURL string)) {
	for _, d := range testdb.Dialects() {
		t.Run(d.Name, func(t *testing.T) { f(t, d.URL(t)) })
	}
}

// postRaw posts body to /graphql and returns the decoded answer and its raw text.
func postRaw(t *testing.T, srv *testServer, contentType string, body []byte, header http.Header) (gqlResponse, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	return readAnswer(t, resp)
}

// readAnswer reads a GraphQL answer and closes it.
func readAnswer(t *testing.T, resp *http.Response) (gqlResponse, string) {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer is not JSON (status %d): %.300s", resp.StatusCode, raw)
	}
	out.Status = resp.StatusCode
	return out, string(raw)
}

func jsonBody(query string, vars map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return b
}

// multipartBody builds a GraphQL multipart request; a file is added when
// file is not nil.
func multipartBody(t *testing.T, operations string, file []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("operations", operations)
	if file == nil {
		mw.WriteField("map", `{}`)
	} else {
		mw.WriteField("map", `{"0": ["variables.file"]}`)
		fw, _ := mw.CreateFormFile("0", "a.png")
		fw.Write(file)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// uploadAvatarOperations is the operations part of an uploadAvatar request.
const uploadAvatarOperations = `{"query": "mutation($file: Upload!) { uploadAvatar(input: {file: $file}) { errors { code } } }", "variables": {"file": null}}`

// parallel runs n copies of f at once and returns their answers.
func parallel(n int, f func(i int) gqlResponse) []gqlResponse {
	out := make([]gqlResponse, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

func loginCode(r gqlResponse) string {
	if c := r.Code(); c != "" {
		return c
	}
	var d struct{ Login authPayload }
	json.Unmarshal(r.Data, &d)
	if len(d.Login.Errors) > 0 {
		return d.Login.Errors[0].Code
	}
	return "OK"
}

const uploadAvatarMutation = `mutation($in: UploadAvatarInput!) {
  uploadAvatar(input: $in) { user { id profile { avatarUrl } } errors { field code message } }
}`

type avatarPayload struct {
	User *struct {
		Profile struct {
			AvatarURL *string `json:"avatarUrl"`
		} `json:"profile"`
	} `json:"user"`
	Errors []userError `json:"errors"`
}

// upload sends uploadAvatar as a GraphQL multipart request (the spec's
// operations, map and file parts).
func (c *client) upload(filename string, content []byte) (avatarPayload, int) {
	c.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{"query": uploadAvatarMutation, "variables": map[string]any{"in": map[string]any{"file": nil}}})
	w.WriteField("operations", string(ops))
	w.WriteField("map", `{"0": ["variables.in.file"]}`)
	part, _ := w.CreateFormFile("0", filename)
	part.Write(content)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+"/graphql", &body)
	c.headers(req)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := httpClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data struct {
			UploadAvatar avatarPayload `json:"uploadAvatar"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) > 0 {
		c.t.Fatalf("upload %s: status %d: %s", filename, resp.StatusCode, raw)
	}
	return out.Data.UploadAvatar, resp.StatusCode
}

func pngImage(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 200, G: uint8(x), B: 80, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// webp1x1 is a 1x1 lossless WebP image.
const webp1x1 = "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=="

// imageOf returns a small real image of contentType.
func imageOf(t testing.TB, contentType string) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, 8, 8), color.Palette{color.White, color.Black})
	var b bytes.Buffer
	var err error
	switch contentType {
	case "image/jpeg":
		err = jpeg.Encode(&b, img, nil)
	case "image/gif":
		err = gif.Encode(&b, img, nil)
	case "image/webp":
		var raw []byte
		raw, err = base64.StdEncoding.DecodeString(webp1x1)
		b.Write(raw)
	default:
		t.Fatalf("no test image of %s", contentType)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const adjustMutation = `mutation($in: AdjustWalletInput!) { adjustWallet(input: $in) {
  wallet { balance blocked currency }
  transaction { id type amount balanceBefore balanceAfter description actor { email } createdAt }
  errors { field code message } } }`

type adjustPayload struct {
	Wallet *struct {
		Balance  string `json:"balance"`
		Blocked  string `json:"blocked"`
		Currency string `json:"currency"`
	} `json:"wallet"`
	Transaction *struct {
		ID            string `json:"id"`
		Type          string `json:"type"`
		Amount        string `json:"amount"`
		BalanceBefore string `json:"balanceBefore"`
		BalanceAfter  string `json:"balanceAfter"`
		Description   string `json:"description"`
		Actor         *struct {
			Email string `json:"email"`
		} `json:"actor"`
	} `json:"transaction"`
	Errors []userError `json:"errors"`
}

func adjust(t testing.TB, c *client, userID, typ, amount, key string) adjustPayload {
	t.Helper()
	var d struct{ AdjustWallet adjustPayload }
	c.MustData(adjustMutation, map[string]any{"in": map[string]any{
		"userId": userID, "type": typ, "amount": amount, "description": "test " + typ, "idempotencyKey": key,
	}}, &d)
	return d.AdjustWallet
}

const walletQuery = `{ wallet { balance blocked currency transactions(first: 100) { totalCount edges { node { type amount balanceBefore balanceAfter description actor { id } } } } } }`

type walletResult struct {
	Wallet struct {
		Balance      string `json:"balance"`
		Blocked      string `json:"blocked"`
		Currency     string `json:"currency"`
		Transactions struct {
			TotalCount int `json:"totalCount"`
			Edges      []struct {
				Node struct {
					Type          string `json:"type"`
					Amount        string `json:"amount"`
					BalanceBefore string `json:"balanceBefore"`
					BalanceAfter  string `json:"balanceAfter"`
					Description   string `json:"description"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"transactions"`
	} `json:"wallet"`
}

const sessionsQuery = `{ me { sessions { id userAgent ip current createdAt lastUsedAt expiresAt } } }`

type sessionsResult struct {
	Me struct {
		Sessions []struct {
			ID        string `json:"id"`
			UserAgent string `json:"userAgent"`
			IP        string `json:"ip"`
			Current   bool   `json:"current"`
		} `json:"sessions"`
	} `json:"me"`
}

const revokeSessionMutation = `mutation($id: ID!) { revokeSession(input: {id: $id}) { ok errors { field code } } }`

const auditQuery = `query($f: AuditEventFilter, $first: Int) { auditEvents(filter: $f, first: $first) {
  totalCount edges { node { action actor { email } target { email } ip userAgent details } } } }`

type auditResult struct {
	AuditEvents struct {
		TotalCount int `json:"totalCount"`
		Edges      []struct {
			Node struct {
				Action string `json:"action"`
				Actor  *struct {
					Email string `json:"email"`
				} `json:"actor"`
				Target *struct {
					Email string `json:"email"`
				} `json:"target"`
				IP        string `json:"ip"`
				UserAgent string `json:"userAgent"`
				Details   string `json:"details"`
			} `json:"node"`
		} `json:"edges"`
	} `json:"auditEvents"`
}

func (r auditResult) actions() []string {
	var out []string
	for _, e := range r.AuditEvents.Edges {
		out = append(out, e.Node.Action)
	}
	return out
}

// refused reports whether a refresh was refused as refreshTokens are:
// INVALID_TOKEN on the refreshToken field, and no tokens.
func refused(p authPayload) bool {
	return slices.Equal(codes(p.Errors), []string{"INVALID_TOKEN@input.refreshToken"}) && p.AccessToken == nil && p.RefreshToken == nil
}

// decode reads a response's data into dst.
func decode(r gqlResponse, dst any) error { return json.Unmarshal(r.Data, dst) }
