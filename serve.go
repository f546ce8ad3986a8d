package main

// serve.go runs the HTTP server until the context ends, then shuts down.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/retention"
)

func serve(ctx context.Context, cfg config.Config, log, security *slog.Logger, stdout io.Writer) error {
	a, err := newApp(ctx, cfg, log, security)
	if err != nil {
		return err
	}
	defer a.db.Close()
	warnUnsealed(cfg, log)
	// Secrets stored before a key-encryption key existed are sealed now.
	if err := a.keyStore.ResealPlain(ctx); err != nil {
		return fmt.Errorf("sealing stored signing keys: %w", err)
	}
	if err := a.accounts.ResealPlainSecrets(ctx); err != nil {
		return fmt.Errorf("sealing stored authenticator secrets: %w", err)
	}
	changed, conflicts, err := a.accounts.NormalizeStoredContacts(ctx)
	if err != nil {
		return fmt.Errorf("normalizing stored emails and mobiles: %w", err)
	}
	if changed+conflicts > 0 {
		log.Info("stored emails and mobiles normalized", "changed", changed, "left_for_an_operator", conflicts)
	}
	if cfg.BootstrapAdminEmail != "" {
		created, err := a.accounts.EnsureBootstrapAdmin(ctx, bootstrapInput(cfg))
		if err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
		if created {
			log.Info("bootstrap administrator created", "email", cfg.BootstrapAdminEmail)
		}
	}

	if a.tracing != nil {
		defer func() { // send the last spans
			flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			a.tracing.Shutdown(flush)
		}()
	}
	m := a.newMetrics()
	handler := a.handler(cfg, log, m)
	// Background work: the mail outbox, the retention purge, and discovery
	// of sign-in providers until each answers.
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	workers.Go(func() { a.outbox.Run(workerCtx) })
	workers.Go(func() { a.providers.Run(workerCtx) })
	a.webhooks.Outcome = m.WebhookOutcome
	workers.Go(func() { a.webhooks.Run(workerCtx) })
	workers.Go(func() { reloadKeys(workerCtx, a.keys, cfg.KeysReloadInterval, log) })
	workers.Go(func() {
		retention.New(a.db, retention.Policy{
			Sessions: cfg.RetentionSessions, Tokens: cfg.RetentionTokens, Mail: cfg.RetentionMail,
			RateLimits: cfg.RetentionRateLimits, Interval: cfg.RetentionInterval,
		}, log).Run(workerCtx)
	})
	defer func() {
		stopWorker()
		workers.Wait()
	}()
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return err
	}
	// Every request's context derives from requestBase, so shutdown can stop
	// requests that outlive the drain.
	requestBase, stopRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRequests()
	srv := &http.Server{
		Handler:           handler,
		BaseContext:       func(net.Listener) context.Context { return requestBase },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Metrics listen first: when the API says it listens, they do too.
	if cfg.MetricsAddr != "" { // metrics on their own (private) address only
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		if cfg.MetricsPprof {
			mux.HandleFunc("GET /debug/pprof/", pprof.Index)
			mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
			mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		}
		metricsSrv := &http.Server{Addr: cfg.MetricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_ADDR=%s: %w", cfg.MetricsAddr, err)
		}
		go metricsSrv.Serve(mln)
		defer metricsSrv.Close()
		fmt.Fprintf(stdout, "usergraph metrics on http://%s/metrics\n", mln.Addr().String())
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	base := "http://localhost:" + portOf(ln.Addr())
	fmt.Fprintf(stdout, "usergraph listening on %s (GraphQL API: %s/graphql", base, base)
	if cfg.PlaygroundEnabled {
		fmt.Fprintf(stdout, ", playground: %s/", base)
	}
	fmt.Fprintln(stdout, ")")
	log.Info("listening", "addr", ln.Addr().String(), "database", dbKind(cfg))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		// Requests still running after the drain are cancelled, not waited on.
		log.Warn("shutdown: cancelling requests still running after the drain", "timeout", cfg.ShutdownTimeout.String())
		stopRequests()
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func bootstrapInput(cfg config.Config) account.AdminInput {
	return account.AdminInput{Email: cfg.BootstrapAdminEmail, Mobile: cfg.BootstrapAdminMobile, Password: cfg.BootstrapAdminPassword}
}

func portOf(addr net.Addr) string {
	_, port, _ := net.SplitHostPort(addr.String())
	return port
}

func dbKind(cfg config.Config) string {
	if cfg.UsesSQLite() {
		return "sqlite:" + cfg.SQLitePath()
	}
	return "postgres"
}

// reloadKeys reads the signing keys again every interval, so a rotation
// (`usergraph keys rotate` on any machine) reaches this replica without a
// restart. Keys from JWT_KEYS_FILE do not change.
func reloadKeys(ctx context.Context, keys *auth.Keys, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := keys.Reload(ctx); err != nil && ctx.Err() == nil {
				log.Error("reload signing keys", "error", err.Error())
			}
		}
	}
}
