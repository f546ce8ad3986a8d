package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/trustelem/zxcvbn/frequency"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/argon2"
)

// argon2id parameters: OWASP's first recommendation (19 MiB, 2 passes, one
// lane). About 25 ms of one core here, so two cores check some 70 passwords
// a second while an admitted hash holds 19 MiB; stronger settings would
// halve sign-in throughput for little gain against offline guessing.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashMemory is what one running hash allocates, in bytes.
const HashMemory = argonMemory * 1024

// Hasher computes argon2id hashes, admitting at most Slots at once (each
// holds argonMemory): a burst of sign-ins waits in a bounded queue instead
// of exhausting memory, and beyond the queue is refused with RATE_LIMITED.
type Hasher struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	wait    time.Duration
	// computed counts the hashes computed (the password checks requests
	// caused), refused the checks refused as busy: for metrics and tests.
	computed, refused atomic.Int64
}

// NewHasher returns a Hasher running slots hashes at once (0: one per CPU),
// with at most queue requests waiting up to wait for a slot.
func NewHasher(slots, queue int, wait time.Duration) *Hasher {
	if slots <= 0 {
		slots = runtime.NumCPU()
	}
	dummyHash() // computed now, not by the first unknown email
	return &Hasher{slots: make(chan struct{}, slots), queue: int64(queue), wait: wait}
}

// Running is how many hashes are being computed now.
func (h *Hasher) Running() int { return len(h.slots) }

// Waiting is how many requests wait for a hashing slot now.
func (h *Hasher) Waiting() int64 { return h.waiting.Load() }

// Computed reports how many argon2id hashes h has computed.
func (h *Hasher) Computed() int64 { return h.computed.Load() }

// Refused reports how many password checks h refused because every slot
// and the queue were taken (or the wait ran out).
func (h *Hasher) Refused() int64 { return h.refused.Load() }

// errBusy is the answer when every slot and the queue are taken.
var errBusy = &apperr.Error{Code: apperr.RateLimited, Message: "The server is busy signing people in. Try again in a moment.", RetryAfter: time.Second}

// run computes f in a slot, waiting for one within the queue's bounds.
func (h *Hasher) run(ctx context.Context, f func()) error {
	select {
	case h.slots <- struct{}{}:
	default:
		if h.waiting.Add(1) > h.queue {
			h.waiting.Add(-1)
			h.refused.Add(1)
			return errBusy
		}
		timer := time.NewTimer(h.wait)
		defer timer.Stop()
		select {
		case h.slots <- struct{}{}:
			h.waiting.Add(-1)
		case <-timer.C:
			h.waiting.Add(-1)
			h.refused.Add(1)
			return errBusy
		case <-ctx.Done():
			h.waiting.Add(-1)
			return ctx.Err()
		}
	}
	h.computed.Add(1)
	hashing(1)
	f()
	hashing(-1)
	<-h.slots
	return nil
}

// memoryBudget is the process's soft memory limit when the server set one
// (SetMemoryBudget): base, plus HashMemory for as many hashes as have run at
// once since the last moment none ran.
var memoryBudget budget

type budget struct {
	sync.Mutex
	base    int64 // 0: the limit is not ours to move
	running int64
	held    int64 // the most hashes running at once in this burst
}

// SetMemoryBudget holds the soft memory limit (runtime/debug.SetMemoryLimit)
// at base while no password hash runs and raises it by HashMemory for each
// hash running at once, until none runs. Outside sign-ins the heap then
// stays near base, and sign-ins do not make the collector run against
// their own 19 MiB blocks: the limit comes down when a burst ends, not
// between its hashes, whose garbage would otherwise push the heap over it.
// base 0 leaves the limit where it is from then on.
func SetMemoryBudget(base int64) {
	memoryBudget.Lock()
	defer memoryBudget.Unlock()
	memoryBudget.base = base
	memoryBudget.apply()
}

// hashing counts a hash starting (1) or ending (-1) and moves the limit.
func hashing(delta int64) {
	b := &memoryBudget
	b.Lock()
	defer b.Unlock()
	b.running += delta
	held := max(b.held, b.running)
	if b.running == 0 {
		held = 0
	}
	if held != b.held {
		b.held = held
		b.apply()
	}
}

// apply sets the limit the budget gives now; the caller holds the lock.
func (b *budget) apply() {
	if b.base > 0 {
		debug.SetMemoryLimit(b.base + b.held*HashMemory)
	}
}

// Hash returns an encoded argon2id hash in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so parameters can change later
// without invalidating stored hashes.
func (h *Hasher) Hash(ctx context.Context, password string) (encoded string, err error) {
	err = h.run(ctx, func() { encoded, err = hashPassword(password) })
	return encoded, err
}

// Verify reports whether password matches encoded, comparing in constant
// time, and whether encoded should be replaced because it was made with
// other parameters than the current ones. An empty encoded (no account, or
// no password yet) is checked against a dummy hash at the same cost and
// never matches. A malformed hash never matches.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, valid := parseHash(encoded)
	if encoded == "" || !valid {
		p, _ = parseHash(dummyHash())
		p.want = nil
	}
	err = h.run(ctx, func() {
		got := idKey([]byte(password), p.salt, p.iters, p.mem, p.threads, p.keyLen)
		ok = p.want != nil && subtle.ConstantTimeCompare(got, p.want) == 1
	})
	rehash = ok && (p.iters != argonTime || p.mem != argonMemory || p.threads != argonThreads || p.keyLen != argonKeyLen)
	return ok, rehash, err
}

// blocks keeps the working memory of hashes at the current parameters
// between hashes: a sign-in then neither allocates 19 MiB nor has the
// runtime zero it (or fault it in again), and the collector has no 19 MiB
// of garbage per sign-in to run for. There are as many as hashes have run
// at once (the Hasher's slots); a collection after a burst frees them,
// like any pooled object, so memory comes down when sign-ins stop.
var blocks = sync.Pool{New: func() any { b := argon2.NewBlocks(argonMemory, argonThreads); return &b }}

// idKey is Argon2id; hashes at the current memory and lanes use pooled
// memory, those of older parameters (checked once, then rehashed) memory of
// their own.
func idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if memory != argonMemory || threads != argonThreads {
		return argon2.NewBlocks(memory, threads).IDKey(password, salt, time, memory, threads, keyLen)
	}
	b := blocks.Get().(*argon2.Blocks)
	defer blocks.Put(b)
	return b.IDKey(password, salt, time, memory, threads, keyLen)
}

func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := idKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// hashParams are the parts of an encoded hash.
type hashParams struct {
	mem, iters, keyLen uint32
	threads            uint8
	salt, want         []byte
}

// maxArgonMemory bounds the memory a stored hash may ask for (1 GiB), so a
// corrupt row cannot exhaust the server.
const maxArgonMemory = 1 << 20

func parseHash(encoded string) (hashParams, bool) {
	var p hashParams
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.mem, &p.iters, &p.threads); err != nil {
		return p, false
	}
	var err1, err2 error
	p.salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	p.want, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	p.keyLen = uint32(len(p.want))
	valid := err1 == nil && err2 == nil && p.keyLen >= 16 && p.keyLen <= 64 &&
		p.iters >= 1 && p.iters <= 16 && p.threads >= 1 && p.mem >= 8*uint32(p.threads) && p.mem <= maxArgonMemory
	return p, valid
}

// dummyHash is verified against when no account matches, so a failed sign-in
// costs the same whether or not the email exists.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashPassword("usergraph-timing-equaliser")
	if err != nil {
		panic(err)
	}
	return h
})

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
