package wbem

import (
	"fmt"
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

// ParseCIMInterval parses a CIM interval (ddddddddhhmmss.mmmmmm:000).
func ParseCIMInterval(s string) (time.Duration, error) {
	if len(s) != 25 || s[14] != '.' || s[21] != ':' {
		return 0, fmt.Errorf("not a CIM interval: %q", s)
	}
	num := func(a, b int) (int64, error) { return strconv.ParseInt(s[a:b], 10, 64) }
	d, err1 := num(0, 8)
	h, err2 := num(8, 10)
	m, err3 := num(10, 12)
	sec, err4 := num(12, 14)
	us, err5 := num(15, 21)
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			return 0, fmt.Errorf("not a CIM interval: %q", s)
		}
	}
	return time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond, nil
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
