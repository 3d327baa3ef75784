package cli

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"mgmtd/mibs"
)

func mibsCommand() *command {
	return &command{name: "mibs", synopsis: "DIR", summary: "write mgmtd's MIB modules (MGMTD-CLUSTER-MIB) to a directory",
		detail: `Network management stations and snmpwalk need the MIB modules to name
mgmtd's objects; net-snmp looks in /usr/share/snmp/mibs.`,
		setup: func(_ *flag.FlagSet, s *streams) runFunc {
			return func(_ context.Context, pos []string) error {
				if len(pos) != 1 {
					return usagef("usage: mgmtd mibs DIR")
				}
				return writeMIBs(pos[0], s)
			}
		}}
}

func writeMIBs(dir string, s *streams) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(mibs.Files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := mibs.Files.ReadFile(name)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(s.out, dst)
		return nil
	})
}
