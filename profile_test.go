package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

func TestProfileAndAvatar(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv := startServer(t, testEnv(t, dbURL))
		me := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("pic@example.com", "+4950000001"))).AccessToken)

		// Partial update: omitted fields keep their value; names cannot be blank.
		const update = `mutation($in: UpdateProfileInput!) { updateProfile(input: $in) {
			user { firstName lastName profile { address city } } errors { field code } } }`
		type profileResult struct {
			UpdateProfile struct {
				User *struct {
					FirstName string `json:"firstName"`
					LastName  string `json:"lastName"`
					Profile   struct {
						Address string `json:"address"`
						City    string `json:"city"`
					} `json:"profile"`
				} `json:"user"`
				Errors []userError `json:"errors"`
			} `json:"updateProfile"`
		}
		var r profileResult
		me.MustData(update, map[string]any{"in": map[string]any{"city": " Berlin ", "address": "Unter den Linden 1"}}, &r)
		if u := r.UpdateProfile.User; u == nil || u.FirstName != "Ann" || u.Profile.City != "Berlin" || u.Profile.Address != "Unter den Linden 1" {
			t.Errorf("updateProfile = %+v", r.UpdateProfile)
		}
		me.MustData(update, map[string]any{"in": map[string]any{"firstName": "Anna"}}, &r)
		if u := r.UpdateProfile.User; u.FirstName != "Anna" || u.LastName != "Lee" || u.Profile.City != "Berlin" {
			t.Errorf("second partial update lost values: %+v", u)
		}
		me.MustData(update, map[string]any{"in": map[string]any{"firstName": "  ", "lastName": ""}}, &r)
		if !slices.Equal(codes(r.UpdateProfile.Errors), []string{"REQUIRED@input.firstName", "REQUIRED@input.lastName"}) {
			t.Errorf("blank names: %v", codes(r.UpdateProfile.Errors))
		}

		// A real PNG is stored under a random name and served back.
		pic := pngImage(t, 64, 48)
		up, _ := me.upload("../../etc/passwd.png", pic)
		if up.User == nil || up.User.Profile.AvatarURL == nil {
			t.Fatalf("upload PNG: %v", codes(up.Errors))
		}
		// Absolute, on the origin the client used (no PUBLIC_URL), so an SPA
		// on another origin loads it from here.
		url := *up.User.Profile.AvatarURL
		if !strings.HasPrefix(url, srv.URL+"/media/avatars/") || !strings.HasSuffix(url, ".png") || strings.Contains(url, "passwd") {
			t.Errorf("avatarUrl = %s", url)
		}
		resp, err := httpClient.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(served, pic) ||
			!strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
			t.Errorf("GET %s: %d %s %q, %d bytes", url, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), len(served))
		}

		// A text file named .png, and a file over 5 MiB, get payload errors.
		if bad, _ := me.upload("avatar.png", []byte("just some text, not an image\n")); !slices.Equal(codes(bad.Errors), []string{"UNSUPPORTED_FILE_TYPE@input.file"}) {
			t.Errorf("renamed text file: %v", codes(bad.Errors))
		}
		// The limit is AVATAR_MAX_BYTES (5 MiB by default) to the byte.
		padded := func(n int) []byte {
			b := pngImage(t, 4, 4)
			return append(b, bytes.Repeat([]byte{0}, n-len(b))...)
		}
		if ok, _ := me.upload("max.png", padded(5<<20)); len(ok.Errors) > 0 {
			t.Errorf("a file of exactly 5 MiB: %v", codes(ok.Errors))
		}
		ct, body := multipartBody(t, uploadAvatarOperations, padded(5<<20+1))
		if r, _ := postRaw(t, srv, ct, body, http.Header{"Authorization": {"Bearer " + me.Token}}); r.Status != http.StatusRequestEntityTooLarge || r.Code() != "FILE_TOO_LARGE" {
			t.Errorf("5 MiB + 1 byte: %d %+v, want 413 FILE_TOO_LARGE", r.Status, r.Errors)
		}
		// JPEG, WebP and GIF are accepted too, stored and served with their own type.
		for _, img := range []struct{ name, ext, contentType string }{
			{"photo.jpeg", ".jpg", "image/jpeg"}, {"photo.webp", ".webp", "image/webp"}, {"photo.gif", ".gif", "image/gif"},
		} {
			content := imageOf(t, img.contentType)
			got, _ := me.upload(img.name, content)
			if got.User == nil || got.User.Profile.AvatarURL == nil || !strings.HasSuffix(*got.User.Profile.AvatarURL, img.ext) {
				t.Errorf("upload %s: %+v", img.name, got)
				continue
			}
			resp, err := httpClient.Get(*got.User.Profile.AvatarURL)
			if err != nil {
				t.Fatal(err)
			}
			served, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Content-Type") != img.contentType || !bytes.Equal(served, content) {
				t.Errorf("%s served as %q, %d bytes", img.name, resp.Header.Get("Content-Type"), len(served))
			}
		}

		// Replacing removes the old file; removeAvatar clears it.
		up2, _ := me.upload("second.png", pngImage(t, 10, 10))
		oldFile := filepath.Join(srv.dataDir, "media", strings.TrimPrefix(url, srv.URL+"/media/"))
		if _, err := os.Stat(oldFile); !os.IsNotExist(err) {
			t.Errorf("old avatar file still exists after replacement: %v", err)
		}
		if resp, err := httpClient.Get(url); err != nil || resp.StatusCode != 404 {
			t.Errorf("old avatar URL: %v %v, want 404", resp, err)
		}
		var rm struct {
			RemoveAvatar avatarPayload `json:"removeAvatar"`
		}
		me.MustData(`mutation { removeAvatar(input: {}) { user { profile { avatarUrl } } errors { code } } }`, nil, &rm)
		if rm.RemoveAvatar.User == nil || rm.RemoveAvatar.User.Profile.AvatarURL != nil {
			t.Errorf("removeAvatar = %+v", rm.RemoveAvatar)
		}
		if resp, err := httpClient.Get(*up2.User.Profile.AvatarURL); err != nil || resp.StatusCode != 404 {
			t.Errorf("removed avatar still served: %v %v", resp, err)
		}
		// An escaped slash reaches the media handler as "../secret.json": a
		// private file that does exist one level up, as key files and the
		// SQLite database do.
		if err := os.WriteFile(filepath.Join(srv.dataDir, "secret.json"), []byte(`{"d":"private"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/media/..%2Fsecret.json", "/media/avatars%2F..%2F..%2Fsecret.json"} {
			resp, err := httpClient.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 404 || bytes.Contains(body, []byte(`"d"`)) {
				t.Errorf("path traversal %s: %d", path, resp.StatusCode)
			}
		}
	})
}

// AVATAR_TYPES narrows what is accepted.
func TestAvatarTypesSetting(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["AVATAR_TYPES"] = "image/png"
		srv := startServer(t, env)
		me := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("only@example.com", "+4950000002"))).AccessToken)
		if bad, _ := me.upload("photo.jpg", imageOf(t, "image/jpeg")); !slices.Equal(codes(bad.Errors), []string{"UNSUPPORTED_FILE_TYPE@input.file"}) {
			t.Errorf("JPEG with AVATAR_TYPES=image/png: %v", codes(bad.Errors))
		}
		if ok, _ := me.upload("pic.png", pngImage(t, 8, 8)); len(ok.Errors) > 0 {
			t.Errorf("PNG with AVATAR_TYPES=image/png: %v", codes(ok.Errors))
		}
	})
}

// An image is judged by the size its header claims, before any pixel is
// decoded: a small PNG claiming 65535 × 65535 is refused.
func TestAvatarPixelLimit(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		env := testEnv(t, dbURL)
		env["AVATAR_MAX_PIXELS"] = "10000"
		srv := startServer(t, env)
		me := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("pixels@example.com", "+4950000003"))).AccessToken)
		if bad, _ := me.upload("huge.png", pngClaiming(t, 65535, 65535)); !slices.Equal(codes(bad.Errors), []string{"FILE_TOO_LARGE@input.file"}) {
			t.Errorf("a PNG claiming 65535 x 65535: %v", codes(bad.Errors))
		}
		if bad, _ := me.upload("wide.png", pngImage(t, 101, 100)); !slices.Equal(codes(bad.Errors), []string{"FILE_TOO_LARGE@input.file"}) {
			t.Errorf("101 x 100 with a 10,000-pixel limit: %v", codes(bad.Errors))
		}
		if ok, _ := me.upload("ok.png", pngImage(t, 100, 100)); len(ok.Errors) > 0 {
			t.Errorf("100 x 100: %v", codes(ok.Errors))
		}
	})
}

// pngClaiming is a tiny PNG whose header claims w × h pixels.
func pngClaiming(t *testing.T, w, h uint32) []byte {
	b := pngImage(t, 1, 1)
	// IHDR follows the 8-byte signature: length (4), "IHDR" (4), width, height.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// removeAvatar takes the caller's avatar by default; admins may remove
// anyone's, others only their own (schema description of its userId).
func TestRemoveAnotherUsersAvatar(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, nil)
		owner := mustSignIn(t, srv.Client().register(registerInput("pic-owner@example.com", "+4931600001")))
		me := srv.Client().As(*owner.AccessToken)
		if up, _ := me.upload("a.png", pngImage(t, 8, 8)); len(up.Errors) > 0 {
			t.Fatal(codes(up.Errors))
		}
		other := srv.Client().As(*mustSignIn(t, srv.Client().register(registerInput("pic-other@example.com", "+4931600002"))).AccessToken)
		const remove = `mutation($id: ID) { removeAvatar(input: {userId: $id}) { user { profile { avatarUrl } } errors { code } } }`
		if code := other.Do(remove, map[string]any{"id": owner.User.ID}).Code(); code != "FORBIDDEN" {
			t.Errorf("a user removing another's avatar: %q, want FORBIDDEN", code)
		}
		var still struct {
			Me struct{ Profile struct{ AvatarURL *string } }
		}
		me.MustData(`{ me { profile { avatarUrl } } }`, nil, &still)
		if still.Me.Profile.AvatarURL == nil {
			t.Fatal("the refused removal removed the avatar")
		}
		var d struct{ RemoveAvatar avatarPayload }
		admin.MustData(remove, map[string]any{"id": owner.User.ID}, &d)
		if d.RemoveAvatar.User == nil || d.RemoveAvatar.User.Profile.AvatarURL != nil {
			t.Errorf("admin removing the avatar: %+v", d.RemoveAvatar)
		}
	})
}
