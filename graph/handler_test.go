package graph

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPlaygroundPolicy(t *testing.T) {
	for _, tc := range []struct {
		assets, origin, absent string
	}{
		{"", "https://cdn.jsdelivr.net", "assets.example.com"},
		{"https://assets.example.com/graphiql/", "https://assets.example.com", "cdn.jsdelivr.net"},
	} {
		rec := httptest.NewRecorder()
		Playground("/graphql", tc.assets).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		page, csp := rec.Body.String(), rec.Header().Get("Content-Security-Policy")
		scripts := inlineScript.FindAllStringSubmatch(page, -1)
		if len(scripts) == 0 || !strings.Contains(page, "GraphiQL") {
			t.Fatalf("assets %q: no inline script in the page", tc.assets)
		}
		for _, m := range scripts {
			sum := sha256.Sum256([]byte(m[1]))
			if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
				t.Errorf("assets %q: the inline script's hash is not allowed: %s", tc.assets, csp)
			}
		}
		for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'", tc.origin} {
			if !strings.Contains(csp, want) {
				t.Errorf("assets %q: policy lacks %q: %s", tc.assets, want, csp)
			}
		}
		if strings.Contains(csp, tc.absent) || strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "script-src 'unsafe-inline'") {
			t.Errorf("assets %q: policy too wide: %s", tc.assets, csp)
		}
	}
}
