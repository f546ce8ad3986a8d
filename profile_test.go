package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

const uploadAvatarMutation = `mutation($in: UploadAvatarInput!) {
  uploadAvatar(input: $in) { user { id profile { avatarUrl } } errors { field code message } }
}`

type avatarPayload struct {
	User *struct {
		Profile struct {
			AvatarURL *string `json:"avatarUrl"`
		} `json:"profile"`
	} `json:"user"`
	Errors []userError `json:"errors"`
}

// upload sends uploadAvatar as a GraphQL multipart request (the spec's
// operations, map and file parts).
func (c *client) upload(filename string, content []byte) (avatarPayload, int) {
	c.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{"query": uploadAvatarMutation, "variables": map[string]any{"in": map[string]any{"file": nil}}})
	w.WriteField("operations", string(ops))
	w.WriteField("map", `{"0": ["variables.in.file"]}`)
	part, _ := w.CreateFormFile("0", filename)
	part.Write(content)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+"/graphql", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data struct {
			UploadAvatar avatarPayload `json:"uploadAvatar"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) > 0 {
		c.t.Fatalf("upload %s: status %d: %s", filename, resp.StatusCode, raw)
	}
	return out.Data.UploadAvatar, resp.StatusCode
}

func pngImage(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 200, G: uint8(x), B: 80, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

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
		url := *up.User.Profile.AvatarURL
		if !strings.HasPrefix(url, "/media/avatars/") || !strings.HasSuffix(url, ".png") || strings.Contains(url, "passwd") {
			t.Errorf("avatarUrl = %s", url)
		}
		resp, err := http.Get(srv.URL + url)
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
		huge := append(pngImage(t, 4, 4), bytes.Repeat([]byte{0}, 6<<20)...)
		if bad, _ := me.upload("big.png", huge); !slices.Equal(codes(bad.Errors), []string{"FILE_TOO_LARGE@input.file"}) {
			t.Errorf("6 MiB file: %v", codes(bad.Errors))
		}

		// Replacing removes the old file; removeAvatar clears it.
		up2, _ := me.upload("second.png", pngImage(t, 10, 10))
		oldFile := filepath.Join(srv.dataDir, "media", strings.TrimPrefix(url, "/media/"))
		if _, err := os.Stat(oldFile); !os.IsNotExist(err) {
			t.Errorf("old avatar file still exists after replacement: %v", err)
		}
		if resp, _ := http.Get(srv.URL + url); resp.StatusCode != 404 {
			t.Errorf("old avatar URL: %d, want 404", resp.StatusCode)
		}
		var rm struct {
			RemoveAvatar avatarPayload `json:"removeAvatar"`
		}
		me.MustData(`mutation { removeAvatar(input: {}) { user { profile { avatarUrl } } errors { code } } }`, nil, &rm)
		if rm.RemoveAvatar.User == nil || rm.RemoveAvatar.User.Profile.AvatarURL != nil {
			t.Errorf("removeAvatar = %+v", rm.RemoveAvatar)
		}
		if resp, _ := http.Get(srv.URL + *up2.User.Profile.AvatarURL); resp.StatusCode != 404 {
			t.Errorf("removed avatar still served: %d", resp.StatusCode)
		}
		if resp, _ := http.Get(srv.URL + "/media/../mail/x.eml"); resp.StatusCode != 404 {
			t.Errorf("path traversal under /media: %d", resp.StatusCode)
		}
	})
}
