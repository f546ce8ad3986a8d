// The GraphQL over HTTP specification, as clients rely on it: which media
// type and status an answer has, so Apollo Client, urql and the rest read
// GraphQL errors as GraphQL errors. (CI also runs the graphql-http package's
// audit against a running server: .ci/graphql-http.)

package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

func TestAnswersFollowGraphQLOverHTTP(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		post := func(accept, body string) (gqlResponse, string, http.Header) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r, raw := readAnswer(t, resp)
			return r, raw, resp.Header
		}
		const unknownField = `{"query": "{ nope }"}`
		for _, tc := range []struct {
			name, accept, body string
			status             int
			mediaType          string
			dataEntry          bool
		}{
			{"a query that does not validate, as JSON", "application/json", unknownField, 200, "application/json", false},
			{"the same without Accept", "", unknownField, 200, "application/json", false},
			{"the same accepting anything", "*/*", unknownField, 200, "application/json", false},
			{"the same as graphql-response+json", "application/graphql-response+json", unknownField, 400, "application/graphql-response+json", false},
			{"Apollo Client 4's Accept", "application/graphql-response+json,application/json;q=0.9", unknownField, 400, "application/graphql-response+json", false},
			{"a query that does not parse", "application/graphql-response+json", `{"query": "{ me {"}`, 400, "application/graphql-response+json", false},
			{"variables that do not fit", "application/graphql-response+json", `{"query": "query($n: Int) { users(first: $n) { totalCount } }", "variables": {"n": "x"}}`, 400, "application/graphql-response+json", false},
			{"a query that runs", "application/graphql-response+json", `{"query": "{ __typename }"}`, 200, "application/graphql-response+json", true},
			{"a query that runs into an error", "application/graphql-response+json", `{"query": "{ me { id } }"}`, 200, "application/graphql-response+json", true},
			{"a body that is not JSON", "application/json", `{"query": `, 400, "application/json", false},
			{"no query", "application/graphql-response+json", `{"variables": {}}`, 400, "application/graphql-response+json", false},
		} {
			r, raw, h := post(tc.accept, tc.body)
			ct := h.Get("Content-Type")
			if r.Status != tc.status || !strings.HasPrefix(ct, tc.mediaType+"; charset=utf-8") || strings.Contains(raw, `"data"`) != tc.dataEntry {
				t.Errorf("%s: %d %s %s; want %d %s, data entry %v", tc.name, r.Status, ct, raw, tc.status, tc.mediaType, tc.dataEntry)
			}
			if r.Status != 200 || tc.name == "a query that runs into an error" || strings.Contains(tc.name, "validate") {
				if r.Code() == "" {
					t.Errorf("%s: an error without extensions.code: %s", tc.name, raw)
				}
			}
		}
		if r, _, _ := post("text/html", unknownField); r.Status != http.StatusNotAcceptable || r.Code() != "BAD_REQUEST" {
			t.Errorf("Accept: text/html: %d %+v, want 406", r.Status, r.Errors)
		}
		resp, err := httpClient.Get(srv.URL + "/graphql?query=" + "mutation%7B__typename%7D")
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := readAnswer(t, resp); r.Status != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("a mutation in a GET: %d, Allow %q; want 405, POST", r.Status, resp.Header.Get("Allow"))
		}
	})
}
