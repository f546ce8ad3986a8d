package main

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/usergraph/usergraph/internal/testdb"
)

const (
	setAppMetadataMutation  = `mutation($id: ID!, $m: JSON!) { setAppMetadata(input: {userId: $id, metadata: $m}) { user { id appMetadata } errors { field code message } } }`
	setUserMetadataMutation = `mutation($m: JSON!) { setUserMetadata(input: {metadata: $m}) { user { userMetadata } errors { field code message } } }`
)

type metadataAnswer struct {
	User *struct {
		AppMetadata  map[string]any `json:"appMetadata"`
		UserMetadata map[string]any `json:"userMetadata"`
	} `json:"user"`
	Errors []userError `json:"errors"`
}

// setApp sets id's app metadata as c; it returns the payload, or the
// top-level error code.
func setApp(t *testing.T, c *client, id string, m any) (metadataAnswer, string) {
	t.Helper()
	r := c.Do(setAppMetadataMutation, map[string]any{"id": id, "m": m})
	if r.Code() != "" {
		return metadataAnswer{}, r.Code()
	}
	var d struct{ SetAppMetadata metadataAnswer }
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.SetAppMetadata, ""
}

// Who may write which metadata, per role; both are bounded, in myData,
// erased with the account, and app metadata rides in tokens when asked.
func TestTheAppsOwnDataOnUsers(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dbURL string) {
		srv, admin := b2bServer(t, dbURL, map[string]string{"METADATA_MAX_BYTES": "64", "METADATA_IN_TOKEN": "true"})
		anon := srv.Client()
		consumer := mustSignIn(t, anon.register(registerInput("meta@example.com", "+4915150000001")))
		me := anon.As(*consumer.AccessToken)
		boss := approvedB2BAdmin(t, srv, admin, "boss@example.com", "+4915150000002")
		otherBoss := approvedB2BAdmin(t, srv, admin, "other-boss@example.com", "+4915150000003")
		batch := createBatch(t, boss, "Team", 5).Batch
		staff := createB2BUser(t, boss, batch.ID, "staff@example.com", "+4915150000004").User

		// A new user has empty objects.
		var read struct {
			Me struct {
				AppMetadata, UserMetadata map[string]any
			}
		}
		me.MustData(`{ me { appMetadata userMetadata } }`, nil, &read)
		if read.Me.AppMetadata == nil || len(read.Me.AppMetadata) != 0 || read.Me.UserMetadata == nil || len(read.Me.UserMetadata) != 0 {
			t.Errorf("a new user's metadata: %+v", read.Me)
		}

		// App metadata: admins for anyone, a B2B admin for its own users only,
		// never the user itself.
		plan := map[string]any{"plan": "pro"}
		if r, code := setApp(t, admin, consumer.User.ID, plan); code != "" || len(r.Errors) > 0 || r.User.AppMetadata["plan"] != "pro" {
			t.Errorf("admin sets a consumer's app metadata: %+v %s", r, code)
		}
		if r, code := setApp(t, boss, staff.ID, map[string]any{"team": "red"}); code != "" || len(r.Errors) > 0 || r.User.AppMetadata["team"] != "red" {
			t.Errorf("the B2B admin sets its user's: %+v %s", r, code)
		}
		for who, c := range map[string]*client{"another B2B admin": otherBoss, "the user itself": me} {
			if _, code := setApp(t, c, consumer.User.ID, plan); code != "FORBIDDEN" {
				t.Errorf("%s sets app metadata: %s, want FORBIDDEN", who, code)
			}
		}
		if _, code := setApp(t, otherBoss, staff.ID, plan); code != "FORBIDDEN" {
			t.Errorf("another B2B admin sets the staff's app metadata: %s, want FORBIDDEN", code)
		}
		// The user reads its app metadata and writes its own user metadata.
		me.MustData(`{ me { appMetadata userMetadata } }`, nil, &read)
		if read.Me.AppMetadata["plan"] != "pro" {
			t.Errorf("the user reads %+v", read.Me.AppMetadata)
		}
		var own struct{ SetUserMetadata metadataAnswer }
		me.MustData(setUserMetadataMutation, map[string]any{"m": map[string]any{"theme": "dark"}}, &own)
		if len(own.SetUserMetadata.Errors) > 0 || own.SetUserMetadata.User.UserMetadata["theme"] != "dark" {
			t.Errorf("setUserMetadata: %+v", own.SetUserMetadata)
		}
		// Bounds: an object, at most METADATA_MAX_BYTES.
		for what, m := range map[string]any{"an array": []any{1}, "a string": "x", "over 64 bytes": map[string]any{"k": strings.Repeat("x", 64)}} {
			me.MustData(setUserMetadataMutation, map[string]any{"m": m}, &own)
			want := "INVALID"
			if what == "over 64 bytes" {
				want = "TOO_LONG"
			}
			if codeList(own.SetUserMetadata.Errors) != want {
				t.Errorf("user metadata %s: %v, want %s", what, own.SetUserMetadata.Errors, want)
			}
		}
		// Another user's metadata is private.
		if r := otherBoss.Do(`query($id: ID!) { user(id: $id) { appMetadata } }`, map[string]any{"id": consumer.User.ID}); string(r.Data) != `{"user":null}` {
			t.Errorf("another B2B admin looked up a consumer's app metadata: %s %v", r.Data, r.Errors)
		}

		// METADATA_IN_TOKEN: the next token carries it.
		again := mustSignIn(t, anon.login("meta@example.com", goodPassword))
		parts := strings.Split(*again.AccessToken, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims struct {
			AppMetadata map[string]any `json:"app_metadata"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil || claims.AppMetadata["plan"] != "pro" {
			t.Errorf("token claims %s", payload)
		}

		// myData exports both; erasure removes both.
		var export struct{ MyData json.RawMessage }
		me.MustData(`{ myData }`, nil, &export)
		var doc struct {
			Profile struct{ AppMetadata, UserMetadata map[string]any }
		}
		if err := json.Unmarshal(export.MyData, &doc); err != nil || doc.Profile.AppMetadata["plan"] != "pro" || doc.Profile.UserMetadata["theme"] != "dark" {
			t.Errorf("myData profile metadata %+v (%v)", doc.Profile, err)
		}
		var del struct{ DeleteMyAccount struct{ Errors []userError } }
		me.MustData(`mutation($p: String!) { deleteMyAccount(input: { password: $p }) { errors { code } } }`, map[string]any{"p": goodPassword}, &del)
		var n int
		if err := srv.DB().NewRaw("SELECT count(*) FROM users WHERE id = ? AND (app_metadata <> '{}' OR user_metadata <> '{}')", consumer.User.ID).Scan(t.Context(), &n); err != nil || n != 0 {
			t.Errorf("metadata left after erasure: %d (%v)", n, err)
		}
		// The erased account's remaining row takes no new data.
		if r, code := setApp(t, admin, consumer.User.ID, plan); code != "" || len(r.Errors) != 1 || r.Errors[0].Code != "NOT_FOUND" {
			t.Errorf("admin sets an erased user's app metadata: %+v %q, want NOT_FOUND", r.Errors, code)
		}
		if err := srv.DB().NewRaw("SELECT count(*) FROM users WHERE id = ? AND app_metadata <> '{}'", consumer.User.ID).Scan(t.Context(), &n); err != nil || n != 0 {
			t.Errorf("app metadata written to an erased account: %d (%v)", n, err)
		}
	})
}
