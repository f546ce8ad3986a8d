package main

// app.go wires the services together: database, keys, mail, services, and
// the HTTP handler that serves them.

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/graph"
	"github.com/usergraph/usergraph/graph/limits"
	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/httpserver"
	"github.com/usergraph/usergraph/internal/keystore"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/usergraph/usergraph/internal/mail"
	"github.com/usergraph/usergraph/internal/media"
	"github.com/usergraph/usergraph/internal/metrics"
	"github.com/usergraph/usergraph/internal/ratelimit"
	"github.com/usergraph/usergraph/internal/social"
	"github.com/usergraph/usergraph/internal/wallet"
	"github.com/usergraph/usergraph/internal/webhook"
)

// keyEncryptionKey is KEY_ENCRYPTION_KEY. Without it, the embedded
// database keeps a generated one in a file of its own in DATA_DIR (0600),
// so a copy of the database file alone reveals no secret; PostgreSQL
// keeps secrets unencrypted (serve says so: warnUnsealed).
func keyEncryptionKey(cfg config.Config) (string, error) {
	switch {
	case cfg.KeyEncryptionKey != "":
		return cfg.KeyEncryptionKey, nil
	case cfg.UsesSQLite():
		kek, err := auth.LoadOrCreateSecret(cfg.KeyEncryptionKeyPath())
		if err != nil {
			return "", fmt.Errorf("the key-encryption key file (set KEY_ENCRYPTION_KEY, or let DATA_DIR=%s be written): %w", cfg.DataDir, err)
		}
		return kek, nil
	}
	return "", nil // serve warns (warnUnsealed)
}

// warnUnsealed says, once at start, that secrets are stored unencrypted.
func warnUnsealed(cfg config.Config, log *slog.Logger) {
	if cfg.KeyEncryptionKey == "" && !cfg.UsesSQLite() {
		log.Warn("KEY_ENCRYPTION_KEY is not set: private signing keys, authenticator secrets and queued emails are stored unencrypted in PostgreSQL; " +
			"set it (32+ random characters) and keep it outside the database's backups")
	}
}

func openDB(ctx context.Context, cfg config.Config) (*bun.DB, error) {
	if err := cfg.EnsureDataDir(); err != nil {
		return nil, err
	}
	var opts []db.Option
	if cfg.DatabasePooler == "transaction" {
		opts = append(opts, db.BehindTransactionPooler())
	}
	return db.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath(), opts...)
}

// loadKeys reads the signing keys: from JWT_KEYS_FILE when set, otherwise
// from the database (created on first start, or taken over from the key
// file earlier versions generated in DATA_DIR).
func loadKeys(ctx context.Context, cfg config.Config, store *keystore.Store) (*auth.Keys, error) {
	if cfg.JWTKeysFile != "" {
		return auth.LoadOrCreateKeys(cfg.JWTKeysFile, false)
	}
	if err := store.Ensure(ctx, cfg.LegacyKeysPath()); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return auth.FromStore(ctx, store.Load)
}

// app is what serve and createsuperuser share: the database and services.
type app struct {
	db       *bun.DB
	keys     *auth.Keys
	keyStore *keystore.Store
	hasher   *auth.Hasher
	limiter  *ratelimit.Limiter
	// playgroundAssets serves PLAYGROUND_ASSETS_DIR, when set.
	playgroundAssets http.Handler
	// tracing exports OpenTelemetry spans; nil when off.
	tracing  *sdktrace.TracerProvider
	tokens   *auth.Issuer
	outbox   *mail.Outbox
	audit    *audit.Log
	media    media.Store
	wallets  *wallet.Service
	accounts *account.Service
	batches  *batch.Service
	// providers are the other identity providers people sign in with.
	providers *social.Registry
	// webhooks delivers events to the app's backend (WEBHOOKS).
	webhooks *webhook.Hooks
}

