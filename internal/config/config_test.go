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
