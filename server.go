// Command usergraph is a user-management and identity server with a GraphQL
// API. Run `usergraph` (or `usergraph serve`) to serve; `usergraph help`
// lists the other commands (cli.go), each with its own --help.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
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

// run is the whole program; main only wires it to the process, so tests
// run it with their own arguments, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	name, rest := commandOf(args[1:])
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		fmt.Fprint(stdout, usage())
		return nil
	}
	cmd, ok := commands[name]
	if !ok {
		return fmt.Errorf("unknown command %q\n\n%s", name, usage())
	}
	fs := flag.NewFlagSet("usergraph "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; --help is printed below
	do := cmd.setup(fs)
	if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, cmd.help(name, fs))
		return nil
	} else if err != nil {
		return fmt.Errorf("%s: %w (usergraph %s --help)", name, err, name)
	}
	switch {
	case cmd.arg != "" && fs.NArg() != 1:
		return fmt.Errorf("%s: give one %s (usergraph %s --help)", name, cmd.arg, name)
	case cmd.arg == "" && fs.NArg() > 0:
		return fmt.Errorf("%s: unexpected argument %q (usergraph %s --help)", name, fs.Arg(0), name)
	}
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, arg: fs.Arg(0)}
	if cmd.config {
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
		e.cfg, e.log, e.security = cfg, log, security
	}
	return do(ctx, e)
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
