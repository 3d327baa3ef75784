// Command goagentx-bench serves a synthetic table through
// github.com/posteo/go-agentx v0.3.0, for the side-by-side walk benchmark
// in package mgmtd/snmp (BenchmarkBulkWalk). It lives in its own module so
// that go-agentx (LGPLv3) never enters mgmtd's go.mod.
//
// The table matches the benchmark's: cells/10 rows of 10 columns under
// <base>.1.1.<col>.<row>, served by a handler with binary-search GetNext
// (the fairest use of go-agentx; its ListHandler scans linearly).
//
// Usage: goagentx-bench -addr unix:/path/agentx.sock -base 1.3.6.1.4.1.32473.52 -cells 10000
// It prints "registered" once serving and exits when stdin is closed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	agentx "github.com/posteo/go-agentx"
	"github.com/posteo/go-agentx/pdu"
	"github.com/posteo/go-agentx/value"
)

type item struct {
	oid value.OID
	typ pdu.VariableType
	val any
}

type sorted struct{ items []item }

func (s *sorted) find(o value.OID) int {
	return sort.Search(len(s.items), func(i int) bool { return value.CompareOIDs(s.items[i].oid, o) >= 0 })
}

func (s *sorted) Get(_ context.Context, o value.OID) (value.OID, pdu.VariableType, any, error) {
	i := s.find(o)
	if i < len(s.items) && value.CompareOIDs(s.items[i].oid, o) == 0 {
		return s.items[i].oid, s.items[i].typ, s.items[i].val, nil
	}
	return nil, pdu.VariableTypeNoSuchObject, nil, nil
}

func (s *sorted) GetNext(_ context.Context, from value.OID, include bool, to value.OID) (value.OID, pdu.VariableType, any, error) {
	i := s.find(from)
	if i < len(s.items) && !include && value.CompareOIDs(s.items[i].oid, from) == 0 {
		i++
	}
	if i < len(s.items) && (len(to) == 0 || value.CompareOIDs(s.items[i].oid, to) < 0) {
		return s.items[i].oid, s.items[i].typ, s.items[i].val, nil
	}
	return nil, pdu.VariableTypeEndOfMIBView, nil, nil
}

func main() {
	addr := flag.String("addr", "", "AgentX master: unix:PATH or tcp:HOST:PORT")
	base := flag.String("base", "1.3.6.1.4.1.32473.52", "subtree to register")
	cells := flag.Int("cells", 10000, "number of cells (10 columns)")
	flag.Parse()
	network, address, ok := strings.Cut(*addr, ":")
	if !ok {
		log.Fatalf("bad -addr %q", *addr)
	}
	root := value.MustParseOID(*base)
	h := &sorted{}
	rows := *cells / 10
	for col := uint32(1); col <= 10; col++ {
		for row := uint32(1); row <= uint32(rows); row++ {
			o := append(append(value.OID{}, root...), 1, 1, col, row)
			switch col % 4 {
			case 0:
				h.items = append(h.items, item{o, pdu.VariableTypeInteger, int32(row)})
			case 1:
				h.items = append(h.items, item{o, pdu.VariableTypeOctetString, fmt.Sprintf("row-%06d-col-%02d-val", row, col)})
			case 2:
				h.items = append(h.items, item{o, pdu.VariableTypeGauge32, row * col})
			default:
				h.items = append(h.items, item{o, pdu.VariableTypeCounter64, uint64(row) << 20})
			}
		}
	}
	sort.Slice(h.items, func(i, j int) bool { return value.CompareOIDs(h.items[i].oid, h.items[j].oid) < 0 })
	c, err := agentx.Dial(network, address, agentx.WithTimeout(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.Session(root, "goagentx-bench", h)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Register(127, root); err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.Close()
	_ = c.Close()
}
