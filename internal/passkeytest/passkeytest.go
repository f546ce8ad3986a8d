// Package passkeytest is a passkey device for tests: a WebAuthn
// authenticator and the browser around it, in Go (descope/virtualwebauthn),
// that answers usergraph's passkey options as navigator.credentials would.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"

	"github.com/descope/virtualwebauthn"
)

// Device holds one passkey for one site.
type Device struct {
	// RP is the site as the browser reports it: ID is the RP ID the
	// authenticator signs for, Origin the page's origin. Tests change them
	// to play a phishing page.
	RP   virtualwebauthn.RelyingParty
	Auth virtualwebauthn.Authenticator
	Cred virtualwebauthn.Credential
	// Counting makes each signature count one up, as security keys do;
	// otherwise the counter stays 0, as synced passkeys leave it.
	Counting bool
}

// New returns a device with a fresh EC2 (ES256) credential for a page of
// origin on the site rpID.
func New(rpID, origin string) *Device {
	return &Device{
		RP:   virtualwebauthn.RelyingParty{ID: rpID, Name: rpID, Origin: origin},
		Auth: virtualwebauthn.NewAuthenticator(),
		Cred: newCredential(),
	}
}

// newCredential is an ES256 credential whose public key virtualwebauthn
// encodes right: it writes the coordinates without their leading zero
// bytes, which verifiers rightly refuse, so keys with one are skipped.
func newCredential() virtualwebauthn.Credential {
	for {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		if len(key.X.Bytes()) != 32 || len(key.Y.Bytes()) != 32 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			panic(err)
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}

// Create answers PublicKeyCredentialCreationOptions (JSON, as
// startPasskeyRegistration returns them) as navigator.credentials.create
// does, and remembers the user it was made for (the user handle it
// returns when signing in).
func (d *Device) Create(options any) (json.RawMessage, error) {
	raw, err := json.Marshal(options)
	if err != nil {
		return nil, err
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(string(raw))
	if err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	if d.Cred.IsExcludedForAttestation(*opts) {
		return nil, fmt.Errorf("the options exclude this device's credential")
	}
	d.Auth.Options.UserHandle = []byte(opts.UserID)
	return json.RawMessage(virtualwebauthn.CreateAttestationResponse(d.RP, d.Auth, d.Cred, *opts)), nil
}

// Get answers PublicKeyCredentialRequestOptions (JSON, as
// startPasskeySignIn returns them) as navigator.credentials.get does.
func (d *Device) Get(options any) (json.RawMessage, error) {
	raw, err := json.Marshal(options)
	if err != nil {
		return nil, err
	}
	opts, err := virtualwebauthn.ParseAssertionOptions(string(raw))
	if err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	if len(opts.AllowCredentials) > 0 && !d.Cred.IsAllowedForAssertion(*opts) {
		return nil, fmt.Errorf("the options allow other credentials only")
	}
	if d.Counting {
		d.Cred.Counter++
	}
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(d.RP, d.Auth, d.Cred, *opts)), nil
}
