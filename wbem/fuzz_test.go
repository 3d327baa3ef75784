package wbem

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mgmtd/wbem/cimxml"

	"mgmtd/wbem/wbemtest"
)

// FuzzParseQuery: the WQL/CQL parser never panics and fails only with
// CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED or CIM_ERR_INVALID_QUERY; accepted
// queries evaluate against the fixture without panicking.
func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{
		"SELECT * FROM PCMK_ClusterNode",
		"SELECT Name, NodeID FROM PCMK_ClusterNode WHERE Name = 'node1' OR NOT (NodeID >= 2 AND IsDC = TRUE)",
		"select * from cim_computersystem where Caption is not null",
		`SELECT * FROM PCMK_ClusterNode WHERE 'x' <> Name AND NodeID < -1.5e3`,
		"SELECT * FROM PCMK_ClusterNode WHERE Name = 'it''s'",
	} {
		f.Add("WQL", q)
	}
	m := fixture(f)
	repo := m.Classes(model)
	f.Fuzz(func(t *testing.T, lang, text string) {
		q, err := parseQuery(lang, text, repo)
		if err != nil {
			if s := statusOf(err).Status; s != StatusQueryLanguageNotSupported && s != StatusInvalidQuery {
				t.Fatalf("status %v for %q", s, text)
			}
			return
		}
		for in := range m.Instances(t.Context(), model, "PCMK_ClusterNode") {
			if q.where != nil {
				q.where.eval(in)
			}
		}
	})
}

// FuzzServe posts arbitrary bodies through the whole server (decoder,
// dispatch, provider, encoder) with headers that agree with the body. The
// server must not panic, must answer with a known status, and every 200
// answer must be well-formed CIM-XML that real clients can read.
func FuzzServe(f *testing.F) {
	files, err := filepath.Glob("cimxml/testdata/captures/*/*/*.http")
	if err != nil || len(files) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			f.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		f.Add(body)
	}
	env := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		method, object := "EnumerateClassNames", "root/cimv2"
		if req, err := cimxml.DecodeRequest(bytes.NewReader(body), cimxml.Limits{}); err == nil {
			method, object = req.Method, req.Namespace
			if !req.Intrinsic {
				cls := req.ClassName
				if req.Instance != nil {
					cls = req.Instance.ClassName
				}
				object += ":" + cls
			}
		}
		w := env.post(t, method, object, string(body))
		switch w.Code {
		case 200:
			out := w.Body.String()
			if err := wbemtest.WellFormed(w.Body.Bytes()); err != nil || !strings.Contains(out, "<SIMPLERSP>") {
				t.Fatalf("bad response (%v): %s", err, out)
			}
			wbemtest.CheckClientSafe(t, out)
		case 400, 413, 501:
			if w.Header().Get("CIMError") == "" {
				t.Fatalf("%d without CIMError", w.Code)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
