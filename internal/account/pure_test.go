package account

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// Recovery codes are typed back in any case, with or without dashes and
// spaces, and still match the stored form.
func TestRecoveryCodesAsTyped(t *testing.T) {
	code := newRecoveryCode()
	if len(code) != 19 || strings.Count(code, "-") != 3 || code != strings.ToLower(code) {
		t.Fatalf("new recovery code %q, want four lower-case groups of four", code)
	}
	for _, typed := range []string{code, strings.ToUpper(code), strings.ReplaceAll(code, "-", ""), strings.ReplaceAll(code, "-", " "), " " + code} {
		if got := normalizeRecoveryCode(typed); got != code && got != normalizeRecoveryCode(strings.TrimSpace(typed)) {
			t.Errorf("%q reads as %q, want %q", typed, got, code)
		}
	}
	if newRecoveryCode() == code {
		t.Error("two recovery codes are equal")
	}
}

// Every password rule is reported on the form's own field names, with its
// own code, and a mismatch on the confirmation field.
func TestPasswordRulesNameTheirFields(t *testing.T) {
	for _, tc := range []struct {
		password, confirm string
		want              []string
	}{
		{"zq9x!Lm", "zq9x!Lm", []string{"TOO_SHORT@newPassword"}},
		{"password", "password", []string{"PASSWORD_TOO_COMMON@newPassword"}},
		{"9203857461", "9203857461", []string{"PASSWORD_ENTIRELY_NUMERIC@newPassword"}},
		{"ann.lee@example.com", "ann.lee@example.com", []string{"PASSWORD_TOO_SIMILAR@newPassword"}},
		{"velvet-Lantern-42", "velvet-Lantern-43", []string{"PASSWORD_MISMATCH@confirm"}},
		{"velvet-Lantern-42", "velvet-Lantern-42", nil},
	} {
		var got []string
		for _, e := range checkNewPassword(tc.password, tc.confirm, "newPassword", "confirm", "ann.lee@example.com", "Ann", "Lee") {
			got = append(got, string(e.Code)+"@"+strings.Join(e.Field, "."))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q / %q: %v, want %v", tc.password, tc.confirm, got, tc.want)
		}
	}
	// A form's blank password is REQUIRED by its validation: the rules add nothing.
	if got := passwordRules("", "", "a@b.c"); got != nil {
		t.Errorf("blank password: %v", got)
	}
}

// A search word's index probe is the local part of an address (domains
// are in too many rows to look up), other words themselves.
func TestIndexProbe(t *testing.T) {
	for word, want := range map[string]string{"ann.lee@gmail.com": "ann.lee", "lee": "lee", "ab@x.io": "ab@x.io", "@gmail": "@gmail"} {
		if got := indexProbe(word); got != want {
			t.Errorf("indexProbe(%q) = %q, want %q", word, got, want)
		}
	}
}

// The counters named after a person are every per-user and per-email flow.
func TestPersonalCountersNameEveryFlow(t *testing.T) {
	const id = "00000000-0000-0000-0000-000000000001"
	keys := personalCounters("ann@example.com", mustUUID(t, id))
	want := []string{"login:email:ann@example.com", "reset:email:ann@example.com", "password:user:" + id,
		"mfa:user:" + id, "passkey:user:" + id, "verify:user:" + id, "bulk:user:" + id, "export:user:" + id}
	if !slices.Equal(keys, want) {
		t.Errorf("personal counters %v, want %v", keys, want)
	}
}

// A failed sign-in tells the audit log why, and names the account only
// when there is one.
func TestLoginTarget(t *testing.T) {
	if target, reason := loginTarget(&User{}); target != nil || reason != "unknown_email" {
		t.Errorf("no account: %v %s", target, reason)
	}
	u := &User{ID: mustUUID(t, "00000000-0000-0000-0000-000000000002"), IsActive: true}
	if target, reason := loginTarget(u); target == nil || *target != u.ID || reason != "wrong_password" {
		t.Errorf("an active account: %v %s", target, reason)
	}
	u.IsActive = false
	if _, reason := loginTarget(u); reason != "inactive_account" {
		t.Errorf("a deactivated account: %s", reason)
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
