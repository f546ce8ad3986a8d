// Package enum reads and writes string-based domain types as GraphQL enum
// values, so gqlgen can bind schema enums straight to them.
package enum

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Marshal writes v as a GraphQL enum value.
func Marshal[T ~string](w io.Writer, v T) { io.WriteString(w, strconv.Quote(string(v))) }

// Unmarshal reads a GraphQL enum value into dst if it is one of valid.
func Unmarshal[T ~string](dst *T, v any, valid ...T) error {
	s, ok := v.(string)
	if !ok || !slices.Contains(valid, T(s)) {
		return fmt.Errorf("%v is not a valid %T", v, *dst)
	}
	*dst = T(s)
	return nil
}
