package main

// cli.go: the commands of the usergraph binary, one entry each in
// commands. Every command reads only its own flags (an unknown one is an
// error), prints its flags for --help and exits 0, and takes no arguments
// it does not name.

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
	"runtime/debug"
	"slices"
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
	"github.com/usergraph/usergraph/internal/mail"
	"github.com/usergraph/usergraph/internal/seed"
)

// env is what a command runs with: its settings (when it reads them), logs
// and standard streams.
type env struct {
	cfg           config.Config
	log, security *slog.Logger
	getenv        func(string) string
	stdin         io.Reader
	stdout        io.Writer
	arg           string // the command's one argument, when it names one
}

// command is one subcommand.
type command struct {
	summary string // one line for `usergraph help`
	// setup registers the command's flags on fs and returns what runs once
	// they are parsed.
	setup func(fs *flag.FlagSet) func(ctx context.Context, e *env) error
	// config is false for commands that need no settings (version).
	config bool
	// arg names the one argument the command takes, if any (TEMPLATE).
	arg string
}

// help is the command's --help: its name, summary and flags.
func (c command) help(name string, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: usergraph %s", name)
	if hasFlags(fs) {
		b.WriteString(" [flags]")
	}
	if c.arg != "" {
		b.WriteString(" " + c.arg)
	}
	fmt.Fprintf(&b, "\n\n%s\n", c.summary)
	if hasFlags(fs) {
		b.WriteString("\nflags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
	}
	b.WriteString("\nSettings come from the environment and ./.env (or the file named by ENV_FILE); see .env.example.\n")
	return b.String()
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func noFlags(do func(ctx context.Context, e *env) error) func(*flag.FlagSet) func(context.Context, *env) error {
	return func(*flag.FlagSet) func(context.Context, *env) error { return do }
}

// commands are every subcommand, by the words that name it.
var commands = map[string]command{
	"serve": {summary: "Run the server (the default command).", config: true,
		setup: noFlags(func(ctx context.Context, e *env) error { return serve(ctx, e.cfg, e.log, e.security, e.stdout) })},
	"migrate up":     {summary: "Apply pending database migrations.", config: true, setup: noFlags(migrate("up"))},
	"migrate down":   {summary: "Roll back the last group of migrations.", config: true, setup: noFlags(migrate("down"))},
	"migrate status": {summary: "List migrations and whether each is applied.", config: true, setup: noFlags(migrate("status"))},
	"createsuperuser": {summary: "Create an administrator; the password from a prompt, --password-stdin or CREATESUPERUSER_PASSWORD.",
		config: true, setup: createSuperuser},
	"seed": {summary: "Fill an empty database with fake accounts, for trying the API or benchmarking.", config: true, setup: seedCmd},
	"healthcheck": {summary: "Exit 0 when the local server (PORT) is ready (container health checks).", config: true,
		setup: noFlags(healthcheck)},
	"keys rotate": {summary: "A new signing key signs from now on; older keys stay published, so no one is signed out.",
		config: true, setup: noFlags(keysRotate)},
	"keys list":  {summary: "The signing keys and their state.", config: true, setup: noFlags(keysList)},
	"keys prune": {summary: "Remove signing keys retired long enough that no valid token names them.", config: true, setup: keysPrune},
	"version":    {summary: "Print the version and commit of this binary.", setup: noFlags(version)},
	"mail preview": {summary: "Render the email TEMPLATE (" + strings.Join(mail.Names(), ", ") +
		") with sample data, from MAIL_TEMPLATES_DIR or built in, without sending it.",
		config: true, arg: "TEMPLATE", setup: mailPreview},
}

// commandOf splits args into the command's name (one or two words) and its
// flags; no command is serve.
func commandOf(args []string) (string, []string) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" && args[0] != "-help" {
		return "serve", args
	}
	if len(args) > 1 {
		if _, ok := commands[args[0]+" "+args[1]]; ok {
			return args[0] + " " + args[1], args[2:]
		}
	}
	return args[0], args[1:]
}

// usage is `usergraph help`.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: usergraph [command] [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "  %-16s %s\n", name, commands[name].summary)
	}
	b.WriteString("\nusergraph COMMAND --help shows a command's flags. Settings come from the environment\nand ./.env (or the file named by ENV_FILE); see .env.example.\n")
	return b.String()
}

// migrate runs `migrate up|down|status`.
func migrate(direction string) func(ctx context.Context, e *env) error {
	return func(ctx context.Context, e *env) error {
		database, err := openDB(ctx, e.cfg)
		if err != nil {
			return err
		}
		defer database.Close()
		m, err := db.NewMigrator(database)
		if err != nil {
			return err
		}
		var names []string
		switch direction {
		case "up":
			names, err = m.Up(ctx)
		case "down":
			names, err = m.Down(ctx)
		default:
			return m.Status(ctx, e.stdout)
		}
		for _, n := range names {
			fmt.Fprintf(e.stdout, "%s %s\n", direction, n)
		}
		if err == nil && len(names) == 0 {
			fmt.Fprintln(e.stdout, "nothing to do")
		}
		return err
	}
}

