package httpserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/metrics"
)

// authenticate reads the bearer token. No header, or "Bearer" with no
// token (the playground's headers template before a token is pasted in):
// an anonymous request. A
// token that does not verify, or whose session ended or whose user was
// deactivated: the request carries an UNAUTHENTICATED failure (auth.WithFailure)
// that fails any GraphQL operation. Otherwise the viewer is put in the context.
func authenticate(log *slog.Logger, tokens *auth.Issuer, accounts *account.Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := strings.TrimSpace(r.Header.Get("Authorization"))
		if header == "" || strings.EqualFold(header, "Bearer") {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		scheme, token, _ := strings.Cut(header, " ")
		err := error(errBadToken)
		if strings.EqualFold(scheme, "Bearer") && token != "" {
			if claims, verr := tokens.Verify(strings.TrimSpace(token)); verr == nil {
				ctx, err = accounts.Authenticate(ctx, claims)
			}
		}
		switch {
		case err == nil:
		case isCoded(err):
			ctx = auth.WithFailure(ctx, errBadToken)
		default:
			log.ErrorContext(ctx, "authenticate", "error", err.Error())
			ctx = auth.WithFailure(ctx, apperr.New(apperr.Internal, "Internal error."))
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

var errBadToken = apperr.New(apperr.Unauthenticated, "Invalid or expired access token.")

func isCoded(err error) bool { return len(apperr.Errors(err)) > 0 }

// withClient records the client's address and user agent, and this
// server's origin for the answer. X-Forwarded-For is believed only from a
// trusted proxy: then the client is the right-most address in it that is
// not a trusted proxy too (entries to its left can be written by anyone).
// publicURL is PUBLIC_URL ("" when unset).
func withClient(trusted []*net.IPNet, publicURL string, next http.Handler) http.Handler {
	isTrusted := func(ip net.IP) bool {
		for _, n := range trusted {
			if ip != nil && n.Contains(ip) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		if fwd := r.Header.Values("X-Forwarded-For"); len(fwd) > 0 && isTrusted(net.ParseIP(ip)) {
			hops := strings.Split(strings.Join(fwd, ","), ",")
			for i := len(hops) - 1; i >= 0; i-- {
				hop := net.ParseIP(strings.TrimSpace(hops[i]))
				if hop == nil {
					break // not an address: stop at what the proxies vouched for
				}
				ip = hop.String()
				if !isTrusted(hop) {
					break
				}
			}
		}
		origin, configured := strings.TrimRight(publicURL, "/"), publicURL != ""
		if !configured {
			origin = ownOrigin(r, isTrusted(net.ParseIP(remoteIP(r))))
		}
		ctx := auth.WithClient(r.Context(), auth.Client{IP: ip, UserAgent: userAgent(r), Origin: origin, OriginConfigured: configured})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ownOrigin is this server's origin when PUBLIC_URL is not set: behind a
// trusted proxy, the scheme it forwarded and the host it was asked for
// (the operator's proxy routes only its own names); otherwise the address
// of the socket the request reached. Never a header an untrusted client
// writes: answers built on it (discovery, avatar URLs) could otherwise
// point other people at the client's choice.
func ownOrigin(r *http.Request, fromTrustedProxy bool) string {
	scheme := "http"
	if r.TLS != nil || fromTrustedProxy && r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	if fromTrustedProxy {
		host := r.Header.Get("X-Forwarded-Host")
		if host == "" {
			host = r.Host
		}
		if validHost(host) {
			return scheme + "://" + host
		}
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return scheme + "://" + addr.String()
	}
	return scheme + "://localhost"
}

// validHost accepts a host[:port] as DNS names and IP literals spell it.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return false
		}
	}
	return true
}

func remoteIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// maxUserAgent bounds the User-Agent kept with sessions and audit events.
const maxUserAgent = 512

func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	return ua
}

// withTimeout ends every request's context after timeout, so its database
// work and any wait for a password-hashing slot stop there.
func withTimeout(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// securityHeaders sets the headers every answer carries; hsts, when set,
// is the Strict-Transport-Security max-age.
func securityHeaders(hsts time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if hsts > 0 {
			h.Set("Strict-Transport-Security", "max-age="+strconv.Itoa(int(hsts.Seconds())))
		}
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests writes one JSON line per request, and counts its status in m.
// Only the path is logged, never the query string, headers or body, which
// may carry tokens or passwords.
func logRequests(log *slog.Logger, m *metrics.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		m.CountResponse(rec.status)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("ip", auth.ClientFrom(r.Context()).IP),
		)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
