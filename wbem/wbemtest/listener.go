package wbemtest

import (
	"io"
	"net/http"
	"sync"
)

// Listener is a CIM-XML indication listener: it answers the first Busy
// requests 503 (an overloaded listener), then accepts ExportIndication
// requests as pywbem's WBEMListener does, and keeps their bodies. Like
// WBEMListener it refuses an Accept header other than text/xml,
// application/xml or */* (406).
type Listener struct {
	Busy int

	mu     sync.Mutex
	calls  int
	bodies []string
}

// ServeHTTP implements http.Handler.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if a := r.Header.Get("Accept"); a != "" && a != "text/xml" && a != "application/xml" && a != "*/*" {
		w.Header().Set("CIMError", "header-mismatch")
		http.Error(w, "bad Accept", http.StatusNotAcceptable)
		return
	}
	l.mu.Lock()
	l.calls++
	busy := l.calls <= l.Busy
	if !busy && r.Header.Get("CIMExport") == "MethodRequest" && r.Header.Get("CIMExportMethod") == "ExportIndication" {
		l.bodies = append(l.bodies, string(b))
	}
	l.mu.Unlock()
	if busy {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("CIMExport", "MethodResponse")
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.4"><MESSAGE ID="1" PROTOCOLVERSION="1.4"><SIMPLEEXPRSP><EXPMETHODRESPONSE NAME="ExportIndication"></EXPMETHODRESPONSE></SIMPLEEXPRSP></MESSAGE></CIM>`)
}

// Received returns the bodies of the indications accepted so far.
func (l *Listener) Received() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.bodies...)
}
