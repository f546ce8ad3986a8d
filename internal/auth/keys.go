package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Keys holds the signing keys. The first key of the set signs new tokens;
// every key's public half is published and accepted, so a new key can be put
// first while tokens signed by the old one stay valid until they expire.
// Keys kept in the database are reloaded while the server runs (Reload), so
// every replica follows a rotation without a restart.
type Keys struct {
	cur atomic.Pointer[keySet]
	// load reads the current private keys, newest (signing) first; nil for
	// keys from a file, which do not change while the server runs.
	load func(ctx context.Context) (jwk.Set, error)
	mu   sync.Mutex
	// lastForced is when a token with an unknown key last caused a reload.
	lastForced time.Time
}

// keySet is one version of the keys; gen grows with each change.
type keySet struct {
	signing jwk.Key
	public  jwk.Set
	jwks    []byte
	gen     uint64
}

func (k *Keys) current() *keySet { return k.cur.Load() }

// FromStore returns keys that load reads and Reload reads again.
func FromStore(ctx context.Context, load func(ctx context.Context) (jwk.Set, error)) (*Keys, error) {
	k := &Keys{load: load}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the keys again from their store; a change (a new signing
// key, a key pruned) applies to the next request. Keys from a file stay.
func (k *Keys) Reload(ctx context.Context) error {
	if k.load == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	set, err := k.load(ctx)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	next, err := newKeySet(set)
	if err != nil {
		return err
	}
	if old := k.current(); old != nil {
		if bytes.Equal(old.jwks, next.jwks) && keyID(old.signing) == keyID(next.signing) {
			return nil
		}
		next.gen = old.gen + 1
	}
	k.cur.Store(next)
	return nil
}

// reloadForUnknownKey reloads the keys when a token names a key this
// process does not know (another replica may have rotated a moment ago),
// at most once every few seconds whatever tokens arrive.
func (k *Keys) reloadForUnknownKey(ctx context.Context) bool {
	if k.load == nil {
		return false
	}
	k.mu.Lock()
	recent := time.Since(k.lastForced) < unknownKeyReload
	if !recent {
		k.lastForced = time.Now()
	}
	k.mu.Unlock()
	if recent {
		return false
	}
	before := k.current().gen
	return k.Reload(ctx) == nil && k.current().gen != before
}

const unknownKeyReload = 5 * time.Second

func keyID(k jwk.Key) string {
	id, _ := k.KeyID()
	return id
}

// SigningKeyID is the kid of the key that signs new tokens.
func (k *Keys) SigningKeyID() string { return keyID(k.current().signing) }

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
	ks, err := newKeySet(set)
	if err != nil {
		return nil, err
	}
	k := &Keys{}
	k.cur.Store(ks)
	return k, nil
}

func newKeySet(set jwk.Set) (*keySet, error) {
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
	jwks, err := json.Marshal(public)
	if err != nil {
		return nil, err
	}
	signing, _ := set.Key(0)
	return &keySet{signing: signing, public: public, jwks: jwks}, nil
}

// NewKey returns a new Ed25519 private key as a JWK with its kid.
func NewKey() (jwk.Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := jwk.Import(priv)
	if err != nil {
		return nil, err
	}
	return key, jwk.AssignKeyID(key)
}

// NewKeySet returns a JWK set (JSON) holding one new Ed25519 private key.
func NewKeySet() ([]byte, error) {
	key, err := NewKey()
	if err != nil {
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
func (k *Keys) JWKS() []byte { return k.current().jwks }
