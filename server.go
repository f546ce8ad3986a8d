// Command usergraph is a user-management and identity server with a GraphQL
// API. Run `usergraph` (or `usergraph serve`) to serve, `usergraph migrate
// up|down|status` to manage the schema, and `usergraph createsuperuser` to
// add an administrator.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/httpserver"
)

// softMemoryLimit tunes the collector for this server. Its heap is small
// (about 10 MB) and short-lived garbage is most of what a request makes, so
// GOGC=200 halves the collections that cost authenticated requests CPU
// (`me` 4,939 -> 5,400-5,500 req/s, BENCHMARKS.md). The soft memory limit
// keeps that from growing the process: 48 MiB, plus 19 MiB for each argon2id
// hash running at once until a burst of sign-ins ends (auth.SetMemoryBudget),
// so sign-ins do not make the collector run against their own hash, and when
// the limit comes down the runtime collects their blocks and returns the
// memory. The limit is soft: it never fails an allocation. GOMEMLIMIT and
// GOGC, when set, decide instead.
func softMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		auth.SetMemoryBudget(48 << 20)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

//go:embed schema.graphqls
var schemaSDL []byte

func main() {
	softMemoryLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
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
  seed              fill an empty database with fake accounts for trying
                    the API or benchmarking: --users N [--batches M]
                    [--sessions K] [--password P] [--append]
  healthcheck       exit 0 when the local server (PORT) is ready (containers)
  keys rotate       a new signing key signs from now on (older keys stay
                    published, so no one is signed out)
  keys list         the signing keys and their state
  keys prune        remove keys retired longer than the access-token
                    lifetime ([--older-than D]; 0s ends their tokens now)

Settings come from the environment and ./.env (or the file named by ENV_FILE);
see .env.example.`

// run is the whole program; main only wires it to the process, so tests
// run it with their own arguments, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := "serve", []string{}
	if len(args) > 1 {
		cmd, rest = args[1], args[2:]
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	privateFiles()
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
		return createSuperuser(ctx, cfg, log, security, rest, getenv, stdin, stdout)
	case "seed":
		return seedCmd(ctx, cfg, log, security, rest, stdout)
	case "keys":
		return keysCmd(ctx, cfg, log, security, rest, stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg, stdout)
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(httpserver.LogRequestIDs(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
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
	return slog.New(httpserver.LogRequestIDs(slog.NewJSONHandler(f, nil))).With("log", "security"), func() { f.Close() }, nil
}
