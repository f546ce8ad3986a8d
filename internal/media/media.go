// Package media stores uploaded files (avatars) behind a small interface and
// serves them over HTTP. Names are random, so a stored file never changes
// and can be cached for good.
package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
)

// Store keeps files under names such as "avatars/3f9c….png".
type Store interface {
	// Put writes r under name.
	Put(ctx context.Context, name string, r io.Reader) error
	// Delete removes name; a missing file is not an error.
	Delete(ctx context.Context, name string) error
	// Open returns the file for serving.
	Open(name string) (fs.File, error)
}

// RandomName returns dir/<128 random bits>.ext.
func RandomName(dir, ext string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return dir + "/" + hex.EncodeToString(b) + "." + ext
}

// validName is the only shape of name the store accepts: no traversal.
var validName = regexp.MustCompile(`^[a-z]+/[0-9a-f]{32}\.(png|jpg|webp|gif)$`)

var errBadName = errors.New("media: invalid file name")

// Disk is a Store in a local directory.
type Disk struct{ Dir string }

// Put writes to a temporary file and renames it, so readers never see half a file.
func (d Disk) Put(_ context.Context, name string, r io.Reader) error {
	if !validName.MatchString(name) {
		return errBadName
	}
	path := filepath.Join(d.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Delete removes name.
func (d Disk) Delete(_ context.Context, name string) error {
	if !validName.MatchString(name) {
		return errBadName
	}
	err := os.Remove(filepath.Join(d.Dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Open opens name for reading.
func (d Disk) Open(name string) (fs.File, error) {
	if !validName.MatchString(name) {
		return nil, fs.ErrNotExist
	}
	return os.Open(filepath.Join(d.Dir, filepath.FromSlash(name)))
}

// contentTypes are the types served, by extension.
var contentTypes = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif"}

// Handler serves GET /media/{name...} from store with the file's type and
// long-lived cache headers.
func Handler(store Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		f, err := store.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		info, err := f.Stat()
		rs, seekable := f.(io.ReadSeeker)
		if err != nil || info.IsDir() || !seekable {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentTypes[filepath.Ext(name)])
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		http.ServeContent(w, r, "", info.ModTime(), rs)
	})
}
