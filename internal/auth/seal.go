package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"strings"
)

// Sealer keeps small secrets that must be read back (authenticator
// secrets, signing keys) encrypted at rest: AES-256-GCM under a key derived
// from KEY_ENCRYPTION_KEY. Without that setting it stores them as they are,
// marked as such, so a key set later still reads them.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the sealing key from secret (empty: no encryption).
func NewSealer(secret string) (*Sealer, error) {
	if secret == "" {
		return &Sealer{}, nil
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "usergraph secrets at rest v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Encrypts reports whether Seal encrypts.
func (s *Sealer) Encrypts() bool { return s.aead != nil }

// Seal returns the stored form of plain; context binds it to its owner (a
// user id, a key id), so a sealed value copied to another row does not open.
func (s *Sealer) Seal(plain []byte, context string) string {
	if s.aead == nil {
		return "plain:" + base64.RawStdEncoding.EncodeToString(plain)
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return "gcm1:" + base64.RawStdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(context)))
}

// Reseal returns stored encrypted when it was kept as it is ("plain:",
// from before a key-encryption key existed) and this Sealer encrypts;
// ok is false when there is nothing to do.
func (s *Sealer) Reseal(stored, context string) (string, bool, error) {
	if s.aead == nil || !strings.HasPrefix(stored, "plain:") {
		return stored, false, nil
	}
	plain, err := s.Open(stored, context)
	if err != nil {
		return stored, false, err
	}
	return s.Seal(plain, context), true, nil
}

// LoadOrCreateSecret reads the key-encryption key kept in path, or makes
// one (256 random bits) and keeps it there, readable by this user only.
// Two processes starting at once agree on one.
func LoadOrCreateSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	secret := NewOpaqueToken()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSecret(path)
	}
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return "", err
	}
	return secret, f.Close()
}

// ErrSealed is returned for a value that does not open: sealed under
// another KEY_ENCRYPTION_KEY, for another owner, or damaged.
var ErrSealed = errors.New("a secret at rest does not open: is KEY_ENCRYPTION_KEY the one it was sealed with?")

// Open returns what Seal sealed.
func (s *Sealer) Open(sealed, context string) ([]byte, error) {
	kind, data, _ := strings.Cut(sealed, ":")
	raw, err := base64.RawStdEncoding.DecodeString(data)
	switch {
	case err != nil:
		return nil, ErrSealed
	case kind == "plain":
		return raw, nil
	case kind != "gcm1" || s.aead == nil || len(raw) < s.aead.NonceSize():
		return nil, ErrSealed
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}
