package wallet

import (
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	good := map[string]int64{"12.5": 1250, "12.50": 1250, "0.01": 1, " 7 ": 700, "100000000000.00": 10_000_000_000_000}
	for in, want := range good {
		if got, err := ParseAmount(in); err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0.00", "-1", "1.234", "1e3", "1e50000000", "+5", "1,50", ".5", "5.", "100000000000.01", "NaN", strings.Repeat("9", 30)} {
		if got, err := ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) = %d, want an error", in, got)
		}
	}
	if got, err := ParseBalance("0"); err != nil || got != 0 {
		t.Errorf("ParseBalance(0) = %d, %v", got, err)
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.50", "0.01", "1e50000000", "-3", "99999999999.99", " 5 ", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		minor, err := ParseAmount(s)
		if err != nil {
			return
		}
		if minor <= 0 || minor > maxAmount {
			t.Fatalf("ParseAmount(%q) = %d, outside (0, %d]", s, minor, maxAmount)
		}
		// What is accepted reads back the same once formatted.
		if again, err := ParseAmount(FormatAmount(minor)); err != nil || again != minor {
			t.Fatalf("ParseAmount(FormatAmount(%d)) = %d, %v", minor, again, err)
		}
	})
}
