// Command usergraph is a user-management and identity server with a GraphQL
// API. Run `usergraph` (or `usergraph serve`) to serve, `usergraph migrate
// up|down|status` to manage the schema, and `usergraph createsuperuser` to
// add an administrator.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/term"

	"github.com/usergraph/usergraph/graph"
	"github.com/usergraph/usergraph/graph/limits"
	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/httpserver"
	"github.com/usergraph/usergraph/internal/mail"
	"github.com/usergraph/usergraph/internal/media"
	"github.com/usergraph/usergraph/internal/ratelimit"
	"github.com/usergraph/usergraph/internal/wallet"
)

//go:embed schema.graphqls
var schemaSDL []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "usergraph:", err)
		os.Exit(1)
	}
}

const usage = `usage: usergraph [command]

commands:
  serve             run the server (the default)
  migrate up        apply pending database migrations
  migrate down      roll back the last group of migrations
  migrate status    list migrations and whether each is applied
  createsuperuser   create an administrator:
                    --email E --mobile M [--first-name F --last-name L]
                    [--password-stdin]  (otherwise prompts on the terminal)

Settings come from the environment and ./.env (or the file named by ENV_FILE);
see .env.example.`

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, rest := "serve", []string{}
	if len(args) > 1 {
		cmd, rest = args[1], args[2:]
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	envFile := getenv("ENV_FILE")
	if envFile == "" {
		envFile = ".env"
	}
	cfg, err := config.Load(getenv, envFile)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	security, closeSecurity, err := securityLogger(cfg, log)
	if err != nil {
		return err
	}
	defer closeSecurity()
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, security, stdout)
	case "migrate":
		return migrateCmd(ctx, cfg, rest, stdout)
	case "createsuperuser":
		return createSuperuser(ctx, cfg, log, security, rest, getenv, stdout)
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// securityLogger is where security events go besides the audit table:
// SECURITY_LOG=stderr shares the main log (marked log=security), anything
// else is a file that JSON lines are appended to.
func securityLogger(cfg config.Config, log *slog.Logger) (*slog.Logger, func(), error) {
	if cfg.SecurityLog == "stderr" {
		return log.With("log", "security"), func() {}, nil
	}
	f, err := os.OpenFile(cfg.SecurityLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("SECURITY_LOG: %w", err)
	}
	return slog.New(slog.NewJSONHandler(f, nil)).With("log", "security"), func() { f.Close() }, nil
}

func openDB(ctx context.Context, cfg config.Config) (*bun.DB, error) {
	if err := cfg.EnsureDataDir(); err != nil {
		return nil, err
	}
	return db.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath())
}

// app is what serve and createsuperuser share: the database and services.
type app struct {
	db       *bun.DB
	keys     *auth.Keys
	tokens   *auth.Issuer
	outbox   *mail.Outbox
	audit    *audit.Log
	media    media.Store
	wallets  *wallet.Service
	accounts *account.Service
	batches  *batch.Service
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
	keys, err := auth.LoadOrCreateKeys(cfg.KeysPath(), cfg.JWTKeysFile == "")
	if err != nil {
		database.Close()
		return nil, err
	}
	tokens := auth.NewIssuer(keys, cfg.JWTIssuer, cfg.JWTAudience, cfg.AccessTokenTTL)
	driver, err := mailDriver(cfg)
	if err != nil {
		database.Close()
		return nil, err
	}
	outbox := mail.NewOutbox(database, driver, mail.OutboxConfig{
		From: cfg.MailFrom, PollInterval: cfg.MailPollInterval, RetryBase: cfg.MailRetryBase, MaxAttempts: cfg.MailMaxAttempts,
	}, log)
	auditLog := audit.New(database, security)
	wallets := wallet.NewService(database, auditLog, opening, cfg.WalletCurrency)
	store := media.Disk{Dir: cfg.MediaPath()}
	perIP := ratelimit.Rule{Limit: cfg.IPRequestsPerMin, Window: time.Minute}
	perAccount := ratelimit.Rule{Limit: cfg.LoginMaxFailures, Window: 15 * time.Minute, Lockout: cfg.LoginLockout}
	accounts := account.NewService(database, account.Config{
		Tokens:     tokens,
		Passwords:  auth.NewHasher(cfg.PasswordHashConcurrency, cfg.PasswordHashQueue, cfg.PasswordHashWait),
		RefreshTTL: cfg.RefreshTokenTTL,
		Limits: account.Limits{
			LoginPerAccount:       perAccount,
			LoginPerIP:            perIP,
			PasswordChangePerUser: perAccount,
			TokenPerIP:            perIP,
			RegisterPerIP:         perIP,
			RefreshPerIP:          ratelimit.Rule{Limit: 6 * cfg.IPRequestsPerMin, Window: time.Minute},
			ResetPerIP:            perIP,
			ResetPerEmail:         ratelimit.Rule{Limit: 3, Window: time.Hour},
		},
		Mail:           mail.NewComposer(cfg.AppURL),
		MailSent:       outbox.Notify,
		Log:            log,
		Audit:          auditLog,
		Wallets:        wallets,
		Media:          store,
		AvatarMaxBytes: cfg.AvatarMaxBytes,
		AvatarTypes:    cfg.AvatarTypes,
	})
	return &app{
		db: database, keys: keys, tokens: tokens, outbox: outbox, audit: auditLog, media: store,
		wallets: wallets, accounts: accounts, batches: batch.NewService(database, auditLog),
	}, nil
}

