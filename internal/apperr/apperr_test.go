package apperr

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorsFindsCodedErrorsThroughWrapping(t *testing.T) {
	one := OnField("email", Duplicate, "taken")
	list := List{one, New(Invalid, "bad")}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain error", errors.New("disk full"), 0},
		{"one", one, 1},
		{"wrapped one", fmt.Errorf("creating: %w", one), 1},
		{"list", list, 2},
		{"wrapped list", fmt.Errorf("form: %w", list), 2},
		{"empty list", List{}.Err(), 0},
	}
	for _, tc := range cases {
		if got := Errors(tc.err); len(got) != tc.want {
			t.Errorf("%s: %d coded errors, want %d", tc.name, len(got), tc.want)
		}
	}
	if !errors.Is(list, one) {
		t.Error("errors.Is does not see into a List")
	}
}

func TestUserCodesGoInPayloads(t *testing.T) {
	for _, c := range []Code{Unauthenticated, Forbidden, RateLimited, BadRequest, Timeout, Internal} {
		if IsUserCode(c) {
			t.Errorf("%s is a request-level code, not a payload one", c)
		}
	}
	for _, c := range []Code{Invalid, Duplicate, InvalidCredentials, InsufficientFunds} {
		if !IsUserCode(c) {
			t.Errorf("%s belongs in a payload", c)
		}
	}
	if got := OnField("email", Duplicate, "taken").Error(); got != "DUPLICATE (email): taken" {
		t.Errorf("Error() = %q", got)
	}
}
