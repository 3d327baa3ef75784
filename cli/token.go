package cli

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"mgmtd/auth"
	"mgmtd/rest"
)

func tokenCommand() *command {
	return &command{name: "token", synopsis: "list | create --name N [--role R] [--scope S] [--ttl D] | revoke ID", summary: "manage API tokens (admin)",
		words: []string{"list", "create", "revoke"},
		detail: `Through the daemon: its local socket as root, or --server with an admin's
$MGMTD_TOKEN. A token's secret is shown once, at creation.`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			var f daemonFlags
			f.register(fs, 30*time.Second)
			name := fs.String("name", "", "create: what the token is for (required)")
			role := fs.String("role", "viewer", "create: viewer, operator, admin or auditor")
			scope := fs.String("scope", "*", `create: "*", "cluster:NAME", "node:NAME", "resource:ID", "vm:NAME" or "service:NAME"`)
			ttl := fs.String("ttl", "", "create: lifetime, e.g. 720h (default: the daemon's)")
			return func(ctx context.Context, pos []string) error {
				c, ctx, cancel, err := f.connect(ctx, "token")
				if err != nil {
					return err
				}
				defer cancel()
				switch {
				case len(pos) == 1 && pos[0] == "list":
					var ts []auth.Token
					if err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, &ts); err != nil {
						return err
					}
					if f.output == "json" {
						return writeJSON(s.out, ts)
					}
					tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tNAME\tGRANTS\tEXPIRES\tREVOKED")
					for _, t := range ts {
						grants := ""
						for i, g := range t.Grants {
							if i > 0 {
								grants += ","
							}
							grants += g.String()
						}
						revoked := "-"
						if !t.RevokedAt.IsZero() {
							revoked = t.RevokedAt.Format(time.RFC3339)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, grants, t.ExpiresAt.Format(time.RFC3339), revoked)
					}
					return tw.Flush()
				case len(pos) == 1 && pos[0] == "create":
					if *name == "" {
						return usagef("token create: --name is required")
					}
					sc, err := auth.ParseScope(*scope)
					if err != nil {
						return usagef("--scope: %v", err)
					}
					r := auth.Role(*role)
					if !r.Valid() {
						return usagef("--role must be viewer, operator, admin or auditor")
					}
					var nt rest.NewToken
					req := rest.NewTokenRequest{Name: *name, Grants: []auth.Grant{{Role: r, Scope: sc}}, TTL: *ttl}
					if err := c.do(ctx, http.MethodPost, "/api/v1/tokens", req, &nt); err != nil {
						return err
					}
					if f.output == "json" {
						return writeJSON(s.out, nt)
					}
					fmt.Fprintf(s.out, "token %s (%s) expires %s\nsecret (shown once): %s\n", nt.Token.ID, nt.Token.Name, nt.Token.ExpiresAt.Format(time.RFC3339), nt.Secret)
					return nil
				case len(pos) == 2 && pos[0] == "revoke":
					var t auth.Token
					if err := c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(pos[1]), nil, &t); err != nil {
						return err
					}
					fmt.Fprintf(s.out, "token %s revoked\n", t.ID)
					return nil
				}
				return usagef("usage: mgmtd token list | create --name N [--role R] [--scope S] [--ttl D] | revoke ID  (--server URL)")

			}
		}}
}
