package argon2

import (
	"bytes"
	"fmt"
	"testing"

	xargon2 "golang.org/x/crypto/argon2"
)

// Every hash must equal x/crypto's for the same inputs, also when the
// Blocks still hold the hash before (the first pass must overwrite them).
func TestIDKeyMatchesXCrypto(t *testing.T) {
	cases := []struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}{
		{2, 19 * 1024, 1, 32}, // usergraph's parameters
		{1, 8, 1, 32},         // the least memory
		{3, 64, 1, 16},
		{2, 100, 2, 32}, // memory not a multiple of 4 blocks per lane
		{1, 257, 4, 64},
		{4, 32, 3, 100},
		{3, 12 * 1024, 4, 32},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("t=%d,m=%d,p=%d,len=%d", c.time, c.memory, c.threads, c.keyLen), func(t *testing.T) {
			B := NewBlocks(c.memory, c.threads)
			for i, in := range []struct{ password, salt string }{
				{"correct horse battery staple", "saltsaltsaltsalt"},
				{"", "another salt...."},
				{"Seeded-Password-1", "0123456789abcdef0123"},
			} {
				want := xargon2.IDKey([]byte(in.password), []byte(in.salt), c.time, c.memory, c.threads, c.keyLen)
				if got := B.IDKey([]byte(in.password), []byte(in.salt), c.time, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
					t.Errorf("hash %d in the same Blocks = %x, x/crypto %x", i, got, want)
				}
			}
		})
	}
}

func TestBlocksForOtherParametersAreRefused(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Blocks made for 64 KiB hashed with 128 KiB")
		}
	}()
	NewBlocks(64, 1).IDKey([]byte("pw"), []byte("saltsalt"), 1, 128, 1, 32)
}

// FuzzIDKeyMatchesXCrypto hashes arbitrary inputs twice in one Blocks
// (the second over the first's state) and compares both with x/crypto.
func FuzzIDKeyMatchesXCrypto(f *testing.F) {
	f.Add([]byte("password"), []byte("saltsalt"), []byte("other"), uint8(2), uint16(64), uint8(1), uint8(32))
	f.Add([]byte(""), []byte("somesalt"), []byte("x"), uint8(1), uint16(8), uint8(3), uint8(4))
	f.Fuzz(func(t *testing.T, password, salt, second []byte, time uint8, memory uint16, threads, keyLen uint8) {
		tm, mem, th, kl := uint32(time%4)+1, uint32(memory%512), threads%4+1, uint32(keyLen%64)+4
		B := NewBlocks(mem, th)
		for _, pw := range [][]byte{password, second} {
			want := xargon2.IDKey(pw, salt, tm, mem, th, kl)
			if got := B.IDKey(pw, salt, tm, mem, th, kl); !bytes.Equal(got, want) {
				t.Fatalf("IDKey(%q, %q, %d, %d, %d, %d) = %x, x/crypto %x", pw, salt, tm, mem, th, kl, got, want)
			}
		}
	})
}
