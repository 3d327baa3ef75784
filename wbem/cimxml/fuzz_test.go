package cimxml

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeRequest feeds arbitrary bodies to the decoder: it must never
// panic, must return either a request or a *SyntaxError, and every
// instance it accepts must survive an encode/decode round trip.
func FuzzDecodeRequest(f *testing.F) {
	for _, file := range captureFiles(f) {
		_, body := readCapture(f, file)
		f.Add(body)
	}
	f.Add([]byte(wrap(`<METHODCALL NAME="M"><LOCALCLASSPATH>` + ns + `<CLASSNAME NAME="C"/></LOCALCLASSPATH><PARAMVALUE NAME="I"><INSTANCE CLASSNAME="Z"><PROPERTY NAME="s" TYPE="string"><VALUE>x</VALUE></PROPERTY></INSTANCE></PARAMVALUE></METHODCALL>`)))
	lim := Limits{MaxBytes: 64 << 10, MaxDepth: 24, MaxElements: 2000, MaxAttrs: 8, MaxStringLen: 4096}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(bytes.NewReader(body), lim)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Kind == 0 {
				t.Fatalf("error %v is not a classified *SyntaxError", err)
			}
			return
		}
		for _, p := range req.Params {
			in := p.Value.Instance
			if in == nil || !utf8.ValidString(in.ClassName) {
				continue
			}
			got := roundTrip(t, in)
			if got.ClassName != in.ClassName || len(got.Properties) != len(in.Properties) {
				t.Fatalf("round trip changed the instance: %+v -> %+v", in, got)
			}
			for i := range in.Properties {
				a, b := in.Properties[i], got.Properties[i]
				if a.Name != b.Name || a.Null != b.Null || (!a.Null && !a.Array && a.Type != TypeReference && !strings.ContainsAny(a.Value, "\x00\r\uFFFD") && utf8.ValidString(a.Value) && a.Value != b.Value && !hasControl(a.Value)) {
					t.Fatalf("property %d: %+v -> %+v", i, a, b)
				}
			}
		}
	})
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' {
			return true
		}
	}
	return false
}