func createSuperuser(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
	var in account.AdminInput
	fs.StringVar(&in.Email, "email", "", "email address (required)")
	fs.StringVar(&in.Mobile, "mobile", "", "mobile number (required)")
	fs.StringVar(&in.FirstName, "first-name", "", "first name")
	fs.StringVar(&in.LastName, "last-name", "", "last name")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	return func(ctx context.Context, e *env) error {
		password, err := readPassword(*fromStdin, e.getenv, e.stdin, e.stdout)
		if err != nil {
			return err
		}
		in.Password = password
		a, err := newApp(ctx, e.cfg, e.log, e.security)
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
		fmt.Fprintf(e.stdout, "administrator %s created (id %s)\n", u.Email, u.ID)
		return nil
	}
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
func seedCmd(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
	var o seed.Options
	fs.IntVar(&o.Users, "users", 1000, "accounts to create, business ones included")
	fs.IntVar(&o.Batches, "batches", 0, "B2B batches (a tenth as many B2B admins own them; a fifth of the users join them)")
	fs.IntVar(&o.Sessions, "sessions", 0, "sessions (sign-ins) spread over the users")
	password := fs.String("password", "Seeded-Password-1", "the password every seeded account signs in with")
	fs.BoolVar(&o.Append, "append", false, "add to a database that already has users")
	return func(ctx context.Context, e *env) error {
		a, err := newApp(ctx, e.cfg, e.log, e.security)
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
		o.Progress = progress(e.stdout, o.Users)
		start := time.Now()
		if err := seed.Run(ctx, a.db, o); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "seeded %d users, %d batches, %d sessions in %s; every account's password is %q\n",
			o.Users, o.Batches, o.Sessions, time.Since(start).Round(time.Second/10), *password)
		return nil
	}
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

// keysApp opens what the keys commands change: the keys in the database.
func keysApp(ctx context.Context, e *env) (*app, error) {
	if e.cfg.JWTKeysFile != "" {
		return nil, errors.New("the signing keys are in JWT_KEYS_FILE: rotate by putting a new key first in that file")
	}
	return newApp(ctx, e.cfg, e.log, e.security)
}

func keysRotate(ctx context.Context, e *env) error {
	a, err := keysApp(ctx, e)
	if err != nil {
		return err
	}
	defer a.db.Close()
	kid, err := a.keyStore.Rotate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "key %s signs from now on; replicas pick it up within %s; older keys stay published until pruned\n",
		kid, e.cfg.KeysReloadInterval)
	return nil
}

func keysList(ctx context.Context, e *env) error {
	a, err := keysApp(ctx, e)
	if err != nil {
		return err
	}
	defer a.db.Close()
	keys, err := a.keyStore.List(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		state := "signing"
		if k.RetiredAt != nil {
			state = "retired " + k.RetiredAt.UTC().Format(time.RFC3339)
			if time.Since(*k.RetiredAt) >= e.cfg.AccessTokenTTL+time.Minute {
				state += " (prunable)"
			}
		}
		fmt.Fprintf(e.stdout, "%s  created %s  %s\n", k.KID, k.CreatedAt.UTC().Format(time.RFC3339), state)
	}
	return nil
}

func keysPrune(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
	olderThan := fs.Duration("older-than", -1,
		"prune keys retired at least this long ago (default: ACCESS_TOKEN_TTL and a minute, so no valid token was signed by them; 0s ends every token they signed)")
	return func(ctx context.Context, e *env) error {
		if *olderThan < 0 {
			*olderThan = e.cfg.AccessTokenTTL + time.Minute
		}
		a, err := keysApp(ctx, e)
		if err != nil {
			return err
		}
		defer a.db.Close()
		kids, err := a.keyStore.Prune(ctx, *olderThan)
		if err != nil {
			return err
		}
		for _, kid := range kids {
			fmt.Fprintf(e.stdout, "pruned %s\n", kid)
		}
		if len(kids) == 0 {
			fmt.Fprintln(e.stdout, "nothing to prune")
		}
		return nil
	}
}

// commit is the commit this binary was built from, when the build says so
// (-ldflags "-X main.commit=…"; the Dockerfile passes its COMMIT build
// argument); otherwise the one Go recorded, if it did.
var commit = ""

// version prints the module's version and the commit.
func version(_ context.Context, e *env) error {
	v, c, goVersion := "(devel)", commit, "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(e.stdout, "usergraph %s (commit %s, %s)\n", v, c, goVersion)
	return nil
}

// healthcheck asks the local server's /readyz, for container health checks
// (the image has no shell or curl): exit status 0 when it answers 200.
func healthcheck(ctx context.Context, e *env) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.cfg.Port)) + "/readyz"
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
	fmt.Fprintln(e.stdout, "ready")
	return nil
}

// mailPreview renders one email with sample data: its subject and text, or
// its HTML (--html), to stdout or a file (--out), so a designer checks a
// template without sending it.
func mailPreview(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
	html := fs.Bool("html", false, "print the HTML part instead of the subject and text")
	out := fs.String("out", "", "write to this file instead of stdout")
	return func(_ context.Context, e *env) error {
		c, err := composerFor(e.cfg)
		if err != nil {
			return err
		}
		m, err := c.Sample(e.arg)
		if err != nil {
			return err
		}
		doc := "Subject: " + m.Subject + "\n\n" + m.Text
		if *html {
			doc = m.HTML
		}
		if *out != "" {
			return os.WriteFile(*out, []byte(doc), 0o644)
		}
		_, err = io.WriteString(e.stdout, doc)
		return err
	}
}
