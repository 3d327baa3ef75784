package wbem

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// CIM datetime values (DSP0004): timestamps and intervals as text.

// CIMDatetime formats t as a CIM timestamp in UTC
// (yyyymmddhhmmss.mmmmmm+000).
func CIMDatetime(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%04d%02d%02d%02d%02d%02d.%06d+000", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)
}

// ParseCIMInterval parses a CIM interval (ddddddddhhmmss.mmmmmm:000,
// digits only). Intervals longer than a time.Duration holds (about 292
// years) are refused.
func ParseCIMInterval(s string) (time.Duration, error) {
	if len(s) != 25 || s[14] != '.' || s[21] != ':' {
		return 0, fmt.Errorf("not a CIM interval: %q", s)
	}
	var us int64 // microseconds; 99999999 days fit
	for _, f := range []struct {
		a, b int
		unit int64
	}{{0, 8, 24 * 3600e6}, {8, 10, 3600e6}, {10, 12, 60e6}, {12, 14, 1e6}, {15, 21, 1}} {
		n, err := strconv.ParseUint(s[f.a:f.b], 10, 64)
		if err != nil { // ParseUint takes digits only: no sign
			return 0, fmt.Errorf("not a CIM interval: %q", s)
		}
		us += int64(n) * f.unit
	}
	if us > math.MaxInt64/int64(time.Microsecond) {
		return 0, fmt.Errorf("CIM interval %q is too long", s)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// CIMInterval formats d as a CIM interval (ddddddddhhmmss.mmmmmm:000).
func CIMInterval(d time.Duration) string {
	us := d.Microseconds()
	days := us / (24 * 3600e6)
	us -= days * 24 * 3600e6
	h := us / 3600e6
	us -= h * 3600e6
	m := us / 60e6
	us -= m * 60e6
	s := us / 1e6
	us -= s * 1e6
	return fmt.Sprintf("%08d%02d%02d%02d.%06d:000", days, h, m, s, us)
}
