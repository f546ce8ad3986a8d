package main

// cli.go holds the subcommands besides serve: migrate, createsuperuser and seed.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/seed"
)

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

func createSuperuser(ctx context.Context, cfg config.Config, log, security *slog.Logger, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
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
	password, err := readPassword(*fromStdin, getenv, stdin, stdout)
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
func readPassword(fromStdin bool, getenv func(string) string, stdin io.Reader, stdout io.Writer) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	if pw := getenv("CREATESUPERUSER_PASSWORD"); pw != "" {
		return pw, nil
	}
	tty, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(tty.Fd())) {
		return "", errors.New("no terminal to prompt for the password: use --password-stdin or CREATESUPERUSER_PASSWORD")
	}
	fd := int(tty.Fd())
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

// seedCmd fills the database with fake accounts (see internal/seed), with a
// progress bar on a terminal and a line per tenth otherwise.
func seedCmd(ctx context.Context, cfg config.Config, log, security *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o seed.Options
	fs.IntVar(&o.Users, "users", 1000, "accounts to create, business ones included")
	fs.IntVar(&o.Batches, "batches", 0, "B2B batches (a tenth as many B2B admins own them; a fifth of the users join them)")
	fs.IntVar(&o.Sessions, "sessions", 0, "sessions (sign-ins) spread over the users")
	password := fs.String("password", "Seeded-Password-1", "the password every seeded account signs in with")
	fs.BoolVar(&o.Append, "append", false, "add to a database that already has users")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("seed: unexpected argument %q", fs.Arg(0))
	}
	a, err := newApp(ctx, cfg, log, security)
	if err != nil {
		return err
	}
	defer a.db.Close()
	o.PasswordHash, err = auth.NewHasher(1, 1, time.Minute).Hash(ctx, *password)
	if err != nil {
		return err
	}
	o.Opening = a.wallets.Open
	o.Seed = uint64(time.Now().UnixNano())
	o.Progress = progress(stdout, o.Users)
	start := time.Now()
	if err := seed.Run(ctx, a.db, o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d users, %d batches, %d sessions in %s; every account's password is %q\n",
		o.Users, o.Batches, o.Sessions, time.Since(start).Round(time.Second/10), *password)
	return nil
}

// progress reports seeding: a bar on a terminal, a line per tenth elsewhere.
func progress(w io.Writer, total int) func(int) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("users"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("users"),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(f) }), progressbar.OptionThrottle(100*time.Millisecond))
		return func(done int) { _ = bar.Set(done) }
	}
	next := 0
	return func(done int) {
		if done*10 >= next*total {
			fmt.Fprintf(w, "%d of %d users\n", done, total)
			next = done*10/max(total, 1) + 1
		}
	}
}

// keysCmd manages the signing keys kept in the database.
func keysCmd(ctx context.Context, cfg config.Config, log, security *slog.Logger, args []string, stdout io.Writer) error {
	const usage = "usage: usergraph keys rotate | list | prune [--older-than DURATION]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	if cfg.JWTKeysFile != "" {
		return errors.New("the signing keys are in JWT_KEYS_FILE: rotate by putting a new key first in that file")
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	olderThan := fs.Duration("older-than", cfg.AccessTokenTTL+time.Minute,
		"prune keys retired at least this long ago (default: the access-token lifetime and a minute, so no valid token was signed by them; 0s ends every token they signed)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, log, security)
	if err != nil {
		return err
	}
	defer a.db.Close()
	switch args[0] {
	case "rotate":
		kid, err := a.keyStore.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s signs from now on; replicas pick it up within %s; older keys stay published until pruned\n",
			kid, cfg.KeysReloadInterval)
	case "list":
		keys, err := a.keyStore.List(ctx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			state := "signing"
			if k.RetiredAt != nil {
				state = "retired " + k.RetiredAt.UTC().Format(time.RFC3339)
				if time.Since(*k.RetiredAt) >= cfg.AccessTokenTTL+time.Minute {
					state += " (prunable)"
				}
			}
			fmt.Fprintf(stdout, "%s  created %s  %s\n", k.KID, k.CreatedAt.UTC().Format(time.RFC3339), state)
		}
	case "prune":
		kids, err := a.keyStore.Prune(ctx, *olderThan)
		if err != nil {
			return err
		}
		for _, kid := range kids {
			fmt.Fprintf(stdout, "pruned %s\n", kid)
		}
		if len(kids) == 0 {
			fmt.Fprintln(stdout, "nothing to prune")
		}
	default:
		return errors.New(usage)
	}
	return nil
}

// healthcheck asks the local server's /readyz, for container health checks
// (the image has no shell or curl): exit status 0 when it answers 200.
func healthcheck(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %d", url, resp.StatusCode)
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}
