package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mgmtd/audit"
	"mgmtd/audit/pgstore"
)

func auditCommand() *command {
	return &command{name: "audit", synopsis: "verify|export (--dsn DSN | --state-dir DIR | --file EXPORT.jsonl | EXPORT.jsonl) [--partial] [--anchor FILE] [--head FILE] [--pubkey FILE]",
		summary: "verify or export the audit log", words: []string{"verify", "export"},
		detail: `verify checks the hash chains (and the signed anchors) of the audit log in
PostgreSQL, of a daemon's local journal, or of an exported JSON Lines file;
--head checks that the chain still holds the head a daemon last
acknowledged (its STATE_DIR/audit-head.json; repeat for several daemons), so
a tail deleted after the last anchor is found; export writes the log as
JSON Lines, CSV or CEF.`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			dsn := fs.String("dsn", "", "PostgreSQL DSN (a reader role is enough)")
			stateDir := fs.String("state-dir", "", "a daemon's state directory (its journal)")
			file := fs.String("file", "", "verify: an exported JSON Lines file")
			anchor := fs.String("anchor", "", "verify: an anchor file kept outside the database")
			var heads stringList
			fs.Var(&heads, "head", "verify: a daemon's local head file (STATE_DIR/audit-head.json); may be repeated")
			partial := fs.Bool("partial", false, "verify: the file is a filtered or time-limited export (gaps and a late start are expected; each record's hash and every link between consecutive records are still checked)")
			pubkey := fs.String("pubkey", "", "verify: the anchor public key (default STATE_DIR/audit-anchor.pub when present)")
			format := fs.String("format", "jsonl", "export: jsonl, csv or cef")
			since := fs.String("since", "", "export: RFC 3339 start time")
			until := fs.String("until", "", "export: RFC 3339 end time")
			return func(ctx context.Context, pos []string) error {
				// "mgmtd audit verify FILE" names an exported file.
				if len(pos) == 2 && pos[0] == "verify" && *file == "" {
					*file, pos = pos[1], pos[:1]
				}
				if len(pos) != 1 || (pos[0] != "verify" && pos[0] != "export") {
					return usagef("usage: mgmtd audit verify|export (--dsn DSN | --state-dir DIR | --file EXPORT.jsonl) [--anchor FILE] [--head FILE] [--pubkey FILE]")
				}
				sub := pos[0]
				n := 0
				for _, s := range []string{*dsn, *stateDir, *file} {
					if s != "" {
						n++
					}
				}
				if n != 1 || (sub == "export" && *file != "") {
					if sub == "verify" {
						return usagef("audit verify: give exactly one of --dsn, --state-dir or --file")
					}
					return usagef("audit export: give exactly one of --dsn or --state-dir")
				}
				log := slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
				if sub == "export" {
					f := audit.Filter{}
					for s, dst := range map[string]*time.Time{*since: &f.Since, *until: &f.Until} {
						if s != "" {
							t, err := time.Parse(time.RFC3339Nano, s)
							if err != nil {
								return usagef("--since/--until: %v", err)
							}
							*dst = t
						}
					}
					fm, err := audit.ParseFormat(*format)
					if err != nil {
						return usagef("%v", err)
					}
					var m audit.Manifest
					if *dsn != "" {
						m, err = pgstore.ExportDSN(ctx, *dsn, f, fm, s.out, log)
					} else {
						j, jerr := audit.OpenJournalReadOnly(filepath.Join(*stateDir, audit.JournalFile))
						if jerr != nil {
							return jerr
						}
						defer j.Close()
						m, err = audit.WriteExport(ctx, j, f, fm, s.out)
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(s.err, "exported %d records, manifest sha256 %s\n", m.Records, m.SHA256)
					return nil
				}
				opts := audit.VerifyOptions{Partial: *partial}
				if *anchor != "" {
					as, err := audit.ReadAnchorFile(*anchor)
					if err != nil {
						return err
					}
					opts.Anchors = as
				}
				for _, f := range heads {
					h, err := audit.ReadHeadFile(f)
					if err != nil {
						return err
					}
					opts.Heads = append(opts.Heads, h.Head)
				}
				kf := *pubkey
				if kf == "" && *stateDir != "" {
					if _, err := os.Stat(filepath.Join(*stateDir, "audit-anchor.pub")); err == nil {
						kf = filepath.Join(*stateDir, "audit-anchor.pub")
					}
				}
				if kf != "" {
					k, err := audit.ReadPublicKeyFile(kf)
					if err != nil {
						return err
					}
					opts.PublicKeys = append(opts.PublicKeys, k)
				}
				var rep *audit.VerifyReport
				var err error
				switch {
				case *dsn != "":
					rep, err = pgstore.VerifyDSN(ctx, *dsn, opts, log)
				case *stateDir != "":
					rep, err = audit.VerifyStateDir(ctx, *stateDir, opts)
				default:
					rep, err = audit.VerifyJSONLFile(ctx, *file, opts)
				}
				if rep != nil {
					for _, c := range rep.Chains {
						fmt.Fprintf(s.out, "chain %s: records %d..%d, head %s\n", c.Instance, c.First, c.Head, c.HeadHash)
					}
					gaps := 0
					for _, p := range rep.Problems {
						fmt.Fprintln(s.out, "PROBLEM:", p)
						if strings.Contains(p, "records deleted") {
							gaps++
						}
					}
					if *file != "" && !*partial && gaps > 0 && gaps == len(rep.Problems) {
						fmt.Fprintln(s.out, "The only problems are missing records. If this file is a filtered or time-limited export\n"+
							"(the page exports what its filter selects), that is expected: verify it with --partial,\n"+
							"which checks every record's hash and every link between consecutive records.")
					}
					if rep.OK() && err == nil && *partial {
						fmt.Fprintln(s.out, "verified: OK (partial: the records in the file and the links between consecutive ones; records left out are not checked)")
					} else if rep.OK() && err == nil {
						fmt.Fprintln(s.out, "verified: OK")
					}
				}
				return err

			}
		}}
}

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set adds one value.
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
