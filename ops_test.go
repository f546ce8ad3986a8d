package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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