// handler is every route of usergraph: the GraphQL endpoint and playground
// from the graph package, mounted with the other routes by httpserver.
func (a *app) handler(cfg config.Config, log *slog.Logger) http.Handler {
	res := &graph.Resolver{
		Accounts: a.accounts, BatchService: a.batches, Wallets: a.wallets, Audit: a.audit,
		MediaURL: strings.TrimRight(cfg.PublicURL, "/") + "/media/",
	}
	gql := graph.NewHandler(res, graph.HandlerConfig{
		MaxRequestBytes: cfg.MaxRequestBytes,
		// Room for an oversized avatar, so its sender gets a FILE_TOO_LARGE
		// payload error rather than a refused request, up to twice the limit.
		MaxUploadBytes: 2 * cfg.AvatarMaxBytes,
		Limits: limits.Limits{
			Tokens: cfg.QueryMaxTokens, Fields: cfg.QueryMaxFields, Depth: cfg.QueryMaxDepth,
			Aliases: cfg.QueryMaxAliases, Complexity: cfg.QueryMaxComplex, Mutations: cfg.QueryMaxMutations,
		},
		Introspection: cfg.IntrospectionEnabled,
		Log:           log,
	})
	var playground http.Handler
	if cfg.PlaygroundEnabled {
		playground = graph.Playground("/graphql", cfg.PlaygroundAssetsURL)
	}
	return httpserver.NewServer(httpserver.Deps{
		Config: cfg, Log: log, DB: a.db, Accounts: a.accounts, Media: a.media, Tokens: a.tokens, Keys: a.keys,
		GraphQL: gql, Playground: playground, RequestHeaders: graph.RequestHeaders, SchemaSDL: schemaSDL,
	})
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

func serve(ctx context.Context, cfg config.Config, log, security *slog.Logger, stdout io.Writer) error {
	a, err := newApp(ctx, cfg, log, security)
	if err != nil {
		return err
	}
	defer a.db.Close()
	if cfg.BootstrapAdminEmail != "" {
		created, err := a.accounts.EnsureBootstrapAdmin(ctx, bootstrapInput(cfg))
		if err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
		if created {
			log.Info("bootstrap administrator created", "email", cfg.BootstrapAdminEmail)
		}
	}

	handler := a.handler(cfg, log)
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		a.outbox.Run(workerCtx)
	}()
	defer func() {
		stopWorker()
		<-workerDone
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

func migrateCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: usergraph migrate up|down|status")
	}
	database, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer database.Close()
	m, err := db.NewMigrator(database)
	if err != nil {
		return err
	}
	var names []string
	switch args[0] {
	case "up":
		names, err = m.Up(ctx)
	case "down":
		names, err = m.Down(ctx)
	case "status":
		return m.Status(ctx, stdout)
	default:
		return errors.New("usage: usergraph migrate up|down|status")
	}
	for _, n := range names {
		fmt.Fprintf(stdout, "%s %s\n", args[0], n)
	}
	if err == nil && len(names) == 0 {
		fmt.Fprintln(stdout, "nothing to do")
	}
	return err
}

func createSuperuser(ctx context.Context, cfg config.Config, log, security *slog.Logger, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("createsuperuser", flag.ContinueOnError)
	var in account.AdminInput
	fs.StringVar(&in.Email, "email", "", "email address (required)")
	fs.StringVar(&in.Mobile, "mobile", "", "mobile number (required)")
	fs.StringVar(&in.FirstName, "first-name", "", "first name")
	fs.StringVar(&in.LastName, "last-name", "", "last name")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	password, err := readPassword(*fromStdin, getenv, stdout)
	if err != nil {
		return err
	}
	in.Password = password
	a, err := newApp(ctx, cfg, log, security)
	if err != nil {
		return err
	}
	defer a.db.Close()
	u, err := a.accounts.CreateAdmin(ctx, in)
	if problems := apperr.Errors(err); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = "  " + strings.Join(p.Field, ".") + ": " + p.Message
		}
		return fmt.Errorf("administrator not created:\n%s", strings.Join(msgs, "\n"))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "administrator %s created (id %s)\n", u.Email, u.ID)
	return nil
}

// readPassword takes the password from standard input (first line), from
// CREATESUPERUSER_PASSWORD, or from a terminal prompt asked twice.
func readPassword(fromStdin bool, getenv func(string) string, stdout io.Writer) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	if pw := getenv("CREATESUPERUSER_PASSWORD"); pw != "" {
		return pw, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New("no terminal to prompt for the password: use --password-stdin or CREATESUPERUSER_PASSWORD")
	}
	fmt.Fprint(stdout, "Password: ")
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(stdout)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stdout, "Password (again): ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(stdout)
	if err != nil {
		return "", err
	}
	if string(first) != string(second) {
		return "", errors.New("the two passwords didn't match")
	}
	return string(first), nil
}
