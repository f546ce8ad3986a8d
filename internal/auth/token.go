package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Claims are what an access token asserts.
type Claims struct {
	UserID    uuid.UUID
	Role      string
	SessionID uuid.UUID
	ExpiresAt time.Time
}

// ErrInvalidToken is returned for any access token that does not verify:
// bad signature, unknown key, wrong issuer or audience, expired, malformed.
var ErrInvalidToken = errors.New("invalid or expired access token")

// Issuer signs and verifies access tokens.
type Issuer struct {
	keys     *Keys
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	// verified remembers tokens whose signature and claims checked out, so
	// a client's next requests with the same token skip parsing and the
	// Ed25519 check (most of an authenticated request's CPU). A hit still
	// checks the expiry; only the exact token string finds its entry.
	verified *lru.Cache[string, verifiedToken]
}

// verifiedToken is a verified token's claims and the version of the keys
// that verified it: after a key is pruned, tokens are checked again.
type verifiedToken struct {
	claims Claims
	gen    uint64
}

// verifiedTokens bounds the verified-token cache: about 5 MB when full.
const verifiedTokens = 10_000

// NewIssuer returns an Issuer for tokens living ttl.
func NewIssuer(keys *Keys, issuer, audience string, ttl time.Duration) *Issuer {
	verified, _ := lru.New[string, verifiedToken](verifiedTokens)
	return &Issuer{keys: keys, issuer: issuer, audience: audience, ttl: ttl, now: time.Now, verified: verified}
}

// TTL is the lifetime of new access tokens.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Sign returns a signed access token (EdDSA, header kid) for the user's session.
func (i *Issuer) Sign(userID uuid.UUID, role string, sessionID uuid.UUID) (string, error) {
	return i.SignWith(userID, role, sessionID, nil)
}

// SignWith is Sign with more claims (names the standard ones do not use).
func (i *Issuer) SignWith(userID uuid.UUID, role string, sessionID uuid.UUID, claims map[string]any) (string, error) {
	now := i.now()
	b := jwt.NewBuilder()
	for k, v := range claims {
		b = b.Claim(k, v)
	}
	tok, err := b.
		Subject(userID.String()).
		Issuer(i.issuer).
		Audience([]string{i.audience}).
		IssuedAt(now).
		Expiration(now.Add(i.ttl)).
		JwtID(uuid.NewString()).
		Claim("role", role).
		Claim("sid", sessionID.String()).
		Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), i.keys.current().signing))
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return string(signed), nil
}

// tokenSkew is the clock difference tolerated between issuers and verifiers.
const tokenSkew = 30 * time.Second

// Verify checks signature, issuer, audience and expiry (required, and no
// later than the access-token lifetime from now) and returns the claims.
// Every failure is ErrInvalidToken.
func (i *Issuer) Verify(token string) (Claims, error) {
	keys := i.keys.current()
	if v, ok := i.verified.Get(token); ok && v.gen == keys.gen {
		if i.now().Before(v.claims.ExpiresAt.Add(tokenSkew)) {
			return v.claims, nil
		}
		i.verified.Remove(token)
		return Claims{}, ErrInvalidToken
	}
	c, err := i.verify(token, keys)
	if err != nil && i.reloadKeys() {
		keys = i.keys.current()
		c, err = i.verify(token, keys)
	}
	if err != nil {
		i.verified.Remove(token)
		return Claims{}, err
	}
	i.verified.Add(token, verifiedToken{claims: c, gen: keys.gen})
	return c, nil
}

// reloadKeys reloads the keys after a token failed to verify, in case it
// was signed by a key another replica just rotated in (at most once every
// few seconds).
func (i *Issuer) reloadKeys() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return i.keys.reloadForUnknownKey(ctx)
}

func (i *Issuer) verify(token string, keys *keySet) (Claims, error) {
	tok, err := jwt.ParseString(token,
		jwt.WithKeySet(keys.public),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(i.audience),
		jwt.WithClock(jwt.ClockFunc(i.now)),
		jwt.WithAcceptableSkew(tokenSkew),
		jwt.WithRequiredClaim("exp"),
	)
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	// A token must not outlive what this server issues: one signed with our
	// key but a far expiry (a leaked key's forgery, or a misconfigured
	// issuer) is refused.
	if exp, ok := tok.Expiration(); !ok || exp.After(i.now().Add(i.ttl+tokenSkew)) {
		return Claims{}, ErrInvalidToken
	}
	var c Claims
	var role, sid string
	sub, _ := tok.Subject()
	c.ExpiresAt, _ = tok.Expiration()
	if tok.Get("role", &role) != nil || tok.Get("sid", &sid) != nil {
		return Claims{}, ErrInvalidToken
	}
	c.Role = role
	if c.UserID, err = uuid.Parse(sub); err != nil {
		return Claims{}, ErrInvalidToken
	}
	if c.SessionID, err = uuid.Parse(sid); err != nil {
		return Claims{}, ErrInvalidToken
	}
	return c, nil
}

// NewOpaqueToken returns a random URL-safe token (256 bits) for refresh and
// one-time tokens. Only its HashToken is ever stored.
func NewOpaqueToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is the stored form of an opaque token: SHA-256, hex. The token has
// 256 bits of entropy, so a fast hash is enough, and lookups by hash are exact.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
