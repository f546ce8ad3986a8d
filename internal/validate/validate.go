// Package validate checks input structs with go-playground/validator and
// reports problems as coded field errors named after the GraphQL input field
// (the struct's json tag).
package validate

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
	"github.com/mtibben/confusables"
	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"

	"github.com/usergraph/usergraph/internal/apperr"
)

var v = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		return strings.SplitN(f.Tag.Get("json"), ",", 2)[0]
	})
	_ = v.RegisterValidation("mobile", func(fl validator.FieldLevel) bool {
		_, ok := Mobile(fl.Field().String())
		return ok
	})
	_ = v.RegisterValidation("mailbox", func(fl validator.FieldLevel) bool {
		_, ok := EmailKey(fl.Field().String())
		return ok
	})
	return v
}()

// Struct validates in and returns every problem, or nil. Besides the
// struct's tags, no text field may hold NUL or other control characters
// (tabs and line breaks excepted): they cannot be stored in PostgreSQL and
// have no place in names, emails or descriptions.
func Struct(in any) apperr.List {
	list := controlCharacters(reflect.ValueOf(in), nil)
	err := v.Struct(in)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		if err != nil {
			list = append(list, apperr.New(apperr.Invalid, err.Error()))
		}
		if len(list) == 0 {
			return nil
		}
		return list
	}
	for _, fe := range verrs {
		list = append(list, fieldError(fe))
	}
	return list
}

// Text reports whether s holds no NUL or other control character (tabs and
// line breaks excepted).
func Text(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
	})
}

// controlCharacters finds text fields of v, by their input names, that
// are not Text.
func controlCharacters(v reflect.Value, path []string) apperr.List {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var list apperr.List
	switch v.Kind() {
	case reflect.String:
		if !Text(v.String()) {
			list = append(list, &apperr.Error{Code: apperr.Invalid, Field: slices.Clone(path), Message: "Remove the control characters from this field."})
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name := strings.SplitN(f.Tag.Get("json"), ",", 2)[0]
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			list = append(list, controlCharacters(v.Field(i), append(path, name))...)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			list = append(list, controlCharacters(v.Index(i), append(path, strconv.Itoa(i)))...)
		}
	}
	return list
}

func fieldError(fe validator.FieldError) *apperr.Error {
	// Namespace is "Struct.field[2].sub"; drop the struct name for the field path.
	path := strings.Split(fe.Namespace(), ".")[1:]
	var parts []string
	for _, p := range path {
		name, index, found := strings.Cut(p, "[")
		parts = append(parts, name)
		if found {
			parts = append(parts, strings.TrimSuffix(index, "]"))
		}
	}
	e := &apperr.Error{Field: parts}
	numeric := fe.Kind() == reflect.Int || fe.Kind() == reflect.Int64
	switch fe.Tag() {
	case "required":
		e.Code, e.Message = apperr.Required, "This field is required."
	case "max":
		e.Code, e.Message = apperr.TooLong, fmt.Sprintf("Ensure this field has no more than %s characters.", fe.Param())
		if numeric {
			e.Code, e.Message = apperr.Invalid, "Ensure this value is at most "+fe.Param()+"."
		}
	case "min":
		e.Code, e.Message = apperr.TooShort, fmt.Sprintf("Ensure this field has at least %s characters.", fe.Param())
		if numeric {
			e.Code, e.Message = apperr.Invalid, "Ensure this value is at least "+fe.Param()+"."
		}
	case "email", "mailbox":
		e.Code, e.Message = apperr.Invalid, "Enter a valid email address."
	case "mobile":
		e.Code, e.Message = apperr.Invalid, "Enter a mobile number in international form: + (or 00), the country code, then the number."
	default:
		e.Code, e.Message = apperr.Invalid, "Enter a valid value."
	}
	return e
}

// The bounds of a search: enough for any person's name or address, small
// enough that a search stays one cheap query.
const (
	MaxSearchWords    = 10
	MaxSearchWordRune = 100
)

