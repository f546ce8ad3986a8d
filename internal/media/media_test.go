package media

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiskAcceptsOnlyItsOwnNames(t *testing.T) {
	root := t.TempDir()
	store := Disk{Dir: filepath.Join(root, "media")}
	ctx := context.Background()
	name := RandomName("avatars", "png")
	if err := store.Put(ctx, name, strings.NewReader("picture")); err != nil {
		t.Fatal(err)
	}
	// A file beside the store that traversal would reach.
	if err := os.WriteFile(filepath.Join(root, "secret.png"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"../secret.png", "avatars/../../secret.png", "avatars/x.png", "/etc/passwd",
		"avatars/" + strings.Repeat("a", 32) + ".exe", "AVATARS/" + strings.Repeat("a", 32) + ".png"} {
		if err := store.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
		if _, err := store.Open(bad); err == nil {
			t.Errorf("Open(%q) opened a file", bad)
		}
		if err := store.Delete(ctx, bad); err == nil {
			t.Errorf("Delete(%q) accepted", bad)
		}
	}
	if err := store.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, name); err != nil {
		t.Errorf("deleting a missing file: %v", err)
	}
}

func TestHandlerServesStoredFilesOnly(t *testing.T) {
	store := Disk{Dir: t.TempDir()}
	name := RandomName("avatars", "webp")
	if err := store.Put(context.Background(), name, bytes.NewReader([]byte("RIFF....WEBP"))); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /media/{name...}", Handler(store))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/media/" + name)
	if resp.StatusCode != 200 || body != "RIFF....WEBP" || resp.Header.Get("Content-Type") != "image/webp" ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("Content-Security-Policy") != "default-src 'none'" {
		t.Errorf("stored file: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	for _, path := range []string{"/media/avatars", "/media/avatars/", "/media/" + RandomName("avatars", "png"), "/media/..%2Fmedia.go"} {
		if resp, _ := get(path); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}
