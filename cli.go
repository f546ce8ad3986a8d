package main

// cli.go holds the subcommands besides serve: migrate and createsuperuser.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/config"
	"github.com/usergraph/usergraph/internal/db"
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
