package page

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func FuzzDecodeCursor(f *testing.F) {
	id := uuid.MustParse("0190b1f0-0000-7000-8000-000000000001")
	f.Add(Cursor(time.Date(2026, 11, 29, 4, 0, 0, 123, time.UTC), id), true)
	f.Add(Cursor("ann@example.com", id), false)
	f.Add("not base64!", false)
	f.Add("e30", true) // {}
	f.Fuzz(func(t *testing.T, s string, isTime bool) {
		c, v, err := decodeCursor(s, isTime)
		if err != nil {
			if err != errBadCursor {
				t.Fatalf("error %v is not errBadCursor", err)
			}
			return
		}
		// Whatever decodes is a position we could have written.
		if again := Cursor(v, c.ID); isTime {
			if _, v2, err := decodeCursor(again, true); err != nil || !v2.(time.Time).Equal(v.(time.Time)) {
				t.Fatalf("re-encoded cursor %q decodes to %v, %v", again, v2, err)
			}
		} else if again != Cursor(c.Value, c.ID) {
			t.Fatalf("cursor of %q is not stable", c.Value)
		}
	})
}

func TestDecodeCursorRoundTrip(t *testing.T) {
	id := uuid.New()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	c, v, err := decodeCursor(Cursor(at, id), true)
	if err != nil || c.ID != id || !v.(time.Time).Equal(at) {
		t.Errorf("time cursor: %v %v %v", c, v, err)
	}
	c, v, err = decodeCursor(Cursor("b@x.io", id), false)
	if err != nil || c.ID != id || v != "b@x.io" {
		t.Errorf("text cursor: %v %v %v", c, v, err)
	}
	for _, bad := range []string{"", "%%%", Cursor("not a time", id), string(make([]byte, maxCursor+1))} {
		if _, _, err := decodeCursor(bad, true); err != errBadCursor {
			t.Errorf("decodeCursor(%.20q) = %v, want errBadCursor", bad, err)
		}
	}
}
