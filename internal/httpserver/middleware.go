package httpserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
)

type authErrorKey struct{}

func authErrorFrom(ctx context.Context) *gqlerror.Error {
	e, _ := ctx.Value(authErrorKey{}).(*gqlerror.Error)
	return e
}

// authenticate reads the bearer token. No header: an anonymous request. A
// token that does not verify, or whose session ended or whose user was
// deactivated: the request carries an UNAUTHENTICATED error that fails any
// GraphQL operation. Otherwise the viewer is put in the context.
func authenticate(log *slog.Logger, tokens *auth.Issuer, accounts *account.Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		scheme, token, _ := strings.Cut(header, " ")
		viewer, err := auth.Viewer{}, error(apperr.ErrUnauthenticated)
		if strings.EqualFold(scheme, "Bearer") && token != "" {
			if claims, verr := tokens.Verify(strings.TrimSpace(token)); verr == nil {
				viewer, err = accounts.Authenticate(ctx, claims)
			}
		}
		if err != nil {
			msg, code := "Invalid or expired access token.", apperr.Unauthenticated
			if !isCoded(err) {
				msg, code = "Internal error.", apperr.Internal
				log.ErrorContext(ctx, "authenticate", "error", err.Error())
			}
			ctx = context.WithValue(ctx, authErrorKey{}, &gqlerror.Error{
				Message: msg, Extensions: map[string]any{"code": string(code)},
			})
		} else {
			ctx = auth.WithViewer(ctx, viewer)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func isCoded(err error) bool { return len(apperr.Errors(err)) > 0 }

// withClient records the client's address and user agent. X-Forwarded-For
// is trusted only when configured (behind a proxy that sets it); then the
// last address in it, the one the proxy saw, is the client.
func withClient(trustProxy bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		if fwd := r.Header.Get("X-Forwarded-For"); trustProxy && fwd != "" {
			parts := strings.Split(fwd, ",")
			if last := strings.TrimSpace(parts[len(parts)-1]); net.ParseIP(last) != nil {
				ip = last
			}
		}
		ctx := auth.WithClient(r.Context(), auth.Client{IP: ip, UserAgent: userAgent(r)})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
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

// limitBody caps request bodies: multipart uploads at maxUpload, the rest
// at maxBytes.
func limitBody(maxBytes, maxUpload int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := maxBytes
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			limit = maxUpload
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
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

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
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

// logRequests writes one JSON line per request. Only the path is logged, never
// the query string, headers or body, which may carry tokens or passwords.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
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

// codedErrors gives a BAD_REQUEST extensions.code to the errors gqlgen's
// transports write themselves for requests they cannot read (a body that is
// not JSON, too large, a mutation over GET): those never reach the error
// presenter. Only error responses (status 400 and up) are buffered.
func codedErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &errorCodeWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		cw.finish()
	})
}

type errorCodeWriter struct {
	http.ResponseWriter
	status int
	buf    []byte
}

func (w *errorCodeWriter) WriteHeader(code int) {
	w.status = code
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *errorCodeWriter) Write(b []byte) (int, error) {
	if w.status < 400 {
		return w.ResponseWriter.Write(b)
	}
	w.buf = append(w.buf, b...)
	return len(b), nil
}

func (w *errorCodeWriter) finish() {
	if w.status < 400 {
		return
	}
	var resp struct {
		Errors []map[string]any `json:"errors"`
		Data   any              `json:"data"`
	}
	if json.Unmarshal(w.buf, &resp) == nil && len(resp.Errors) > 0 {
		for _, e := range resp.Errors {
			ext, _ := e["extensions"].(map[string]any)
			if ext == nil {
				ext = map[string]any{}
				e["extensions"] = ext
			}
			if _, ok := ext["code"]; !ok {
				ext["code"] = string(apperr.BadRequest)
			}
		}
		if b, err := json.Marshal(resp); err == nil {
			w.buf = b
		}
	}
	w.ResponseWriter.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(w.status)
	w.ResponseWriter.Write(w.buf)
}
