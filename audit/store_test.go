package audit_test

import (
	"errors"
	"testing"

	"mgmtd/audit"
)

func TestFilterNormalize(t *testing.T) {
	tests := []struct {
		name    string
		f       audit.Filter
		wantErr bool
		limit   int
	}{
		{"default limit", audit.Filter{}, false, audit.DefaultQueryLimit},
		{"max limit", audit.Filter{Limit: audit.MaxQueryLimit}, false, audit.MaxQueryLimit},
		{"limit too big", audit.Filter{Limit: audit.MaxQueryLimit + 1}, true, 0},
		{"negative limit", audit.Filter{Limit: -1}, true, 0},
		{"bad outcome", audit.Filter{Outcome: "won"}, true, 0},
		{"bad cursor", audit.Filter{Cursor: "1.2"}, true, 0},
		{"bad cursor number", audit.Filter{Cursor: "x.1.bjE"}, true, 0},
		{"good cursor", audit.Filter{Cursor: "1700000000000000.5.bjE"}, false, audit.DefaultQueryLimit},
		{"NUL in actor", audit.Filter{Actor: "a\x00"}, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.f.Normalize()
			if tc.wantErr {
				if !errors.Is(err, audit.ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || f.Limit != tc.limit {
				t.Fatalf("limit %d, err %v; want %d", f.Limit, err, tc.limit)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"jsonl", "csv", "cef"} {
		if f, err := audit.ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "json", "JSONL", "xml"} {
		if _, err := audit.ParseFormat(s); !errors.Is(err, audit.ErrInvalid) {
			t.Errorf("ParseFormat(%q) = %v, want ErrInvalid", s, err)
		}
	}
}
