// Package config reads usergraph's settings from the environment and an optional
// .env file into one struct, and validates them before anything starts.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/go-playground/validator/v10"
	"github.com/joho/godotenv"
)

// Config is every setting of usergraph. `.env.example` documents each one; keep
// the two in step (a test checks that every key here is listed there).
type Config struct {
	Port int `env:"PORT" envDefault:"8080" validate:"min=0,max=65535"` // 0: any free port
	// Host is the address to listen on; empty: every interface.
	Host    string `env:"HOST" validate:"omitempty,ip|hostname"`
	DataDir string `env:"DATA_DIR" envDefault:"./data" validate:"required"`
	// DatabaseURL empty selects the embedded SQLite file in DataDir.
	DatabaseURL string `env:"DATABASE_URL" validate:"omitempty,dburl"`
	// DatabasePooler "transaction" says a pooler in transaction mode
	// (PgBouncer, a hosted database's pooler) is in front of PostgreSQL.
	DatabasePooler string `env:"DATABASE_POOLER" validate:"omitempty,oneof=transaction"`
	LogLevel       string `env:"LOG_LEVEL" envDefault:"info" validate:"oneof=debug info warn error"`

	AppURL        string        `env:"APP_URL" envDefault:"http://localhost:3000" validate:"required,http_url"`
	SetupLinkTTL  time.Duration `env:"SETUP_LINK_TTL" envDefault:"24h" validate:"min=1m"`
	ResetLinkTTL  time.Duration `env:"RESET_LINK_TTL" envDefault:"1h" validate:"min=1m"`
	VerifyLinkTTL time.Duration `env:"VERIFY_LINK_TTL" envDefault:"24h" validate:"min=1m"`
	// RequireVerifiedEmail keeps consumers who have not confirmed their
	// email from signing in (EMAIL_NOT_VERIFIED).
	RequireVerifiedEmail bool `env:"REQUIRE_VERIFIED_EMAIL" envDefault:"false"`
	// JWTIssuer empty: PublicURL when set, else "usergraph" (see Issuer).
	JWTIssuer       string        `env:"JWT_ISSUER"`
	JWTAudience     string        `env:"JWT_AUDIENCE" envDefault:"usergraph" validate:"required"`
	AccessTokenTTL  time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m" validate:"min=1m,max=24h"`
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"168h" validate:"min=1h"`
	// JWTKeysFile empty means: generate an Ed25519 key once and keep it in DataDir.
	JWTKeysFile string `env:"JWT_KEYS_FILE"`
	// KeyEncryptionKey, when set, encrypts secrets kept in the database
	// (authenticator secrets) with a key derived from it.
	KeyEncryptionKey string `env:"KEY_ENCRYPTION_KEY" validate:"omitempty,min=32"`
	// KeysReloadInterval is how often signing keys kept in the database are
	// read again, so rotations reach every replica.
	// MediaStore is where avatars are kept: "file" (MediaPath, one machine)
	// or "s3" (a bucket every replica shares).
	MediaStore        string `env:"MEDIA_STORE" envDefault:"file" validate:"oneof=file s3"`
	S3Endpoint        string `env:"S3_ENDPOINT" validate:"required_if=MediaStore s3"`
	S3Region          string `env:"S3_REGION" envDefault:"us-east-1"`
	S3Bucket          string `env:"S3_BUCKET" validate:"required_if=MediaStore s3"`
	S3Prefix          string `env:"S3_PREFIX"`
	S3AccessKeyID     string `env:"S3_ACCESS_KEY_ID"`
	S3SecretAccessKey string `env:"S3_SECRET_ACCESS_KEY"`
	S3Insecure        bool   `env:"S3_INSECURE" envDefault:"false"`
	// OTLPEndpoint, when set, exports OpenTelemetry traces there over
	// OTLP/HTTP (the base URL; /v1/traces is added).
	OTLPEndpoint    string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" validate:"omitempty,http_url"`
	OTELServiceName string `env:"OTEL_SERVICE_NAME" envDefault:"usergraph"`
	// MetricsAddr, when set (host:port), serves /metrics there; empty: no
	// metrics are served (never on the public port).
	MetricsAddr string `env:"METRICS_ADDR" validate:"omitempty,listen"`
	// MetricsPprof also serves Go's profiles (/debug/pprof/) on MetricsAddr,
	// for finding where a replica's CPU and memory go under load.
	MetricsPprof bool `env:"METRICS_PPROF" envDefault:"false"`
	// KeysReloadInterval bounds how long a pruned key's tokens still work on
	// a replica, and is how long verifiers may cache the JWKS.
	KeysReloadInterval time.Duration `env:"KEYS_RELOAD_INTERVAL" envDefault:"5s" validate:"min=100ms,max=1m"`

	PlaygroundEnabled   bool   `env:"PLAYGROUND_ENABLED" envDefault:"true"`
	PlaygroundAssetsURL string `env:"PLAYGROUND_ASSETS_URL" validate:"omitempty,url,excluded_with=PlaygroundAssetsDir"`
	// PlaygroundAssetsDir: a folder with the GraphiQL files, served by
	// usergraph itself at /playground/ (same origin, no CORS needed).
	PlaygroundAssetsDir  string `env:"PLAYGROUND_ASSETS_DIR"`
	IntrospectionEnabled bool   `env:"INTROSPECTION_ENABLED" envDefault:"true"`
	// CORSAllowedOrigins may call the API from a browser on another origin;
	// empty: none (the playground at / is same-origin).
	CORSAllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS" envSeparator:"," validate:"dive,origin"`
	// TrustedProxies are the networks whose X-Forwarded-For is believed: the
	// client is the right-most address not in them. Empty: none.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:"," validate:"dive,cidr"`
	// HSTSMaxAge, when set, sends Strict-Transport-Security (behind TLS only).
	HSTSMaxAge time.Duration `env:"HSTS_MAX_AGE" envDefault:"0s" validate:"min=0s"`

	MaxRequestBytes   int64         `env:"MAX_REQUEST_BYTES" envDefault:"1048576" validate:"min=1024"`
	RequestTimeout    time.Duration `env:"REQUEST_TIMEOUT" envDefault:"10s" validate:"min=100ms"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" validate:"min=0s"`
	QueryMaxTokens    int           `env:"GRAPHQL_MAX_TOKENS" envDefault:"15000" validate:"min=100"`
	QueryMaxFields    int           `env:"GRAPHQL_MAX_FIELDS" envDefault:"500" validate:"min=10"`
	QueryMaxDepth     int           `env:"GRAPHQL_MAX_DEPTH" envDefault:"15" validate:"min=2"`
	QueryMaxComplex   int           `env:"GRAPHQL_MAX_COMPLEXITY" envDefault:"5000" validate:"min=10"`
	QueryMaxAliases   int           `env:"GRAPHQL_MAX_ALIASES" envDefault:"15" validate:"min=1"`
	QueryMaxMutations int           `env:"GRAPHQL_MAX_MUTATIONS" envDefault:"3" validate:"min=1"`
	// GraphQLBatchWindow is how long the related-object loaders of a list
	// collect keys before one query fetches them all.
	GraphQLBatchWindow time.Duration `env:"GRAPHQL_BATCH_WINDOW" envDefault:"5ms" validate:"min=100us,max=5s"`

	// Limits of the sign-in flows; .env.example says what each counts.
	LoginMaxFailures      int           `env:"LOGIN_MAX_FAILURES" envDefault:"5" validate:"min=1"`
	LoginFailureWindow    time.Duration `env:"LOGIN_FAILURE_WINDOW" envDefault:"15m" validate:"min=1m"`
	LoginLockout          time.Duration `env:"LOGIN_LOCKOUT" envDefault:"5m" validate:"min=1s"`
	IPRequestsPerMin      int           `env:"RATE_LIMIT_PER_IP_PER_MINUTE" envDefault:"10" validate:"min=1"`
	RefreshPerIPPerMinute int           `env:"REFRESH_PER_IP_PER_MINUTE" envDefault:"60" validate:"min=1"`
	ResetEmailsPerHour    int           `env:"RESET_EMAILS_PER_HOUR" envDefault:"3" validate:"min=1"`
	VerifyEmailsPerHour   int           `env:"VERIFY_EMAILS_PER_HOUR" envDefault:"3" validate:"min=1"`
	BulkProbesPerHour     int           `env:"BULK_PROBES_PER_HOUR" envDefault:"20" validate:"min=1"`
	MyDataPerHour         int           `env:"MY_DATA_PER_HOUR" envDefault:"10" validate:"min=1"`
	MFATokenTTL           time.Duration `env:"MFA_TOKEN_TTL" envDefault:"5m" validate:"min=30s,max=1h"`
	// PasswordHashConcurrency bounds argon2id hashes running at once (0: one per CPU).
	PasswordHashConcurrency int `env:"PASSWORD_HASH_CONCURRENCY" envDefault:"0" validate:"min=0,max=256"`
	// PasswordHashQueue bounds the requests waiting for a hashing slot; more are RATE_LIMITED.
	PasswordHashQueue int `env:"PASSWORD_HASH_QUEUE" envDefault:"64" validate:"min=0"`
	// PasswordHashWait is the longest a request waits in that queue.
	PasswordHashWait time.Duration `env:"PASSWORD_HASH_WAIT" envDefault:"3s" validate:"min=1ms"`

	MailDriver string `env:"MAIL_DRIVER" envDefault:"file" validate:"oneof=file smtp resend"`
	MailFrom   string `env:"MAIL_FROM" envDefault:"usergraph <no-reply@localhost>" validate:"required"`
	MailDir    string `env:"MAIL_DIR"` // empty: DATA_DIR/mail
	// MailTemplatesDir holds the app's own email templates, replacing the
	// built-in ones by name (mail.LoadTemplates); empty: the built-in ones.
	MailTemplatesDir string        `env:"MAIL_TEMPLATES_DIR" validate:"omitempty,dir"`
	MailMaxAttempts  int           `env:"MAIL_MAX_ATTEMPTS" envDefault:"8" validate:"min=1"`
	MailRetryBase    time.Duration `env:"MAIL_RETRY_BASE" envDefault:"30s" validate:"min=1ms"`
	MailPollInterval time.Duration `env:"MAIL_POLL_INTERVAL" envDefault:"5s" validate:"min=10ms"`
	SMTPHost         string        `env:"SMTP_HOST" validate:"required_if=MailDriver smtp"`
	SMTPPort         int           `env:"SMTP_PORT" envDefault:"587" validate:"min=1,max=65535"`
	SMTPUsername     string        `env:"SMTP_USERNAME"`
	SMTPPassword     string        `env:"SMTP_PASSWORD"`
	SMTPTLS          string        `env:"SMTP_TLS" envDefault:"mandatory" validate:"oneof=mandatory opportunistic none"`
	SMTPCAFile       string        `env:"SMTP_CA_FILE" validate:"omitempty,file"`
	ResendAPIKey     string        `env:"RESEND_API_KEY" validate:"required_if=MailDriver resend"`
	ResendAPIURL     string        `env:"RESEND_API_URL" validate:"omitempty,http_url"`

	// WebAuthnRPID is the domain passkeys belong to (they work on it and its
	// subdomains); empty: APP_URL's host. WebAuthnRPOrigins are the origins
	// whose pages may register and use them; empty: APP_URL's, and
	// PUBLIC_URL's when set. See PasskeyRelyingParty.
	WebAuthnRPID      string   `env:"WEBAUTHN_RP_ID" validate:"omitempty,hostname_rfc1123"`
	WebAuthnRPOrigins []string `env:"WEBAUTHN_RP_ORIGINS" envSeparator:"," validate:"dive,origin"`

	// SigninProviders lists the ids of other identity providers people may
	// sign in with; each is described by SIGNIN_PROVIDER_<ID>_* settings,
	// read into Providers by Load.
	SigninProviders []string `env:"SIGNIN_PROVIDERS" envSeparator:"," validate:"dive,alphanum,max=32"`
	// SigninRedirectURLs are the places, besides APP_URL, a social sign-in
	// may return to: a redirectTo must start with one of them (or APP_URL).
	SigninRedirectURLs []string `env:"SIGNIN_REDIRECT_URLS" envSeparator:"," validate:"dive,http_url"`
	// MetadataMaxBytes bounds each user's app and user metadata (compact
	// JSON); MetadataInToken copies app metadata into access tokens (then
	// at most 1,024 bytes).
	MetadataMaxBytes int  `env:"METADATA_MAX_BYTES" envDefault:"4096" validate:"min=2,max=65536"`
	MetadataInToken  bool `env:"METADATA_IN_TOKEN" envDefault:"false"`
	// Webhooks lists the ids of endpoints that receive events, each
	// described by WEBHOOK_<ID>_URL, _SECRET and _EVENTS, read into
	// WebhookEndpoints by Load.
	Webhooks            []string      `env:"WEBHOOKS" envSeparator:"," validate:"dive,alphanum,max=32"`
	WebhookTimeout      time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"10s" validate:"min=1s,max=1m"`
	WebhookMaxAttempts  int           `env:"WEBHOOK_MAX_ATTEMPTS" envDefault:"10" validate:"min=1,max=50"`
	WebhookRetryBase    time.Duration `env:"WEBHOOK_RETRY_BASE" envDefault:"30s" validate:"min=10ms"`
	WebhookPollInterval time.Duration `env:"WEBHOOK_POLL_INTERVAL" envDefault:"5s" validate:"min=10ms"`
	// WebhookAllowLocal lets endpoints be this machine or link-local
	// addresses (cloud metadata services): refused otherwise.
	WebhookAllowLocal bool `env:"WEBHOOK_ALLOW_LOCAL" envDefault:"false"`
	// WebhookEndpoints are the WEBHOOKS, in their order.
	WebhookEndpoints []WebhookEndpoint
	// Providers are the SIGNIN_PROVIDERS, in their order.
	Providers []Provider

	// PublicURL prefixes media URLs (avatars); empty: the origin each request
	// came to (behind a proxy: its Host, and X-Forwarded-Proto from TRUSTED_PROXIES).
	PublicURL      string `env:"PUBLIC_URL" validate:"omitempty,http_url"`
	AvatarMaxBytes int64  `env:"AVATAR_MAX_BYTES" envDefault:"5242880" validate:"min=1024"`
	// AvatarMaxPixels bounds an avatar's width × height (16 megapixels).
	AvatarMaxPixels int64    `env:"AVATAR_MAX_PIXELS" envDefault:"16777216" validate:"min=1"`
	AvatarTypes     []string `env:"AVATAR_TYPES" envSeparator:"," envDefault:"image/png,image/jpeg,image/webp,image/gif" validate:"min=1,dive,oneof=image/png image/jpeg image/webp image/gif"`

	WalletOpeningBalance string `env:"WALLET_OPENING_BALANCE" envDefault:"1000000.00" validate:"required"`
	WalletCurrency       string `env:"WALLET_CURRENCY" envDefault:"COIN" validate:"required,max=10"`
	// Retention: how long ended sessions, spent tokens, delivered mail and
	// stale rate-limit counters are kept, and how often they are purged.
	RetentionSessions   time.Duration `env:"RETENTION_SESSIONS" envDefault:"720h" validate:"min=1h"`
	RetentionTokens     time.Duration `env:"RETENTION_TOKENS" envDefault:"168h" validate:"min=1h"`
	RetentionMail       time.Duration `env:"RETENTION_MAIL" envDefault:"720h" validate:"min=1h"`
	RetentionRateLimits time.Duration `env:"RETENTION_RATE_LIMITS" envDefault:"48h" validate:"min=25h"`
	RetentionInterval   time.Duration `env:"RETENTION_INTERVAL" envDefault:"1h" validate:"min=1m"`

	// SecurityLog is where security events are logged: "stderr" or a file path (appended).
	SecurityLog string `env:"SECURITY_LOG" envDefault:"stderr" validate:"required"`

	BootstrapAdminEmail    string `env:"BOOTSTRAP_ADMIN_EMAIL" validate:"required_with=BootstrapAdminPassword,omitempty,email"`
	BootstrapAdminMobile   string `env:"BOOTSTRAP_ADMIN_MOBILE" validate:"required_with=BootstrapAdminEmail"`
	BootstrapAdminPassword string `env:"BOOTSTRAP_ADMIN_PASSWORD" validate:"required_with=BootstrapAdminEmail"`
}

// Addr is the listen address.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// TrustedNetworks are TrustedProxies parsed (they were validated at Load).
func (c Config) TrustedNetworks() []*net.IPNet {
	out := make([]*net.IPNet, 0, len(c.TrustedProxies))
	for _, cidr := range c.TrustedProxies {
		if _, n, err := net.ParseCIDR(strings.TrimSpace(cidr)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// PasskeyRelyingParty is the relying party of passkeys: its id
// (WEBAUTHN_RP_ID, else APP_URL's host) and the origins that may use it
// (WEBAUTHN_RP_ORIGINS, else APP_URL's origin, and PUBLIC_URL's when it is
// on the id). The id is empty when APP_URL's host is an IP address, which
// browsers refuse: passkeys are then off until WEBAUTHN_RP_ID is set.
func (c Config) PasskeyRelyingParty() (id string, origins []string) {
	id = c.WebAuthnRPID
	if id == "" {
		if u, err := url.Parse(c.AppURL); err == nil && net.ParseIP(u.Hostname()) == nil {
			id = u.Hostname()
		}
	}
	if len(c.WebAuthnRPOrigins) > 0 || id == "" {
		return id, c.WebAuthnRPOrigins
	}
	for _, raw := range []string{c.AppURL, c.PublicURL} {
		u, err := url.Parse(raw)
		if err != nil || raw == "" || !onDomain(u.Hostname(), id) {
			continue
		}
		if o := u.Scheme + "://" + u.Host; !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return id, origins
}

// onDomain reports whether host is domain or a subdomain of it.
func onDomain(host, domain string) bool { return host == domain || strings.HasSuffix(host, "."+domain) }

// checkPasskeys reports a relying party browsers would refuse: an IP
// address for WEBAUTHN_RP_ID, or an origin not on the id or a subdomain.
func (c Config) checkPasskeys() []string {
	if net.ParseIP(c.WebAuthnRPID) != nil {
		return []string{fmt.Sprintf("WEBAUTHN_RP_ID=%q: passkeys need a domain name, not an IP address (for local use: localhost)", c.WebAuthnRPID)}
	}
	id, origins := c.PasskeyRelyingParty()
	var msgs []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && !onDomain(u.Hostname(), id) {
			msgs = append(msgs, fmt.Sprintf("WEBAUTHN_RP_ORIGINS: %s is not on %s or a subdomain of it (WEBAUTHN_RP_ID, else APP_URL's host): set WEBAUTHN_RP_ID to a domain the origins share", o, id))
		}
	}
	return msgs
}

// UsesSQLite reports whether the embedded SQLite database is selected.
// Issuer is the "iss" of access tokens and discovery: JWT_ISSUER, else
// PUBLIC_URL, else "usergraph".
func (c Config) Issuer() string {
	switch {
	case c.JWTIssuer != "":
		return c.JWTIssuer
	case c.PublicURL != "":
		return strings.TrimRight(c.PublicURL, "/")
	}
	return "usergraph"
}

func (c Config) UsesSQLite() bool { return c.DatabaseURL == "" }

// SQLitePath is the database file used when DatabaseURL is empty.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "usergraph.db") }

// KeyEncryptionKeyPath is where the embedded database's generated
// key-encryption key is kept when KEY_ENCRYPTION_KEY is not set.
func (c Config) KeyEncryptionKeyPath() string { return filepath.Join(c.DataDir, "key-encryption.key") }

// LegacyKeysPath is the key file earlier versions generated in DataDir;
// its keys move to the database on first start.
func (c Config) LegacyKeysPath() string { return filepath.Join(c.DataDir, "jwt-keys.json") }

func fieldParams() ([]env.FieldParams, error) { return env.GetFieldParams(&Config{}) }

// MediaPath is where uploaded files (avatars) are stored.
func (c Config) MediaPath() string { return filepath.Join(c.DataDir, "media") }

// MailPath is where the file mail driver writes emails.
func (c Config) MailPath() string {
	if c.MailDir != "" {
		return c.MailDir
	}
	return filepath.Join(c.DataDir, "mail")
}

// Keys lists every environment variable Config reads.
func Keys() ([]string, error) {
	params, err := fieldParams()
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(params))
	for i, p := range params {
		keys[i] = p.Key
	}
	return keys, nil
}

// Load reads the settings: variables from getenv win over those in envFile
// (".env" by default; a missing file is fine). Every problem is reported at once.
func Load(getenv func(string) string, envFile string) (Config, error) {
	fileVars, err := godotenv.Read(envFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("config: reading %s: %w", envFile, err)
	}
	keys, err := Keys()
	if err != nil {
		return Config{}, err
	}
	vars := map[string]string{}
	for _, k := range keys {
		if v, ok := fileVars[k]; ok {
			vars[k] = v
		}
		if v := getenv(k); v != "" {
			vars[k] = v
		}
	}
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		return Config{}, fmt.Errorf("config: invalid settings:\n  %s", parseErrors(err))
	}
	c.AppURL = strings.TrimRight(c.AppURL, "/")
	lookup := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return fileVars[k]
	}
	var msgs []string
	for _, id := range c.SigninProviders {
		p, problems := readProvider(strings.TrimSpace(id), lookup)
		c.Providers = append(c.Providers, p)
		msgs = append(msgs, problems...)
	}
	for _, id := range c.Webhooks {
		e, problems := readWebhook(strings.TrimSpace(id), lookup, c)
		c.WebhookEndpoints = append(c.WebhookEndpoints, e)
		msgs = append(msgs, problems...)
	}
	if err := c.validate(); err != nil || len(msgs) == 0 {
		return c, err
	}
	return c, fmt.Errorf("config: invalid settings:\n  %s", strings.Join(msgs, "\n  "))
}

// Provider is another identity provider people may sign in with: an
// OpenID Connect provider (discovery from Issuer), or GitHub's OAuth 2.0.
type Provider struct {
	ID, Name, Type string
	Issuer         string
	ClientID       string
	ClientSecret   string
	Scopes         []string
}

// The provider types.
const (
	ProviderOIDC   = "oidc"
	ProviderGitHub = "github"
)

// readProvider reads SIGNIN_PROVIDER_<ID>_* for id.
func readProvider(id string, lookup func(string) string) (Provider, []string) {
	prefix := "SIGNIN_PROVIDER_" + strings.ToUpper(id) + "_"
	get := func(k string) string { return strings.TrimSpace(lookup(prefix + k)) }
	p := Provider{ID: strings.ToLower(id), Name: get("NAME"), Type: get("TYPE"), Issuer: get("ISSUER"),
		ClientID: get("CLIENT_ID"), ClientSecret: get("CLIENT_SECRET")}
	if p.Type == "" {
		p.Type = ProviderOIDC
	}
	if p.Name == "" {
		p.Name = id
	}
	for _, sc := range strings.FieldsFunc(get("SCOPES"), func(r rune) bool { return r == ',' || r == ' ' }) {
		p.Scopes = append(p.Scopes, sc)
	}
	var msgs []string
	need := func(k, v string) {
		if v == "" {
			msgs = append(msgs, fmt.Sprintf("%s%s: must be set (provider %s in SIGNIN_PROVIDERS)", prefix, k, id))
		}
	}
	need("CLIENT_ID", p.ClientID)
	need("CLIENT_SECRET", p.ClientSecret)
	switch p.Type {
	case ProviderOIDC:
		need("ISSUER", p.Issuer)
		if u, err := url.Parse(p.Issuer); p.Issuer != "" && (err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http") {
			msgs = append(msgs, fmt.Sprintf("%sISSUER=%q: must be an absolute URL", prefix, p.Issuer))
		}
		if len(p.Scopes) == 0 {
			p.Scopes = []string{"openid", "email", "profile"}
		}
		if !slices.Contains(p.Scopes, "openid") {
			p.Scopes = append([]string{"openid"}, p.Scopes...)
		}
	case ProviderGitHub:
		if len(p.Scopes) == 0 {
			p.Scopes = []string{"read:user", "user:email"}
		}
	default:
		msgs = append(msgs, fmt.Sprintf("%sTYPE=%q: must be oidc (the default) or github", prefix, p.Type))
	}
	return p, msgs
}

// WebhookEndpoint is where some events go (package webhook).
type WebhookEndpoint struct {
	ID, URL, Secret string
	Events          []string // empty: all
}

// readWebhook reads WEBHOOK_<ID>_* for id.
func readWebhook(id string, lookup func(string) string, c Config) (WebhookEndpoint, []string) {
	prefix := "WEBHOOK_" + strings.ToUpper(id) + "_"
	get := func(k string) string { return strings.TrimSpace(lookup(prefix + k)) }
	e := WebhookEndpoint{ID: strings.ToLower(id), URL: get("URL"), Secret: get("SECRET")}
	for _, t := range strings.FieldsFunc(get("EVENTS"), func(r rune) bool { return r == ',' || r == ' ' }) {
		if t != "*" {
			e.Events = append(e.Events, t)
		}
	}
	var msgs []string
	for k, v := range map[string]string{"URL": e.URL, "SECRET": e.Secret} {
		if v == "" {
			msgs = append(msgs, fmt.Sprintf("%s%s: must be set (endpoint %s in WEBHOOKS)", prefix, k, id))
		}
	}
	if u, err := url.Parse(e.URL); e.URL != "" && c.PublicURL != "" && !c.WebhookAllowLocal && err == nil {
		if p, perr := url.Parse(c.PublicURL); perr == nil && strings.EqualFold(p.Hostname(), u.Hostname()) {
			msgs = append(msgs, fmt.Sprintf("%sURL=%q: is this server (PUBLIC_URL); WEBHOOK_ALLOW_LOCAL=true allows it", prefix, e.URL))
		}
	}
	return e, msgs
}

// CallbackBase is the origin (and path prefix) identity providers return
// people to: PUBLIC_URL, else http://localhost:PORT.
func (c Config) CallbackBase() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return "http://localhost:" + strconv.Itoa(c.Port)
}

// parseErrors names each unparsable setting by its variable, not its Go field.
func parseErrors(err error) string {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err.Error()
	}
	t := reflect.TypeOf(Config{})
	msgs := make([]string, len(agg.Errors))
	for i, e := range agg.Errors {
		msgs[i] = e.Error()
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				msgs[i] = fmt.Sprintf("%s: %v", f.Tag.Get("env"), pe.Err)
			}
		}
	}
	return strings.Join(msgs, "\n  ")
}

var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string { return f.Tag.Get("env") })
	_ = v.RegisterValidation("origin", func(fl validator.FieldLevel) bool {
		u, err := url.Parse(fl.Field().String())
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
			u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
	})
	_ = v.RegisterValidation("listen", func(fl validator.FieldLevel) bool {
		_, port, err := net.SplitHostPort(fl.Field().String())
		n, perr := strconv.Atoi(port)
		return err == nil && perr == nil && n >= 0 && n <= 65535
	})
	_ = v.RegisterValidation("dburl", func(fl validator.FieldLevel) bool {
		u, err := url.Parse(fl.Field().String())
		return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
	})
	return v
}()

func (c Config) validate() error {
	err := validate.Struct(c)
	var verrs validator.ValidationErrors
	if err != nil && !errors.As(err, &verrs) {
		return err
	}
	msgs := make([]string, 0, len(verrs))
	for _, fe := range verrs {
		msgs = append(msgs, fmt.Sprintf("%s=%q: %s", fe.Field(), fmt.Sprint(fe.Value()), explain(fe)))
	}
	if len(msgs) == 0 { // the rules across settings, once each setting is valid
		msgs = c.checkPasskeys()
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("config: invalid settings:\n  %s", strings.Join(msgs, "\n  "))
}

func explain(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "must be set"
	case "required_if":
		return "must be set when " + fe.Param()
	case "required_with":
		return "must be set together with " + fe.Param()
	case "dburl":
		return "must be a postgres:// URL (leave empty for the embedded SQLite database)"
	case "oneof":
		return "must be one of: " + fe.Param()
	case "min":
		return "must be at least " + fe.Param()
	case "max":
		return "must be at most " + fe.Param()
	case "email":
		return "must be an email address"
	case "file":
		return "must name a readable file"
	case "dir":
		return "must name a folder"
	case "url", "http_url":
		return "must be an absolute URL"
	case "origin":
		return "must be an origin: scheme://host[:port], nothing after it"
	case "listen":
		return "must be host:port to listen on, such as 127.0.0.1:9464 (port 0: any free one)"
	case "cidr":
		return "must be a network such as 10.0.0.0/8 or 2001:db8::/32"
	case "hostname_rfc1123":
		return "must be a domain name such as example.com (no scheme, port or path)"
	}
	return "is not valid (" + fe.Tag() + ")"
}

// EnsureDataDir creates DataDir if needed and makes it the owner's alone
// (0700): it holds the database, the signing keys, emails and uploads. A
// folder this process may not change keeps its permissions, but it must be
// writable: the error says which setting and folder are at fault.
func (c Config) EnsureDataDir() error {
	fail := func(err error) error {
		abs, _ := filepath.Abs(c.DataDir)
		return fmt.Errorf("DATA_DIR=%s (%s): the data folder must be a folder this user (uid %d) can write: %w", c.DataDir, abs, os.Getuid(), err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fail(err)
	}
	if err := os.Chmod(c.DataDir, 0o700); err != nil && !errors.Is(err, fs.ErrPermission) {
		return fail(err)
	}
	probe, err := os.CreateTemp(c.DataDir, ".write-test-")
	if err != nil {
		return fail(err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}