func newApp(ctx context.Context, cfg config.Config, log, security *slog.Logger) (*app, error) {
	opening, err := wallet.ParseBalance(cfg.WalletOpeningBalance)
	if err != nil {
		return nil, fmt.Errorf("WALLET_OPENING_BALANCE=%q: %w", cfg.WalletOpeningBalance, err)
	}
	database, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m, err := db.NewMigrator(database)
	if err == nil {
		_, err = m.Up(ctx)
	}
	if err != nil {
		database.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	kek, err := keyEncryptionKey(cfg)
	if err != nil {
		database.Close()
		return nil, err
	}
	sealer, err := auth.NewSealer(kek)
	if err != nil {
		database.Close()
		return nil, err
	}
	tracing, err := newTracing(ctx, cfg)
	if err != nil {
		database.Close()
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	if tracing != nil {
		database.AddQueryHook(sqlTracing(tracing))
	}
	keyStore := keystore.New(database, sealer)
	keys, err := loadKeys(ctx, cfg, keyStore)
	if err != nil {
		database.Close()
		return nil, err
	}
	tokens := auth.NewIssuer(keys, cfg.Issuer(), cfg.JWTAudience, cfg.AccessTokenTTL)
	driver, err := mailDriver(cfg)
	if err != nil {
		database.Close()
		return nil, err
	}
	outbox := mail.NewOutbox(database, driver, mail.OutboxConfig{
		From: cfg.MailFrom, PollInterval: cfg.MailPollInterval, RetryBase: cfg.MailRetryBase, MaxAttempts: cfg.MailMaxAttempts,
		Sealer: sealer,
	}, log)
	auditLog := audit.New(database, security)
	wallets := wallet.NewService(database, auditLog, opening, cfg.WalletCurrency)
	var store media.Store = media.Disk{Dir: cfg.MediaPath()}
	if cfg.MediaStore == "s3" {
		if store, err = media.NewS3(ctx, media.S3Config{
			Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket, Prefix: cfg.S3Prefix,
			AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey, Insecure: cfg.S3Insecure,
		}); err != nil {
			database.Close()
			return nil, err
		}
	}
	var playgroundAssets http.Handler
	if cfg.PlaygroundEnabled && cfg.PlaygroundAssetsDir != "" {
		if playgroundAssets, err = graph.PlaygroundAssets(cfg.PlaygroundAssetsDir); err != nil {
			database.Close()
			return nil, err
		}
	}
	webhooks, err := webhooksFor(cfg, database, log)
	if err != nil {
		database.Close()
		return nil, err
	}
	auditLog.SetSink(webhooks)
	composer, err := composerFor(cfg)
	if err != nil {
		database.Close()
		return nil, err
	}
	hasher := auth.NewHasher(cfg.PasswordHashConcurrency, cfg.PasswordHashQueue, cfg.PasswordHashWait)
	limiter := ratelimit.New(database, nil)
	links := mail.LinkLifetimes{Setup: cfg.SetupLinkTTL, Reset: cfg.ResetLinkTTL, Verify: cfg.VerifyLinkTTL}
	var passkeys *webauthn.WebAuthn
	if rpID, origins := cfg.PasskeyRelyingParty(); rpID == "" {
		log.Warn("passkeys are off: APP_URL's host is an IP address, which browsers refuse as a passkey domain; set WEBAUTHN_RP_ID")
	} else if passkeys, err = account.NewWebAuthn(rpID, cfg.Issuer(), origins); err != nil {
		database.Close()
		return nil, fmt.Errorf("WEBAUTHN_RP_ID=%s, WEBAUTHN_RP_ORIGINS=%s: %w", rpID, strings.Join(origins, ","), err)
	}
	providers := social.NewRegistry(cfg.Providers, cfg.CallbackBase(), log, social.Options{})
	accounts := account.NewService(database, account.Deps{
		Tokens:    tokens,
		Passwords: hasher,
		Mail:      composer,
		Outbox:    outbox,
		Log:       log,
		Audit:     auditLog,
		Wallets:   wallets,
		Media:     store,
		Sealer:    sealer,
		Limiter:   limiter,
		Passkeys:  passkeys,
		Providers: providers,
	}, account.Policy{
		SocialBase:                 cfg.CallbackBase(),
		MetadataMaxBytes:           cfg.MetadataMaxBytes,
		MetadataInToken:            cfg.MetadataInToken,
		SocialRedirects:            append([]string{cfg.AppURL}, cfg.SigninRedirectURLs...),
		RefreshTTL:                 cfg.RefreshTokenTTL,
		LoginMaxFailures:           cfg.LoginMaxFailures,
		LoginFailureWindow:         cfg.LoginFailureWindow,
		LoginLockout:               cfg.LoginLockout,
		PerAddressPerMinute:        cfg.IPRequestsPerMin,
		RefreshPerAddressPerMinute: cfg.RefreshPerIPPerMinute,
		ResetEmailsPerHour:         cfg.ResetEmailsPerHour,
		VerifyEmailsPerHour:        cfg.VerifyEmailsPerHour,
		BulkProbesPerHour:          cfg.BulkProbesPerHour,
		MyDataPerHour:              cfg.MyDataPerHour,
		MFATokenTTL:                cfg.MFATokenTTL,
		Links:                      links,
		RequireVerifiedEmail:       cfg.RequireVerifiedEmail,
		MFAIssuer:                  cfg.Issuer(),
		AvatarMaxBytes:             cfg.AvatarMaxBytes,
		AvatarTypes:                cfg.AvatarTypes,
		AvatarMaxPixels:            cfg.AvatarMaxPixels,
	})
	return &app{
		db: database, keys: keys, keyStore: keyStore, tokens: tokens, hasher: hasher, limiter: limiter, playgroundAssets: playgroundAssets, tracing: tracing, outbox: outbox, audit: auditLog, media: store,
		wallets: wallets, accounts: accounts, providers: providers, webhooks: webhooks, batches: batch.NewService(database, auditLog),
	}, nil
}

// newMetrics registers the Prometheus metrics of a.
func (a *app) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Sources{
		DB: a.db.DB, HashesRunning: a.hasher.Running, HashesWaiting: a.hasher.Waiting,
		HashesTotal: a.hasher.Computed, HashesRefused: a.hasher.Refused, LimitRefusals: a.limiter.Refusals,
		Webhooks: a.webhooks.Counts,
		Outbox: func(ctx context.Context) (map[string]int, error) {
			var rows []struct {
				Status string `bun:"status"`
				N      int    `bun:"n"`
			}
			err := a.db.NewSelect().Table("mail_outbox").ColumnExpr("status, count(*) AS n").Group("status").Scan(ctx, &rows)
			out := map[string]int{}
			for _, r := range rows {
				out[r.Status] = r.N
			}
			return out, err
		},
	})
}

