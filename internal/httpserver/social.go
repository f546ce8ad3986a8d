package httpserver

import (
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
)

// flowCookie names the cookie that ties a social sign-in flow to the
// browser that opened /auth/start/{flow}.
func flowCookie(flow uuid.UUID) string {
	return "usergraph_flow_" + strings.ReplaceAll(flow.String(), "-", "")
}

// socialStart binds a social sign-in flow to this browser (a cookie only
// /auth/callback/ receives, for 10 minutes) and sends the browser on to the
// provider. A flow that is unknown, expired or opened already goes back to
// the app (APP_URL) with ?error=INVALID_STATE.
func socialStart(accounts *account.Service, appURL string, secure bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		flow, err := uuid.Parse(r.PathValue("flow"))
		var binding, to string
		if err == nil {
			binding, to, err = accounts.SocialAuthorization(r.Context(), flow)
		}
		if err != nil {
			code := "SERVER_ERROR"
			if coded := apperr.Errors(err); len(coded) > 0 {
				switch coded[0].Code {
				case apperr.RateLimited, apperr.ProviderUnavailable:
					code = string(coded[0].Code)
				default:
					code = "INVALID_STATE"
				}
			}
			http.Redirect(w, r, appURL+"?error="+code, http.StatusSeeOther)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: flowCookie(flow), Value: binding, Path: "/auth/callback/", MaxAge: int(account.SocialFlowTTL.Seconds()),
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
		})
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}

// socialCallback is where providers return people: the account service
// checks the answer and says where the browser goes next (the app, with a
// one-time code or an error code).
func socialCallback(accounts *account.Service, secure bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		q := r.URL.Query()
		var used uuid.UUID
		to := accounts.SocialCallback(r.Context(), r.PathValue("provider"), q.Get("state"), q.Get("code"), q.Get("error"),
			func(flow uuid.UUID) string {
				used = flow
				c, err := r.Cookie(flowCookie(flow))
				if err != nil {
					return ""
				}
				return c.Value
			})
		if used != uuid.Nil {
			http.SetCookie(w, &http.Cookie{Name: flowCookie(used), Value: "", Path: "/auth/callback/", MaxAge: -1,
				HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}