// SearchWords splits a search into its lower-cased words, or returns a
// BAD_REQUEST error when it has control characters, more than
// MaxSearchWords words or a word longer than MaxSearchWordRune characters.
func SearchWords(search string) ([]string, error) {
	words := strings.Fields(strings.ToLower(search))
	switch {
	case !Text(search):
		return nil, apperr.New(apperr.BadRequest, "The search may not contain control characters.")
	case len(words) > MaxSearchWords:
		return nil, apperr.New(apperr.BadRequest, fmt.Sprintf("Search with at most %d words.", MaxSearchWords))
	}
	for _, w := range words {
		if utf8.RuneCountInString(w) > MaxSearchWordRune {
			return nil, apperr.New(apperr.BadRequest, fmt.Sprintf("Search words have at most %d characters.", MaxSearchWordRune))
		}
	}
	return words, nil
}

// EmailKey is the form of an email address that uniqueness and sign-in
// compare: the local part lower-cased, the domain in its ASCII (IDNA) form,
// lower-cased. ok is false for an address usergraph does not accept: a local
// part outside printable ASCII (look-alike letters such as Cyrillic "а", a
// Kelvin sign or fullwidth letters, invisible characters), or a domain that
// is not a valid internationalised name.
func EmailKey(email string) (key string, ok bool) {
	email = strings.TrimSpace(email)
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 {
		return strings.ToLower(email), false
	}
	local, domain := email[:at], email[at+1:]
	for _, r := range local {
		if r <= ' ' || r > '~' {
			return strings.ToLower(email), false
		}
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || !strings.Contains(ascii, ".") {
		return strings.ToLower(email), false
	}
	unicodeForm, err := idna.Lookup.ToUnicode(ascii)
	if err != nil {
		return strings.ToLower(email), false
	}
	for _, label := range strings.Split(unicodeForm, ".") {
		if lookAlike(label) {
			return strings.ToLower(email), false
		}
	}
	return strings.ToLower(local) + "@" + strings.ToLower(ascii), true
}

// lookAlike reports a domain label that passes for another: letters of
// several scripts mixed (a Cyrillic "о" in "prоbe"), beyond the mixes a
// language writes (Unicode TS #39's highly restrictive level: Latin with
// Han and Japanese kana, with Han and Bopomofo, or with Han and Hangul), or
// a label in another script made wholly of letters that look Latin
// ("раураl"), by Unicode's confusables table.
func lookAlike(label string) bool {
	scripts := map[string]bool{}
	ascii := true
	for _, r := range label {
		if r >= 0x80 {
			ascii = false
		}
		if s := scriptOf(r); s != "" {
			scripts[s] = true
		}
	}
	if ascii {
		return false
	}
	switch len(scripts) {
	case 0, 1:
	default:
		if !allowedMix(scripts) {
			return true
		}
	}
	skeleton := confusables.Skeleton(label)
	for _, r := range skeleton {
		if r >= 0x80 {
			return false
		}
	}
	return true
}

// scriptOf names the script of a letter, "" for characters every script
// shares (digits, hyphens) or that combine with others.
func scriptOf(r rune) string {
	for name, table := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

// allowedMix is whether scripts are one of the mixes a language writes.
func allowedMix(scripts map[string]bool) bool {
	for _, mix := range [][]string{
		{"Latin", "Han", "Hiragana", "Katakana"},
		{"Latin", "Han", "Bopomofo"},
		{"Latin", "Han", "Hangul"},
	} {
		within := true
		for s := range scripts {
			if !slices.Contains(mix, s) {
				within = false
			}
		}
		if within {
			return true
		}
	}
	return false
}

// Mobile is a phone number in E.164 form (+491511234567), read by
// libphonenumber from an international number written with + or 00 and any
// spaces, dots, dashes or brackets; ok is false for anything that cannot be
// a number. One number has one form, so it cannot register twice.
func Mobile(s string) (e164 string, ok bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") || len(s) > 32 || !Text(s) {
		return s, false
	}
	n, err := phonenumbers.Parse(s, "ZZ")
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return s, false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}
