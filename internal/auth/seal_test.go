package auth

import (
	"errors"
	"strings"
	"testing"
)

// A sealed secret opens only with the key it was sealed under and only for
// the row it was sealed for (its owner is the AEAD's associated data), so a
// copy of the database without KEY_ENCRYPTION_KEY reveals nothing and a
// secret moved to another row does not open there.
func TestSealedSecretsOpenOnlyWithTheirKeyAndRow(t *testing.T) {
	s, err := NewSealer("the first key-encryption key, 32+ characters")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSealer("another key-encryption key, also 32+ characters")
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("JBSWY3DPEHPK3PXP"), "user-1")
	if !strings.HasPrefix(sealed, "gcm1:") || strings.Contains(sealed, "JBSWY3DPEHPK3PXP") {
		t.Fatalf("sealed form %q", sealed)
	}
	if plain, err := s.Open(sealed, "user-1"); err != nil || string(plain) != "JBSWY3DPEHPK3PXP" {
		t.Errorf("its own row: %q %v", plain, err)
	}
	if _, err := s.Open(sealed, "user-2"); !errors.Is(err, ErrSealed) {
		t.Errorf("moved to another row: %v, want ErrSealed", err)
	}
	if _, err := other.Open(sealed, "user-1"); !errors.Is(err, ErrSealed) {
		t.Errorf("under another key: %v, want ErrSealed", err)
	}
	none, _ := NewSealer("")
	if _, err := none.Open(sealed, "user-1"); !errors.Is(err, ErrSealed) {
		t.Errorf("without a key: %v, want ErrSealed", err)
	}
	damaged := sealed[:len(sealed)-2] + "AA"
	if _, err := s.Open(damaged, "user-1"); !errors.Is(err, ErrSealed) {
		t.Errorf("damaged: %v, want ErrSealed", err)
	}
	// Stored before a key was set, a secret still opens once one is.
	plain := none.Seal([]byte("old"), "user-1")
	if got, err := s.Open(plain, "user-1"); err != nil || string(got) != "old" {
		t.Errorf("a secret stored without a key: %q %v", got, err)
	}
}
