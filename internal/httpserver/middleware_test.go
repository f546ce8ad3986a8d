package httpserver

import (
	"context"
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
		h := withClient(trusted, "", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = auth.ClientFrom(r.Context()) }))
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

// The origin of this server in answers (discovery, avatar URLs) is
// PUBLIC_URL; without it, what a trusted proxy forwards (X-Forwarded-Proto,
// X-Forwarded-Host, Host), else the address the connection reached. A Host
// or X-Forwarded-* header from anyone else is never believed.
func TestOriginNeverComesFromAnUntrustedHeader(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.0.0.0/8")
	local := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080}
	for _, tc := range []struct {
		name, public, remote string
		header               map[string]string
		want                 string
		configured           bool
	}{
		{"PUBLIC_URL", "https://id.example/", "198.51.100.9:5555", map[string]string{"Host": "evil.example"}, "https://id.example", true},
		{"a direct client's Host", "", "198.51.100.9:5555", map[string]string{"Host": "evil.example"}, "http://192.0.2.10:8080", false},
		{"a direct client's X-Forwarded-*", "", "198.51.100.9:5555",
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}, "http://192.0.2.10:8080", false},
		{"a trusted proxy behind TLS", "", "10.0.0.2:5555", map[string]string{"Host": "id.example", "X-Forwarded-Proto": "https"}, "https://id.example", false},
		{"a trusted proxy's forwarded host", "", "10.0.0.2:5555",
			map[string]string{"Host": "internal:8080", "X-Forwarded-Host": "id.example"}, "http://id.example", false},
		{"a trusted proxy forwarding garbage", "", "10.0.0.2:5555", map[string]string{"Host": "a b/c"}, "http://192.0.2.10:8080", false},
	} {
		var got auth.Client
		h := withClient([]*net.IPNet{proxies}, tc.public, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = auth.ClientFrom(r.Context()) }))
		r := httptest.NewRequest(http.MethodGet, "http://x/", nil)
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
		r.RemoteAddr = tc.remote
		for k, v := range tc.header {
			if k == "Host" {
				r.Host = v
			} else {
				r.Header.Set(k, v)
			}
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got.Origin != tc.want || got.OriginConfigured != tc.configured {
			t.Errorf("%s: origin %q (configured %v), want %q (%v)", tc.name, got.Origin, got.OriginConfigured, tc.want, tc.configured)
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