// handler is every route of usergraph: the GraphQL endpoint and playground
// from the graph package, mounted with the other routes by httpserver.
// Metrics, when not nil, are updated by every request; serve offers them
// on METRICS_ADDR only, never on the public port.
func (a *app) handler(cfg config.Config, log *slog.Logger, m *metrics.Metrics) http.Handler {
	res := &graph.Resolver{
		Accounts: a.accounts, BatchService: a.batches, Wallets: a.wallets, Audit: a.audit, Webhooks: a.webhooks,
		MediaURL: strings.TrimRight(cfg.PublicURL, "/") + "/media/", BatchWindow: cfg.GraphQLBatchWindow,
	}
	gql := graph.NewHandler(res, graph.HandlerConfig{
		MaxRequestBytes: cfg.MaxRequestBytes,
		// An avatar over AVATAR_MAX_BYTES is refused by the transport, with one
		// answer however it is sent (413 FILE_TOO_LARGE).
		MaxUploadBytes: cfg.AvatarMaxBytes,
		Limits: limits.Limits{
			Tokens: cfg.QueryMaxTokens, Fields: cfg.QueryMaxFields, Depth: cfg.QueryMaxDepth,
			Aliases: cfg.QueryMaxAliases, Complexity: cfg.QueryMaxComplex, Mutations: cfg.QueryMaxMutations,
		},
		Introspection: cfg.IntrospectionEnabled,
		Log:           log,
		Observer:      m,
		Tracer:        a.tracer(),
	})
	var playground, assets http.Handler
	if cfg.PlaygroundEnabled {
		assetsURL := cfg.PlaygroundAssetsURL
		if cfg.PlaygroundAssetsDir != "" {
			assetsURL = "/playground"
			assets = a.playgroundAssets
		}
		playground = graph.Playground("/graphql", assetsURL)
	}
	h := httpserver.NewServer(httpserver.Deps{
		TrustedProxies: cfg.TrustedNetworks(),
		Config:         cfg, Log: log, DB: a.db, Accounts: a.accounts, Media: a.media, Tokens: a.tokens, Keys: a.keys,
		GraphQL: gql, Playground: playground, RequestHeaders: graph.RequestHeaders, SchemaSDL: schemaSDL,
		Metrics: m, PlaygroundAssets: assets,
	})
	if a.tracing != nil {
		h = traceHTTP(a.tracing, h)
	}
	return h
}

