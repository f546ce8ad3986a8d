// What a copy of the database or the data folder reveals: no usable
// secret, and files only the server can read.

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/testdb"
)

// Refresh tokens are stored only as their SHA-256, never as themselves.
func TestRefreshTokensAreStoredAsSHA256(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		p := mustSignIn(t, srv.Client().register(registerInput("hash@example.com", "+12025550134")))
		var stored []string
		if err := srv.DB().NewRaw("SELECT token_hash FROM refresh_tokens").Scan(context.Background(), &stored); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(*p.RefreshToken))
		if len(stored) != 1 || stored[0] != hex.EncodeToString(sum[:]) {
			t.Errorf("stored %v, want only the SHA-256 of the token", stored)
		}
		var leaked int
		if err := srv.DB().NewRaw("SELECT count(*) FROM refresh_tokens WHERE token_hash = ?", *p.RefreshToken).Scan(context.Background(), &leaked); err != nil || leaked != 0 {
			t.Errorf("the token itself is stored (%d rows, %v)", leaked, err)
		}
	})
}

// No usable secret at rest: after the setup and reset flows, with their
// emails delivered, no table holds a token from any email (one-time tokens
// are stored as hashes, delivered bodies are dropped).
func TestNoTokenFromAnyEmailIsInTheDatabase(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		anon := srv.Client()
		createB2BAdmin(t, admin, "rest@corp.test", "+4931800001")
		setup := linkToken(t, srv.waitEmails("rest@corp.test", 1)[0], "setup-password")
		mustSignIn(t, anon.setupPassword(setup, goodPassword))
		anon.Do(requestResetMutation, map[string]any{"e": "rest@corp.test"}) // this link stays unused
		var tokens []string
		for _, m := range srv.waitEmails("rest@corp.test", 2) {
			for _, path := range []string{"setup-password", "reset-password"} {
				if strings.Contains(m.Text, path) {
					tokens = append(tokens, linkToken(t, m, path))
				}
			}
		}
		if len(tokens) != 2 {
			t.Fatalf("found %d links", len(tokens))
		}
		db := srv.DB()
		var pending int
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if err := db.NewRaw("SELECT count(*) FROM mail_outbox WHERE status = 'PENDING'").Scan(context.Background(), &pending); err != nil {
				t.Fatal(err)
			}
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d emails still pending", pending)
			}
		}
		var tables []string
		q := "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
		if dbURL == "" {
			q = "SELECT name FROM sqlite_master WHERE type = 'table'"
		}
		if err := db.NewRaw(q).Scan(context.Background(), &tables); err != nil {
			t.Fatal(err)
		}
		rows := 0
		for _, table := range tables {
			var dump []map[string]any
			if err := db.NewRaw("SELECT * FROM "+table).Scan(context.Background(), &dump); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			for _, row := range dump {
				rows++
				for col, v := range row {
					text := fmt.Sprint(v)
					if b, ok := v.([]byte); ok {
						text = string(b)
					}
					for _, tok := range tokens {
						if strings.Contains(text, tok) {
							t.Errorf("%s.%s holds a token from an email", table, col)
						}
					}
				}
			}
		}
		if len(tables) < 8 || rows < 10 {
			t.Fatalf("dumped %d rows of %d tables", rows, len(tables))
		}
	})
}

// Files the server writes are its own: 0600 in a 0700 data folder.
func TestDataFilesArePrivate(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		createB2BAdmin(t, admin, "files@corp.test", "+4931900001")
		srv.waitEmails("files@corp.test", 1)
		me := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("files@example.com", "+4931900002"))).AccessToken)
		if up, _ := me.upload("a.png", pngImage(t, 4, 4)); len(up.Errors) > 0 {
			t.Fatal(codes(up.Errors))
		}
		checked := 0
		err := filepath.WalkDir(srv.dataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if perm := info.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s is %v: others may read it", path, perm)
			}
			checked++
			return nil
		})
		if err != nil || checked < 6 {
			t.Errorf("walked %d files (%v)", checked, err)
		}
	})
}

// On SQLite no copy the database keeps is readable: the files (the database,
// its WAL, its shared memory) hold neither an emailed link's token, nor an
// authenticator secret, nor a private key, although KEY_ENCRYPTION_KEY is
// not set: the embedded database keeps a generated key-encryption key in a
// file of its own (0600), beside it.
func TestSQLiteFilesHoldNoReadableSecret(t *testing.T) {
	srv := startServer(t, testEnv(t, ""))
	anon := srv.Client()
	p := mustSignIn(t, anon.register(registerInput("files@example.com", "+4931900011")))
	anon.Do(requestResetMutation, map[string]any{"e": "files@example.com"})
	var tokens []string
	for _, m := range srv.waitEmails("files@example.com", 2) {
		for _, path := range []string{"verify-email", "reset-password"} {
			if strings.Contains(m.Text, path) {
				tokens = append(tokens, linkToken(t, m, path))
			}
		}
	}
	me := anon.As(*p.AccessToken)
	var e struct{ EnrollTotp struct{ Secret string } }
	me.MustData(enrollMutation, map[string]any{"p": goodPassword}, &e)
	if len(tokens) != 2 || e.EnrollTotp.Secret == "" {
		t.Fatalf("tokens %v, secret %q", tokens, e.EnrollTotp.Secret)
	}
	info, err := os.Stat(filepath.Join(srv.dataDir, "key-encryption.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the generated key-encryption key: %v %v", info, err)
	}
	files, _ := filepath.Glob(filepath.Join(srv.dataDir, "usergraph.db*"))
	if len(files) < 2 {
		t.Fatalf("database files: %v", files)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range append(tokens, e.EnrollTotp.Secret, `"d":"`) {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s holds a secret in clear (%.8s…)", filepath.Base(f), secret)
			}
		}
	}
}

// With PostgreSQL and no KEY_ENCRYPTION_KEY, the server says at start that
// secrets are stored unencrypted.
func TestPostgresWithoutAKeyEncryptionKeyWarns(t *testing.T) {
	srv := startServer(t, testEnv(t, testdb.Postgres(t)))
	if !strings.Contains(srv.Stderr.String(), "KEY_ENCRYPTION_KEY is not set") {
		t.Error("no warning that secrets are stored unencrypted")
	}
	env := testEnv(t, testdb.Postgres(t))
	env["KEY_ENCRYPTION_KEY"] = "an encryption key of at least 32 characters"
	if srv := startServer(t, env); strings.Contains(srv.Stderr.String(), "KEY_ENCRYPTION_KEY is not set") {
		t.Error("a warning although the key is set")
	}
}
