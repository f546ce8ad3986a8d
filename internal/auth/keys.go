package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Keys holds the signing keys. The first key of the set signs new tokens;
// every key's public half is published and accepted, so a new key can be put
// first while tokens signed by the old one stay valid until they expire.
type Keys struct {
	signing jwk.Key
	public  jwk.Set
}

// LoadOrCreateKeys reads a JWK set of Ed25519 private keys from path. When the
// file does not exist and create is true, it generates one key and writes it
// there (mode 0600), so restarts keep signing with the same key.
func LoadOrCreateKeys(path string, create bool) (*Keys, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		data, err = newKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("signing keys in %s: %w", path, err)
	}
	return newKeys(set)
}

func newKeys(set jwk.Set) (*Keys, error) {
	if set.Len() == 0 {
		return nil, errors.New("signing keys: the key set is empty")
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if private, err := jwk.IsPrivateKey(k); err != nil || !private {
			return nil, fmt.Errorf("signing keys: key %d is not a private key", i)
		}
		if k.KeyType().String() != "OKP" {
			return nil, fmt.Errorf("signing keys: key %d is not an Ed25519 (OKP) key", i)
		}
		if _, ok := k.KeyID(); !ok {
			if err := jwk.AssignKeyID(k); err != nil {
				return nil, err
			}
		}
		for name, value := range map[string]any{jwk.AlgorithmKey: jwa.EdDSA(), jwk.KeyUsageKey: "sig"} {
			if err := k.Set(name, value); err != nil {
				return nil, err
			}
		}
	}
	public, err := jwk.PublicSetOf(set)
	if err != nil {
		return nil, err
	}
	signing, _ := set.Key(0)
	return &Keys{signing: signing, public: public}, nil
}

// NewKeySet returns a JWK set (JSON) holding one new Ed25519 private key.
func NewKeySet() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := jwk.Import(priv)
	if err != nil {
		return nil, err
	}
	if err := jwk.AssignKeyID(key); err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	if err := set.AddKey(key); err != nil {
		return nil, err
	}
	return json.MarshalIndent(set, "", "  ")
}

func newKeyFile(path string) ([]byte, error) {
	data, err := NewKeySet()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// O_EXCL: when two processes start at once, one writes and the other reads it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	return data, f.Close()
}

// JWKS is the public key set as served at /.well-known/jwks.json.
func (k *Keys) JWKS() ([]byte, error) { return json.Marshal(k.public) }