// tracer is the GraphQL handler's tracer, nil when tracing is off.
func (a *app) tracer() trace.Tracer {
	if a.tracing == nil {
		return nil
	}
	return a.tracing.Tracer("github.com/usergraph/usergraph/graph")
}

func mailDriver(cfg config.Config) (mail.Driver, error) {
	switch cfg.MailDriver {
	case "smtp":
		c := mail.SMTPConfig{
			Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword, TLS: cfg.SMTPTLS,
		}
		if cfg.SMTPCAFile != "" {
			pem, err := os.ReadFile(cfg.SMTPCAFile)
			if err != nil {
				return nil, fmt.Errorf("SMTP_CA_FILE: %w", err)
			}
			c.RootCAs = x509.NewCertPool()
			if !c.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("SMTP_CA_FILE %s holds no PEM certificate", cfg.SMTPCAFile)
			}
		}
		return mail.NewSMTPDriver(c)
	case "resend":
		return mail.NewResendDriver(cfg.ResendAPIKey, cfg.ResendAPIURL)
	}
	return mail.FileDriver{Dir: cfg.MailPath()}, nil
}

// composerFor composes the emails with the built-in templates, or with the
// app's own from MAIL_TEMPLATES_DIR (checked now: a broken one stops the
// start with its file and line).
func composerFor(cfg config.Config) (mail.Composer, error) {
	links := mail.LinkLifetimes{Setup: cfg.SetupLinkTTL, Reset: cfg.ResetLinkTTL, Verify: cfg.VerifyLinkTTL}
	c := mail.NewComposer(cfg.AppURL, links)
	if cfg.MailTemplatesDir == "" {
		return c, nil
	}
	t, err := mail.LoadTemplates(cfg.MailTemplatesDir)
	if err != nil {
		return c, err
	}
	return c.WithTemplates(t), nil
}

// webhooksFor prepares the WEBHOOKS endpoints (checked now: a bad URL,
// secret or event type stops the start).
func webhooksFor(cfg config.Config, database *bun.DB, log *slog.Logger) (*webhook.Hooks, error) {
	endpoints := make([]webhook.Endpoint, len(cfg.WebhookEndpoints))
	for i, e := range cfg.WebhookEndpoints {
		endpoints[i] = webhook.Endpoint{ID: e.ID, URL: e.URL, Secret: e.Secret, Events: e.Events}
	}
	return webhook.New(database, webhook.Config{Endpoints: endpoints, Timeout: cfg.WebhookTimeout,
		MaxAttempts: cfg.WebhookMaxAttempts, RetryBase: cfg.WebhookRetryBase, PollInterval: cfg.WebhookPollInterval,
		AllowLocal: cfg.WebhookAllowLocal}, log)
}
