package mgmtd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
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
	// Indications limits the indication subscriptions (listener
	// destinations, counts).
	Indications CIMIndicationsConfig `json:"indications,omitzero"`
}

// CIMIndicationsConfig limits indication subscriptions: a listener
// destination makes the daemon post to a URL its creator chooses.
type CIMIndicationsConfig struct {
	// Schemes are the URL schemes a listener destination may use;
	// default ["https"].
	Schemes []string `json:"schemes,omitempty"`
	// Allow lists where listener destinations may be: host names, IP
	// addresses and CIDR prefixes. Default none: no destination is
	// accepted until the operator names the management stations.
	// Link-local and cloud metadata addresses are refused whatever it
	// says.
	Allow []string `json:"allow,omitempty"`
	// MaxPerCaller bounds the filters, destinations and subscriptions
	// (each) one caller may have (default 16); MaxTotal those of the
	// daemon (default 256).
	MaxPerCaller int `json:"max_per_caller,omitempty"`
	MaxTotal     int `json:"max_total,omitempty"`
}

// rules returns the destination rules (the configuration is valid).
func (c CIMIndicationsConfig) rules() wbem.DestinationRules {
	schemes := c.Schemes
	if len(schemes) == 0 {
		schemes = []string{"https"}
	}
	r, _ := wbem.ParseDestinationRules(schemes, c.Allow)
	return r
}

func (c CIMIndicationsConfig) validate() error {
	if _, err := wbem.ParseDestinationRules(c.Schemes, nil); err != nil {
		return fmt.Errorf("config key cim.indications.schemes: %w", err)
	}
	if _, err := wbem.ParseDestinationRules(nil, c.Allow); err != nil {
		return fmt.Errorf("config key cim.indications.allow: %w", err)
	}
	if c.MaxPerCaller < 0 || c.MaxPerCaller > 10000 {
		return fmt.Errorf("config key cim.indications.max_per_caller: %d is outside 0..10000", c.MaxPerCaller)
	}
	if c.MaxTotal < 0 || c.MaxTotal > 100000 {
		return fmt.Errorf("config key cim.indications.max_total: %d is outside 0..100000", c.MaxTotal)
	}
	return nil
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
	ind := c.Indications
	prov, err := cim.NewModelProvider(cim.ModelOptions{Store: d.Store, Events: d.Store.Events(), Actuator: act,
		StateDir: d.cfg.StateDir, Log: d.log.With("component", "cim"), SystemName: d.cfg.View,
		Subscriptions: cimSubscriptions{d}, Destinations: ind.rules(), MaxSubscriptionsPerOwner: ind.MaxPerCaller, MaxSubscriptions: ind.MaxTotal})
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
				// HTTP/1.1 alone: CIM-XML is specified over HTTP/1.1
				// (DSP0200) and its clients speak it; wbemcli's libcurl
				// took HTTP/2 when offered, and once failed with
				// "Stream error in the HTTP/2 framing layer" on the 401
				// to an anonymous request, most likely on the stream
				// reset that follows an answer given before the
				// request's body was read.
				hs.TLSConfig = d.TLS.ServerConfig("http/1.1")
				hs.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
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

// cimSubscriptions is the policy of CIM indication subscriptions: they
// are mgmtd's configuration (the daemon posts to the destinations), so
// managing them is the admin action on mgmtd itself, which only a global
// admin grant reaches. An instance belongs to its creator; the identity
// is kept with it (no secret: id, method, name, groups, expiry), checked
// again at start and before every delivery with auth.Service.Recheck:
// when the token is revoked or expired, the credential expired, or the
// caller is no longer a global admin, its subscriptions are removed and
// the removal recorded in the audit log.
type cimSubscriptions struct{ d *Daemon }

var subscriptionsObject = auth.Object{Kind: auth.KindSystem, Name: "cim-subscriptions"}

// Manage implements wbem.SubscriptionPolicy: a global admin grant, with
// the denial recorded.
func (p cimSubscriptions) Manage(ctx context.Context, pr wbem.Principal, _ string) error {
	id, ok := pr.Identity.(*auth.Identity)
	if !ok {
		return errors.New("no authenticated identity")
	}
	return p.d.Auth.Authorize(ctx, id, auth.ActionAdmin, subscriptionsObject).Err()
}

// Credential implements wbem.SubscriptionPolicy: the identity as JSON.
func (p cimSubscriptions) Credential(pr wbem.Principal) string {
	id, ok := pr.Identity.(*auth.Identity)
	if !ok {
		return ""
	}
	b, _ := json.Marshal(id)
	return string(b)
}

// Valid implements wbem.SubscriptionPolicy.
func (p cimSubscriptions) Valid(_ context.Context, owner, credential string) error {
	var id auth.Identity
	if err := json.Unmarshal([]byte(credential), &id); err != nil || id.ID != owner {
		return errors.New("no identity kept for the owner")
	}
	now, err := p.d.Auth.Recheck(&id)
	if err != nil {
		return err
	}
	return auth.Authorize(now, auth.ActionAdmin, subscriptionsObject).Err()
}

// Removed implements wbem.SubscriptionPolicy: one audit record per owner.
func (p cimSubscriptions) Removed(ctx context.Context, owner string, instances []string, reason error) {
	ev := audit.Event{Actor: "mgmtd", AuthMethod: "none", Action: "cim.subscriptions.removed", Channel: audit.ChannelCIM,
		ObjectType: "cim", ObjectID: owner, Outcome: audit.OutcomeSuccess,
		Reason: fmt.Sprintf("%d instances of %s removed: %v", len(instances), owner, reason)}
	if owner == "" {
		ev.ObjectID = "unowned"
	}
	if len(ev.Reason) > audit.MaxFieldLen {
		ev.Reason = ev.Reason[:audit.MaxFieldLen]
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := p.d.Audit.Record(rctx, ev); err != nil {
		p.d.log.Error("audit record failed", "action", ev.Action, "err", err)
	}
}
