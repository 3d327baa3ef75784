package snmp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mgmtd/internal/testutil"
	"mgmtd/snmp/agentx"
)

// TestCaptureMasterPDUs records the AgentX PDUs a real snmpd sends to the
// subagent (Open/Register answers, Get with several ranges, GetNext from
// a bulk walk, the TestSet/CleanupSet of a refused SET) through a
// recording proxy, and stores them as seeds of agentx's FuzzDecodePDU.
// Every captured PDU must decode; the seeds are rewritten only with
// -update (agentx/testdata/README.md says how they were made).
func TestCaptureMasterPDUs(t *testing.T) {
	d := startSnmpd(t, "unix")
	proxyPath := filepath.Join(t.TempDir(), "proxy.sock")
	ln, err := net.Listen("unix", proxyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var pdus [][]byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("unix", strings.TrimPrefix(d.agentx, "unix:"))
		if err != nil {
			return
		}
		defer up.Close()
		// When the subagent side ends, close snmpd's side too, so the
		// reading loop below ends whatever snmpd does with the session.
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		hdr := make([]byte, agentx.HeaderLen)
		for {
			if _, err := io.ReadFull(up, hdr); err != nil {
				return
			}
			order := binary.ByteOrder(binary.LittleEndian)
			if hdr[2]&agentx.FlagNetworkByteOrder != 0 {
				order = binary.BigEndian
			}
			p := make([]byte, agentx.HeaderLen+int(order.Uint32(hdr[16:])))
			copy(p, hdr)
			if _, err := io.ReadFull(up, p[agentx.HeaderLen:]); err != nil {
				return
			}
			mu.Lock()
			pdus = append(pdus, p)
			mu.Unlock()
			if _, err := c.Write(p); err != nil {
				return
			}
		}
	}()
	srv := newTestServer(t, "unix:"+proxyPath)
	stop := startServer(t, srv)
	waitConnects(t, srv, 1)
	for _, args := range [][]string{
		{"snmpget", entStr + ".1.1.1.0", entStr + ".1.3.1.5.5.110.111.100.101.50", sysName, vmMIBStr + ".1.2.0"},
		{"snmpbulkwalk", "-Cr3", entStr + ".1.3"},
		{"snmpset", "-t", "2", "-r", "0", entStr + ".1.1.1.0", "s", "x"},
	} {
		out, err := d.tool(t, args[0], args[1:]...)
		if err != nil && args[0] != "snmpset" {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	stop()
	ln.Close()
	wg.Wait()
	dir := filepath.Join("agentx", "testdata", "fuzz", "FuzzDecodePDU")
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	n := 0
	for _, p := range pdus {
		typ := agentx.PDUType(p[1]).String()
		if seen[typ] && typ != "Get" {
			continue
		}
		seen[typ] = true
		n++
		name := filepath.Join(dir, fmt.Sprintf("snmpd-%02d-%s", n, strings.ToLower(typ)))
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", p)
		if testutil.Update() {
			if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := agentx.DecodePDU(p); err != nil {
			t.Errorf("captured %s PDU does not decode: %v", typ, err)
		}
	}
	if !seen["Get"] || !seen["GetNext"] || !seen["TestSet"] {
		t.Errorf("capture lacks Get, GetNext or TestSet: %v", seen)
	}
	t.Logf("captured %d PDUs, %d kinds", len(pdus), n)
}
