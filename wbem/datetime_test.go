package wbem

import (
	"testing"
	"time"
)

// FuzzParseCIMInterval: the interval parser never panics, accepts only
// what fits a time.Duration, and what it accepts formats back
// (CIMInterval) to the same duration.
func FuzzParseCIMInterval(f *testing.F) {
	for _, s := range []string{"00000000000500.000000:000", "00000000010000.000000:000", "00106751235959.999999:000", "99999999235959.999999:000",
		"", "0000000001000x.000000:000", "0000000000-100.000000:000", "+0000001000000.000000:000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseCIMInterval(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("%q parsed to negative %v", s, d)
		}
		if back, err := ParseCIMInterval(CIMInterval(d)); err != nil || back != d {
			t.Fatalf("%q: %v formats as %q, which parses to %v, %v", s, d, CIMInterval(d), back, err)
		}
	})
}

func TestCIMInterval(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want time.Duration
		ok   bool
	}{
		{"00000000000500.000000:000", 5 * time.Minute, true},
		{"00000001010101.000001:000", 25*time.Hour + time.Minute + time.Second + time.Microsecond, true},
		{"00106751235959.999999:000", 0, false}, // beyond time.Duration
		{"00200000000000.000000:000", 0, false},
		{"0000000000-100.000000:000", 0, false},
		{"+0000001000000.000000:000", 0, false},
		{"00000000000500.000000+000", 0, false},
	} {
		d, err := ParseCIMInterval(tc.s)
		if (err == nil) != tc.ok || d != tc.want {
			t.Errorf("ParseCIMInterval(%q) = %v, %v", tc.s, d, err)
		}
		if tc.ok && CIMInterval(d) != tc.s {
			t.Errorf("CIMInterval(%v) = %q, want %q", d, CIMInterval(d), tc.s)
		}
	}
}
