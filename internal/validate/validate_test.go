package validate

import (
	"slices"
	"strings"
	"testing"
)

type row struct {
	Email string `json:"email" validate:"required,email,max=254"`
}

type form struct {
	Email  string `json:"email" validate:"required,email"`
	Mobile string `json:"mobile" validate:"required,mobile"`
	Name   string `json:"firstName" validate:"max=5"`
	Seats  int    `json:"maxUsers" validate:"min=1,max=1000"`
	Rows   []row  `json:"users" validate:"dive"`
}

func TestStructNamesFieldsAsTheInputDoes(t *testing.T) {
	cases := []struct {
		name string
		in   form
		want []string // CODE@field.path
	}{
		{"valid", form{Email: "a@b.co", Mobile: "+491511234567", Name: "Ann", Seats: 3}, nil},
		{"missing", form{Seats: 3}, []string{"REQUIRED@email", "REQUIRED@mobile"}},
		{"malformed", form{Email: "nope", Mobile: "12-34", Name: "Annabelle", Seats: 0},
			[]string{"INVALID@email", "INVALID@mobile", "TOO_LONG@firstName", "INVALID@maxUsers"}},
		{"mobile bounds", form{Email: "a@b.co", Mobile: "12345678", Seats: 1}, []string{"INVALID@mobile"}},
		{"international mobile", form{Email: "a@b.co", Mobile: "+49 (151) 123-4567", Seats: 1}, nil},
		{"mobile without a country code", form{Email: "a@b.co", Mobile: "1511234567", Seats: 1}, []string{"INVALID@mobile"}},
		{"row index in the path", form{Email: "a@b.co", Mobile: "+12025550100", Seats: 1, Rows: []row{{"ok@x.io"}, {""}}},
			[]string{"REQUIRED@users.1.email"}},
	}
	for _, tc := range cases {
		var got []string
		for _, e := range Struct(tc.in) {
			got = append(got, string(e.Code)+"@"+joinPath(e.Field))
			if e.Message == "" {
				t.Errorf("%s: %s has no message", tc.name, got[len(got)-1])
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func joinPath(p []string) string {
	out := ""
	for i, s := range p {
		if i > 0 {
			out += "."
		}
		out += s
	}
	return out
}

func TestControlCharactersAreRefused(t *testing.T) {
	got := Struct(form{Email: "a@b.co\x00", Mobile: "+12025550100", Name: "A\x1b[2J", Seats: 1, Rows: []row{{"x@y.io\u0007"}}})
	var paths []string
	for _, e := range got {
		if e.Code == "INVALID" && strings.Contains(e.Message, "control characters") {
			paths = append(paths, joinPath(e.Field))
		}
	}
	if !slices.Equal(paths, []string{"email", "firstName", "users.0.email"}) {
		t.Errorf("control characters reported at %v (%v)", paths, got)
	}
	for s, want := range map[string]bool{"Ann Lee": true, "line\nbreak\tand tab": true, "nul\x00": false, "del\x7f": false, "é ü 漢": true} {
		if Text(s) != want {
			t.Errorf("Text(%q) = %v", s, !want)
		}
	}
}

func TestEmailKey(t *testing.T) {
	cases := []struct {
		in, key string
		ok      bool
	}{
		{"Ann.Lee@Example.COM", "ann.lee@example.com", true},
		{" ann@example.com ", "ann@example.com", true},
		{"ann@bücher.example", "ann@xn--bcher-kva.example", true},
		{"ann@BÜCHER.example", "ann@xn--bcher-kva.example", true},
		{"\u212aate@example.com", "", false}, // Kelvin sign, folds to k
		{"ｋate@example.com", "", false},      // fullwidth
		{"аnn@example.com", "", false},       // Cyrillic а
		{"an\u200bn@example.com", "", false}, // zero-width space
		{"ann@example", "", false},           // no dot in the domain
		{"ann@exa mple.com", "", false},
		{"@example.com", "", false},
		{"ann@", "", false},
		// Domains: one script per label, or a mix a language writes; no
		// label of another script that looks Latin.
		{"ann@pr\u043ebe.test", "", false},                                                           // a Cyrillic о among Latin letters
		{"ann@\u0440\u0430\u0443\u0440\u0430l.com", "", false},                                       // Cyrillic раура + Latin l
		{"ann@\u0441\u043e\u0441\u043e.com", "", false},                                              // all Cyrillic, reads "coco"
		{"ann@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "ann@xn--e1afmkfd.xn--p1ai", true}, // пример.рф
		{"ann@\u6771\u4eac\u30c6\u30ec\u30d3.jp", "ann@xn--ddk0a0ew63m34z.jp", true},                 // Han and Katakana
		{"ann@b\u00fccher-\u6771\u4eac.example", "ann@xn--bcher--3ya3220nsuxb.example", true},        // Latin and Han
		{"ann@\u03b1\u03c0\u03bb\u03cc.gr", "", true},                                                // Greek alone
	}
	for _, tc := range cases {
		key, ok := EmailKey(tc.in)
		if ok != tc.ok || (ok && tc.key != "" && key != tc.key) {
			t.Errorf("EmailKey(%q) = %q, %v; want %q, %v", tc.in, key, ok, tc.key, tc.ok)
		}
	}
}

func TestMobileHasOneForm(t *testing.T) {
	for _, in := range []string{"+491511234567", "0049 151 1234567", "+49 (151) 123-45-67", " +49.151.1234567 "} {
		if got, ok := Mobile(in); !ok || got != "+491511234567" {
			t.Errorf("Mobile(%q) = %q, %v; want +491511234567", in, got, ok)
		}
	}
	for _, bad := range []string{"", "1511234567", "+49", "+12", "+4915112345678901234", "+49151\x00", "+49 abc"} {
		if got, ok := Mobile(bad); ok {
			t.Errorf("Mobile(%q) accepted as %q", bad, got)
		}
	}
}
