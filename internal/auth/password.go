package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/crypto/argon2"
)

// argon2id parameters (RFC 9106's second recommended option, memory-constrained).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword returns an encoded argon2id hash in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so parameters can change later
// without invalidating stored hashes.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the encoded hash, comparing
// in constant time. A malformed hash never matches.
func VerifyPassword(password, encoded string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, iters, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is verified against when no account matches, so a failed sign-in
// costs the same whether or not the email exists.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("usergraph-timing-equaliser")
	if err != nil {
		panic(err)
	}
	return h
})

// VerifyPasswordOrDummy verifies password against encoded, or against a dummy
// hash when encoded is empty (unknown account, or no password set yet), and
// then reports false. Its cost does not reveal which case happened.
func VerifyPasswordOrDummy(password, encoded string) bool {
	if encoded == "" {
		VerifyPassword(password, dummyHash())
		return false
	}
	return VerifyPassword(password, encoded)
}

// PasswordMinLength is the shortest password accepted.
const PasswordMinLength = 8

// Password problems, as returned by CheckPassword.
var (
	ErrPasswordTooShort   = errors.New("This password is too short. It must contain at least 8 characters.")
	ErrPasswordTooCommon  = errors.New("This password is too common.")
	ErrPasswordNumeric    = errors.New("This password is entirely numeric.")
	ErrPasswordTooSimilar = errors.New("The password is too similar to the email or name.")
)

// commonPasswords is the zxcvbn list of the 30,000 most used passwords, lower-cased.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	list := frequency.FrequencyLists["passwords"]
	set := make(map[string]struct{}, len(list))
	for _, p := range list {
		set[strings.ToLower(p)] = struct{}{}
	}
	return set
})

// CheckPassword applies the password rules to a new password: length, the
// common-password list, not entirely digits, and not too similar to any of
// the user's attributes (email, first name, last name). It returns every rule
// that fails, in that order.
func CheckPassword(password string, attributes ...string) []error {
	var errs []error
	if len([]rune(password)) < PasswordMinLength {
		errs = append(errs, ErrPasswordTooShort)
	}
	if _, ok := commonPasswords()[strings.ToLower(password)]; ok {
		errs = append(errs, ErrPasswordTooCommon)
	}
	if password != "" && strings.IndexFunc(password, func(r rune) bool { return !unicode.IsDigit(r) }) < 0 {
		errs = append(errs, ErrPasswordNumeric)
	}
	if tooSimilar(password, attributes) {
		errs = append(errs, ErrPasswordTooSimilar)
	}
	return errs
}

// maxSimilarity is Django's UserAttributeSimilarityValidator default.
const maxSimilarity = 0.7

// tooSimilar is Django's UserAttributeSimilarityValidator, which the original
// system used: the password is compared, lower-cased, with each attribute and
// each of its words (an email "ann.lee@x.io" gives "ann", "lee", "x", "io"
// and the whole address) by difflib's quick_ratio.
func tooSimilar(password string, attributes []string) bool {
	pw := strings.ToLower(password)
	if pw == "" {
		return false
	}
	for _, attr := range attributes {
		attr = strings.ToLower(attr)
		if attr == "" {
			continue
		}
		parts := append(strings.FieldsFunc(attr, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
		}), attr)
		for _, part := range parts {
			if muchLonger(pw, part) {
				continue
			}
			if quickRatio(pw, part) >= maxSimilarity {
				return true
			}
		}
	}
	return false
}

// muchLonger skips parts so short next to the password that no similarity
// above the maximum is possible (Django's exceeds_maximum_length_ratio).
func muchLonger(password, part string) bool {
	pwLen, partLen := float64(len([]rune(password))), float64(len([]rune(part)))
	return pwLen >= 10*partLen && partLen < maxSimilarity/2*pwLen
}

// quickRatio is difflib.SequenceMatcher.quick_ratio: 2*M/T, where M counts
// the characters the two strings share (as multisets) and T is their total length.
func quickRatio(a, b string) float64 {
	counts := map[rune]int{}
	for _, r := range b {
		counts[r]++
	}
	matches := 0
	for _, r := range a {
		if counts[r] > 0 {
			counts[r]--
			matches++
		}
	}
	total := len([]rune(a)) + len([]rune(b))
	if total == 0 {
		return 1
	}
	return 2 * float64(matches) / float64(total)
}
