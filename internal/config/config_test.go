package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func vars(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(vars(nil), filepath.Join(t.TempDir(), "missing.env"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.DataDir != "./data" || !c.UsesSQLite() || c.AccessTokenTTL != 15*time.Minute ||
		c.RefreshTokenTTL != 168*time.Hour || !c.PlaygroundEnabled || c.LegacyKeysPath() != "data/jwt-keys.json" || c.Issuer() != "usergraph" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestEnvironmentWinsOverDotEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(file, []byte("PORT=9000\nLOG_LEVEL=debug\n"), 0o600)
	c, err := Load(vars(map[string]string{"PORT": "9100"}), file)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9100 || c.LogLevel != "debug" {
		t.Errorf("port %d level %s, want 9100 from env and debug from .env", c.Port, c.LogLevel)
	}
}

func TestInvalidSettingsAreAllReported(t *testing.T) {
	_, err := Load(vars(map[string]string{
		"DATABASE_URL": "mysql://x", "LOG_LEVEL": "loud", "BOOTSTRAP_ADMIN_EMAIL": "root@example.com",
	}), filepath.Join(t.TempDir(), "missing.env"))
	if err == nil {
		t.Fatal("invalid settings accepted")
	}
	for _, want := range []string{"DATABASE_URL", "must be a postgres:// URL", "LOG_LEVEL", "one of: debug info warn error",
		"BOOTSTRAP_ADMIN_MOBILE", "BOOTSTRAP_ADMIN_PASSWORD"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := Load(vars(map[string]string{"ACCESS_TOKEN_TTL": "soon"}), ""); err == nil || !strings.Contains(err.Error(), "ACCESS_TOKEN_TTL") {
		t.Errorf("unparsable duration: %v", err)
	}
}

// .env.example must document every setting, with its real default.
func TestEnvExampleListsEverySetting(t *testing.T) {
	data, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)=(.*)$`).FindAllStringSubmatch(string(data), -1) {
		documented[m[1]] = m[2]
	}
	keys, err := Keys()
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{}
	params, _ := fieldParams()
	for _, p := range params {
		defaults[p.Key] = p.DefaultValue
	}
	for _, k := range keys {
		v, ok := documented[k]
		if !ok {
			t.Errorf(".env.example does not list %s", k)
		} else if v != defaults[k] {
			t.Errorf(".env.example shows %s=%q, but the default is %q", k, v, defaults[k])
		}
	}
	if len(documented) != len(keys) {
		t.Errorf(".env.example lists %d settings, Config has %d", len(documented), len(keys))
	}
}

func TestOriginsAndNetworksAreValidated(t *testing.T) {
	for _, bad := range []map[string]string{
		{"CORS_ALLOWED_ORIGINS": "app.example.com"},
		{"CORS_ALLOWED_ORIGINS": "https://app.example.com/path"},
		{"CORS_ALLOWED_ORIGINS": "ftp://app.example.com"},
		{"TRUSTED_PROXIES": "10.0.0.1"},
		{"HOST": "not a host!"},
	} {
		if _, err := Load(func(k string) string { return bad[k] }, "/nonexistent.env"); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	c, err := Load(func(k string) string {
		return map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com,http://localhost:5173", "TRUSTED_PROXIES": "10.0.0.0/8,fd00::/8", "HOST": "127.0.0.1"}[k]
	}, "/nonexistent.env")
	if err != nil || len(c.TrustedNetworks()) != 2 || c.Addr() != "127.0.0.1:8080" {
		t.Errorf("valid settings: %v %v %s", err, c.TrustedNetworks(), c.Addr())
	}
}

// Sign-in providers are read from SIGNIN_PROVIDER_<ID>_*, with defaults
// for what may be left out, and every missing setting is named at once.
func TestSignInProviders(t *testing.T) {
	vars := map[string]string{
		"SIGNIN_PROVIDERS":                     "acme,github",
		"SIGNIN_PROVIDER_ACME_ISSUER":          "https://login.acme.example",
		"SIGNIN_PROVIDER_ACME_CLIENT_ID":       "usergraph",
		"SIGNIN_PROVIDER_ACME_CLIENT_SECRET":   "s1",
		"SIGNIN_PROVIDER_ACME_SCOPES":          "email,profile",
		"SIGNIN_PROVIDER_GITHUB_TYPE":          "github",
		"SIGNIN_PROVIDER_GITHUB_CLIENT_ID":     "Iv1.x",
		"SIGNIN_PROVIDER_GITHUB_CLIENT_SECRET": "s2",
		"SIGNIN_PROVIDER_GITHUB_NAME":          "GitHub",
	}
	c, err := Load(func(k string) string { return vars[k] }, "/nonexistent.env")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers) != 2 {
		t.Fatalf("providers %+v", c.Providers)
	}
	acme, gh := c.Providers[0], c.Providers[1]
	if acme.Type != ProviderOIDC || acme.Name != "acme" || strings.Join(acme.Scopes, " ") != "openid email profile" {
		t.Errorf("acme %+v: want oidc, named by its id, openid added to its scopes", acme)
	}
	if gh.Type != ProviderGitHub || gh.Name != "GitHub" || strings.Join(gh.Scopes, " ") != "read:user user:email" {
		t.Errorf("github %+v", gh)
	}
	delete(vars, "SIGNIN_PROVIDER_ACME_ISSUER")
	delete(vars, "SIGNIN_PROVIDER_GITHUB_CLIENT_SECRET")
	vars["SIGNIN_PROVIDERS"] = "acme,github,odd"
	vars["SIGNIN_PROVIDER_ODD_TYPE"] = "saml"
	_, err = Load(func(k string) string { return vars[k] }, "/nonexistent.env")
	for _, want := range []string{"SIGNIN_PROVIDER_ACME_ISSUER: must be set", "SIGNIN_PROVIDER_GITHUB_CLIENT_SECRET: must be set", `SIGNIN_PROVIDER_ODD_TYPE="saml"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to name %s", err, want)
		}
	}
}
