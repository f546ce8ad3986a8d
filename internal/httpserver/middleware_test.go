package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/auth"
)

func TestWithClientTrustsProxyHeadersOnlyWhenTold(t *testing.T) {
	cases := []struct {
		name     string
		trust    bool
		remote   string
		fwd      string
		wantIP   string
		userAgnt string
	}{
		{"direct", false, "198.51.100.9:5555", "", "198.51.100.9", "ua"},
		{"forwarded but not trusted", false, "198.51.100.9:5555", "203.0.113.1", "198.51.100.9", "ua"},
		{"trusted proxy: the last hop", true, "10.0.0.2:5555", "203.0.113.1, 192.0.2.4", "192.0.2.4", "ua"},
		{"trusted but not an address", true, "10.0.0.2:5555", "garbage", "10.0.0.2", "ua"},
		{"ipv6", false, "[2001:db8::1]:443", "", "2001:db8::1", strings.Repeat("u", 600)},
	}
	for _, tc := range cases {
		var got auth.Client
		h := withClient(tc.trust, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = auth.ClientFrom(r.Context()) }))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("User-Agent", tc.userAgnt)
		if tc.fwd != "" {
			r.Header.Set("X-Forwarded-For", tc.fwd)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got.IP != tc.wantIP || len(got.UserAgent) > maxUserAgent {
			t.Errorf("%s: client %q, user agent of %d bytes", tc.name, got.IP, len(got.UserAgent))
		}
	}
}

func TestGenericMiddleware(t *testing.T) {
	var deadline time.Time
	var hasDeadline bool
	h := securityHeaders(withTimeout(3*time.Second, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline, hasDeadline = r.Context().Deadline()
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !hasDeadline || time.Until(deadline) > 3*time.Second || time.Until(deadline) < time.Second {
		t.Errorf("request deadline %v (set: %v), want about 3 s from now", time.Until(deadline), hasDeadline)
	}
	for header, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := rec.Header().Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
}
