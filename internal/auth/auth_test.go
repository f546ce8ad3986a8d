package auth

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestHashAndVerifyPassword(t *testing.T) {
	h, err := HashPassword("s3cret-Horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("hash format = %s", h)
	}
	h2, _ := HashPassword("s3cret-Horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !VerifyPassword("s3cret-Horse", h) || VerifyPassword("s3cret-horse", h) || VerifyPassword("", h) {
		t.Error("VerifyPassword accepted a wrong password or refused the right one")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=1,t=1,p=1$$", "$bcrypt$x$y$z$w"} {
		if VerifyPassword("s3cret-Horse", bad) {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
	if VerifyPasswordOrDummy("anything", "") {
		t.Error("the dummy path reported a match")
	}
}

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		password string
		attrs    []string
		want     []error
	}{
		{"velvet-Lantern-42", []string{"ann@example.com", "Ann", "Lee"}, nil},
		{"short1!", nil, []error{ErrPasswordTooShort}},
		{"iloveyou", nil, []error{ErrPasswordTooCommon}},
		{"QWERTY123", nil, []error{ErrPasswordTooCommon}},
		{"1234", nil, []error{ErrPasswordTooShort, ErrPasswordTooCommon, ErrPasswordNumeric}},
		{"80613597242", nil, []error{ErrPasswordNumeric}},
		{"margaretta1", []string{"margaretta@example.com"}, []error{ErrPasswordTooSimilar}},
		{"Thompsonx", []string{"x@y.io", "Bob", "Thompson"}, []error{ErrPasswordTooSimilar}},
		{"nothing-alike-77", []string{"margaretta@example.com", "Margaretta", "Thompson"}, nil},
	}
	for _, tc := range cases {
		if got := CheckPassword(tc.password, tc.attrs...); !slices.Equal(got, tc.want) {
			t.Errorf("CheckPassword(%q) = %v, want %v", tc.password, got, tc.want)
		}
	}
}

func newTestIssuer(t *testing.T) *Issuer {
	t.Helper()
	keys, err := LoadOrCreateKeys(filepath.Join(t.TempDir(), "keys.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	return NewIssuer(keys, "iss", "aud", 15*time.Minute)
}

func TestAccessTokens(t *testing.T) {
	iss := newTestIssuer(t)
	uid, sid := uuid.New(), uuid.New()
	tok, err := iss.Sign(uid, "ADMIN", sid)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.Verify(tok)
	if err != nil || c.UserID != uid || c.SessionID != sid || c.Role != "ADMIN" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}

	other := newTestIssuer(t)
	wrongAud := NewIssuer(iss.keys, "iss", "other-aud", time.Minute)
	expired := NewIssuer(iss.keys, "iss", "aud", time.Minute)
	expired.now = func() time.Time { return time.Now().Add(-time.Hour) }
	oldTok, _ := expired.Sign(uid, "ADMIN", sid)
	audTok, _ := wrongAud.Sign(uid, "ADMIN", sid)
	for name, bad := range map[string]string{
		"signed by another key": mustSign(t, other, uid, sid),
		"expired":               oldTok,
		"wrong audience":        audTok,
		"tampered":              tok[:len(tok)-3] + "abc",
		"garbage":               "a.b.c",
	} {
		if _, err := iss.Verify(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify err = %v, want ErrInvalidToken", name, err)
		}
	}
}

func mustSign(t *testing.T, i *Issuer, uid, sid uuid.UUID) string {
	tok, err := i.Sign(uid, "B2C_USER", sid)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A key set may hold several keys: the first signs, all verify, so a new
// key can be put first without signing anyone out.
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldSet, _ := NewKeySet()
	newSet, _ := NewKeySet()
	write := func(name string, sets ...[]byte) string {
		var keys []string
		for _, s := range sets {
			inner := strings.TrimSpace(string(s))
			inner = inner[strings.Index(inner, "[")+1 : strings.LastIndex(inner, "]")]
			keys = append(keys, inner)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`{"keys":[`+strings.Join(keys, ",")+`]}`), 0o600)
		return p
	}
	oldKeys, err := LoadOrCreateKeys(write("old.json", oldSet), false)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := LoadOrCreateKeys(write("rotated.json", newSet, oldSet), false)
	if err != nil {
		t.Fatal(err)
	}
	uid, sid := uuid.New(), uuid.New()
	oldTok := mustSign(t, NewIssuer(oldKeys, "i", "a", time.Minute), uid, sid)
	if _, err := NewIssuer(rotated, "i", "a", time.Minute).Verify(oldTok); err != nil {
		t.Errorf("token signed by the previous key refused after rotation: %v", err)
	}
	jwks, _ := rotated.JWKS()
	if n := strings.Count(string(jwks), `"kid"`); n != 2 || strings.Contains(string(jwks), `"d"`) {
		t.Errorf("JWKS after rotation = %s", jwks)
	}
	if _, err := LoadOrCreateKeys(filepath.Join(dir, "missing.json"), false); err == nil {
		t.Error("a missing configured key file was accepted")
	}
}
