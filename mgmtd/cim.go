package mgmtd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"mgmtd/action"
	"mgmtd/audit"
	"mgmtd/auth"
	"mgmtd/cim"
	"mgmtd/internal/unit"
	"mgmtd/wbem"
)

// CIMConfig configures the WBEM server.
type CIMConfig struct {
	// Addr is the CIM-XML listener (HTTPS), e.g. ":5989"; empty disables
	// CIM.
	Addr string `json:"addr,omitempty"`
	// PlainHTTP serves CIM without TLS; allowed only on a loopback Addr.
	PlainHTTP bool `json:"plain_http,omitempty"`
}

// buildCIM creates the CIM provider and server over the daemon's model,
// auth, audit and actions.
func (d *Daemon) buildCIM() error {
	c := d.cfg.CIM
	if c.PlainHTTP {
		if err := auth.CheckPlainHTTP(c.Addr); err != nil {
			return fmt.Errorf("config key cim.plain_http: %w", err)
		}
	}
	var act action.Actuator // none in the demo: methods answer CIM_ERR_NOT_SUPPORTED
	if d.actions != nil {
		act = d.actions
	}
	prov, err := cim.NewModelProvider(cim.ModelOptions{Store: d.Store, Events: d.Store.Events(), Actuator: act,
		StateDir: d.cfg.StateDir, Log: d.log.With("component", "cim"), SystemName: d.cfg.View})
	if err != nil {
		return err
	}
	srv, err := wbem.NewServer(wbem.Config{Provider: prov, Authenticate: d.cimAuthenticate,
		Audit: d.cimAudit, Logger: d.log.With("component", "cim"), Host: d.cfg.View})
	if err != nil {
		return err
	}
	d.cimProvider, d.cimServer = prov, srv
	return nil
}

// cimUnit serves CIM on its own listener and delivers indications.
func (d *Daemon) cimUnit() unit.Unit {
	hs := d.cimServer.HTTPServer(d.cfg.CIM.Addr)
	var ln net.Listener
	return unit.Unit{Name: "cim",
		Prepare: func(context.Context) error {
			l, err := net.Listen("tcp", d.cfg.CIM.Addr)
			if err != nil {
				return err
			}
			d.CIMURL = "http://" + l.Addr().String() + "/cimom"
			if !d.cfg.CIM.PlainHTTP && d.TLS != nil {
				hs.TLSConfig = d.TLS.ServerConfig()
				l = tls.NewListener(l, hs.TLSConfig)
				d.CIMURL = "https://" + strings.TrimPrefix(d.CIMURL, "http://")
			}
			ln = l
			return nil
		},
		Run: func(ctx context.Context) error {
			go func() { _ = d.cimProvider.RunIndications(ctx) }()
			return serve(hs, ln)
		},
		Stop: func(ctx context.Context) error {
			err := shutdown(ctx, hs, ln)
			d.cimServer.Close()
			return err
		},
	}
}

// cimAuthenticate checks a CIM request's credentials with the one auth
// service (Basic through the demo users and PAM, bearer tokens): a request
// without credentials is never served. CIM has no scoped views, so a
// caller must also be allowed to read the whole cluster; others (the
// auditor, callers scoped to part of the cluster) are refused here, with
// the denial recorded, before any output (403: the credentials are good,
// the caller may not). Methods are authorized again,
// per object, by the action machinery.
func (d *Daemon) cimAuthenticate(r *http.Request) (wbem.Principal, error) {
	id, err := d.Auth.Authenticate(r)
	if err != nil {
		return wbem.Principal{}, fmt.Errorf("%w: %v", wbem.ErrUnauthenticated, err)
	}
	cl := d.Store.Snapshot().Cluster.Name
	if dec := d.Auth.Authorize(r.Context(), id, auth.ActionRead, auth.Object{Kind: auth.KindCluster, Cluster: cl, Name: cl}); !dec.Allowed {
		return wbem.Principal{}, fmt.Errorf("%w: %s may not read the cluster over CIM: %s", wbem.ErrForbidden, id.Name, dec.Reason)
	}
	return wbem.Principal{ID: id.ID, Name: id.Name, Identity: id}, nil
}

// cimAudit records every state-changing CIM operation before it runs and
// its outcome after; a record that cannot be made refuses the operation.
func (d *Daemon) cimAudit(ctx context.Context, op *wbem.Operation) (func(error), error) {
	ev := audit.Event{Actor: "anonymous", AuthMethod: "none", Action: "cim." + op.Name, Channel: audit.ChannelCIM,
		Source: op.RemoteAddr, ObjectType: "cim", ObjectID: op.Target, Outcome: audit.OutcomeSuccess, Reason: "intent"}
	if id, ok := op.Principal.Identity.(*auth.Identity); ok {
		ev.Actor, ev.AuthMethod = id.ID, string(id.Method)
		for _, r := range id.Roles {
			ev.Roles = append(ev.Roles, string(r))
		}
	}
	if len(ev.ObjectID) > audit.MaxFieldLen {
		ev.ObjectID = ev.ObjectID[:audit.MaxFieldLen]
	}
	if _, err := d.Audit.Record(ctx, ev); err != nil {
		return nil, err
	}
	return func(outcome error) {
		done := ev
		done.Reason, done.Time = "done", time.Time{}
		if outcome != nil {
			done.Outcome, done.Reason = audit.OutcomeFailure, outcome.Error()
			if len(done.Reason) > audit.MaxFieldLen {
				done.Reason = done.Reason[:audit.MaxFieldLen]
			}
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := d.Audit.Record(rctx, done); err != nil {
			d.log.Error("audit record failed", "action", done.Action, "err", err)
		}
	}, nil
}
