package httpserver

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/auth"
)

func TestWithClientBelievesOnlyTrustedProxies(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.0.0.0/8")
	_, proxies6, _ := net.ParseCIDR("fd00::/8")
	trusted := []*net.IPNet{proxies, proxies6}
	cases := []struct {
		name, remote, fwd, wantIP, userAgent string
	}{
		{"direct", "198.51.100.9:5555", "", "198.51.100.9", "ua"},
		{"forwarded by an untrusted peer", "198.51.100.9:5555", "203.0.113.1", "198.51.100.9", "ua"},
		{"one trusted proxy", "10.0.0.2:5555", "203.0.113.1", "203.0.113.1", "ua"},
		{"a spoofed left entry is ignored", "10.0.0.2:5555", "1.2.3.4, 203.0.113.1", "203.0.113.1", "ua"},
		{"two trusted proxies", "10.0.0.2:5555", "1.2.3.4, 203.0.113.1, 10.0.0.7", "203.0.113.1", "ua"},
		{"trusted IPv6 proxy", "[fd00::1]:443", "2001:db8::5", "2001:db8::5", "ua"},
		{"not an address", "10.0.0.2:5555", "garbage", "10.0.0.2", "ua"},
		{"long user agent", "[2001:db8::1]:443", "", "2001:db8::1", strings.Repeat("u", 600)},
	}
	for _, tc := range cases {
		var got auth.Client
		h := withClient(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = auth.ClientFrom(r.Context()) }))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("User-Agent", tc.userAgent)
		if tc.fwd != "" {
			r.Header.Set("X-Forwarded-For", tc.fwd)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got.IP != tc.wantIP || len(got.UserAgent) > maxUserAgent {
			t.Errorf("%s: client %q, user agent of %d bytes", tc.name, got.IP, len(got.UserAgent))
		}
	}
}

// X-Forwarded-Proto says https only from a trusted proxy; from anyone
// else the origin is what the connection itself was.
func TestForwardedProtoOnlyFromTrustedProxies(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.0.0.0/8")
	for _, tc := range []struct{ name, remote, proto, want string }{
		{"a trusted proxy behind TLS", "10.0.0.2:5555", "https", "https://api.example"},
		{"an untrusted peer", "198.51.100.9:5555", "https", "http://api.example"},
		{"a trusted proxy, plain", "10.0.0.2:5555", "", "http://api.example"},
	} {
		var got auth.Client
		h := withClient([]*net.IPNet{proxies}, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = auth.ClientFrom(r.Context()) }))
		r := httptest.NewRequest(http.MethodGet, "http://api.example/", nil)
		r.RemoteAddr = tc.remote
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got.Origin != tc.want {
			t.Errorf("%s: origin %q, want %q", tc.name, got.Origin, tc.want)
		}
	}
}

func TestGenericMiddleware(t *testing.T) {
	var deadline time.Time
	var hasDeadline bool
	h := securityHeaders(8760*time.Hour, withTimeout(3*time.Second, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline, hasDeadline = r.Context().Deadline()
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !hasDeadline || time.Until(deadline) > 3*time.Second || time.Until(deadline) < time.Second {
		t.Errorf("request deadline %v (set: %v), want about 3 s from now", time.Until(deadline), hasDeadline)
	}
	for header, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		"Strict-Transport-Security": "max-age=31536000"} {
		if got := rec.Header().Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
}
