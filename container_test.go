// The container files, checked as Podman, Buildah and Docker would read
// them (no container engine runs here to build them; CI builds the binary
// with the Dockerfile's own go build line).

package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// qualified is an image reference with its registry: Podman and Buildah
// refuse short names unless configured to guess.
var qualified = regexp.MustCompile(`^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?)/[^ ]+$`)

func TestContainerFiles(t *testing.T) {
	docker, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(string(docker), -1)
	if len(froms) < 2 {
		t.Fatalf("FROM lines: %v", froms)
	}
	for _, f := range froms {
		if !qualified.MatchString(f[1]) {
			t.Errorf("Dockerfile: FROM %s is a short name", f[1])
		}
	}
	// /data is the non-root user's whatever the builder's defaults.
	if !strings.Contains(string(docker), "COPY --from=build --chown=65532:65532 /out/data /data") || !strings.Contains(string(docker), "USER 65532:65532") {
		t.Error("Dockerfile: /data is not copied owned by the non-root user it runs as")
	}

	ignore, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(".dockerignore is missing: the whole folder (.env, data/, node_modules) goes into the build context")
	}
	lines := strings.Fields(string(ignore))
	for _, want := range []string{".git", ".env", "data", "**/node_modules"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}

	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	required := regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]+\}$`)
	for name, s := range compose.Services {
		if !qualified.MatchString(s.Image) {
			t.Errorf("compose.yaml: service %s's image %q is not fully qualified", name, s.Image)
		}
		for _, secret := range []string{"POSTGRES_PASSWORD", "KEY_ENCRYPTION_KEY"} {
			if v, ok := s.Environment[secret]; ok && !required.MatchString(v) {
				t.Errorf("compose.yaml: %s.%s = %q has a default; it must be required (${%s:?…})", name, secret, v, secret)
			}
		}
	}
	if !strings.Contains(compose.Services["usergraph"].Environment["DATABASE_URL"], "${POSTGRES_PASSWORD:?") {
		t.Error("compose.yaml: DATABASE_URL does not require POSTGRES_PASSWORD")
	}
}
