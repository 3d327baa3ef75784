package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// examples are each command's examples for `mgmtd help COMMAND`: a
// comment line ("# ...") says what the next command does.
var examples = map[string][]string{
	"hub": {
		"# one hub process of the fleet (config: listen, auth.tls with client_ca_file, bindings, hub_server)",
		"mgmtd hub --config /etc/mgmtd/hub.yaml",
		"# a second process on the same database, behind the same load balancer",
		"mgmtd hub --config /etc/mgmtd/hub.yaml --addr 10.0.0.12:8443",
	},
	"check": {
		"# offline, on a copy of the CIB (crm_verify on the file)",
		"mgmtd check --cib /var/lib/pacemaker/cib/cib.xml",
		"# the running daemon's check, as JSON; exit 3 on any warning",
		"mgmtd check --server unix:/run/mgmtd/mgmtd.sock -o json --fail-on warning",
	},
	"history": {
		"# what happened to web in the last 3 hours",
		"mgmtd history --since 3h --object web",
		"# every critical event of the day, newest first",
		"mgmtd history --since 24h --severity critical --desc",
	},
	"transition": {
		"# the scheduler inputs the DC saved",
		"mgmtd transition list",
		"# what Pacemaker did in one transition, with the scores",
		"mgmtd transition explain pe-input-42.bz2 --scores",
	},
	"version": {
		"mgmtd version",
	},
	"serve": {
		"# on a cluster node, with a configuration file",
		"mgmtd serve --config /etc/mgmtd/mgmtd.yaml",
		"# serve a CIB file (a copy of a cluster's configuration and status)",
		"mgmtd serve --cib /tmp/cib.xml --state-dir /tmp/mgmtd-cib",
	},
	"demo": {
		"# the built-in demo; credentials also written to a file",
		"mgmtd demo --state-dir /tmp/mgmtd-demo --credentials /tmp/demo-creds.json",
		"# a second demo under another name, pushing to a hub (config section hub)",
		"mgmtd demo --cluster east --addr 127.0.0.1:8081 --config east.yaml",
	},
	"where": {
		"# the whole chain of a service down to the physical host",
		"mgmtd where web",
		"# which resource holds an address, on the demo's socket",
		"mgmtd where 192.0.2.10 --server unix:/tmp/mgmtd-demo/mgmtd.sock",
		"# every instance of a CIB file, as JSON",
		"mgmtd where --cib /tmp/cib.xml -o json",
	},
	"impact": {
		"# what goes away with node hv1, and what Pacemaker would do",
		"mgmtd impact hv1",
		"# offline, on a CIB file",
		"mgmtd impact hv2 --cib /tmp/cib.xml",
	},
	"status": {
		"# what is wrong first, then the resource tree and the counts",
		"mgmtd status",
		"# a monitoring check (Nagios / monitoring-plugins exit codes and perfdata)",
		"mgmtd status --check",
		"# offline, on a CIB file",
		"mgmtd status --cib /tmp/cib.xml",
	},
	"resource": {
		"# see what Pacemaker would do, without doing it",
		"mgmtd resource move web --node hv2 --dry-run",
		"# move for an hour, then let Pacemaker decide again",
		"mgmtd resource move web --node hv2 --lifetime 1h",
		"# remove the cli-prefer/cli-ban constraints a move or ban left",
		"mgmtd resource clear web",
		"# forget a resource's failures so it may run again",
		"mgmtd resource cleanup db",
	},
	"node": {
		"# drain a node before maintenance, then bring it back",
		"mgmtd node standby hv2",
		"mgmtd node online hv2",
	},
	"cluster": {
		"# stop Pacemaker from starting or stopping anything (admin)",
		"mgmtd cluster maintenance on",
	},
	"fence": {
		"# reboot a node through the cluster's fencing devices (admin)",
		"mgmtd fence hv3 --confirm",
	},
	"vm": {
		"# live-migrate a VM that Pacemaker does not manage",
		"mgmtd vm migrate test-vm --to hv2",
	},
	"task": {
		"mgmtd task list",
		"mgmtd task show 3f2a9c1e",
	},
	"token": {
		"# a read-only token for a monitoring system, for 30 days",
		"mgmtd token create --name nagios --role viewer --ttl 720h",
		"mgmtd token list",
	},
	"audit": {
		"# verify a file exported from the web page or with audit export",
		"mgmtd audit verify audit-export.jsonl",
		"# an export of what a filter selected (the page's filter, --since/--until)",
		"mgmtd audit verify --partial audit-export.jsonl",
		"# verify a daemon's local journal, with its signed anchors",
		"mgmtd audit verify --state-dir /var/lib/mgmtd",
		"# export a day of the PostgreSQL log as CSV",
		"mgmtd audit export --dsn postgres://reader@db/audit --since 2026-01-01T00:00:00Z --until 2026-01-02T00:00:00Z --format csv",
	},
	"mibs": {
		"mgmtd mibs /usr/share/snmp/mibs",
	},
	"alert": {
		"mgmtd alert install --socket /run/mgmtd/mgmtd.sock --agent /usr/local/sbin/mgmtd-alert",
	},
	"help": {
		"mgmtd help resource",
	},
	"completion": {
		"source <(mgmtd completion bash)",
	},
}

// verbHelp describes the second words of the action commands.
var verbHelp = map[string][][2]string{
	"resource": {
		{"start", "let Pacemaker start it (target-role Started)"},
		{"stop", "stop it and keep it stopped (target-role Stopped)"},
		{"restart", "stop and start it where it runs"},
		{"move", "move it to --node (a cli-prefer constraint), or away from where it runs without --node (a cli-ban constraint)"},
		{"ban", "keep it off --node (or the node it runs on): a cli-ban constraint"},
		{"clear", "remove the cli-prefer/cli-ban constraints of move and ban"},
		{"cleanup", "forget its failures and fail counts, so it may run again"},
		{"manage", "let Pacemaker manage it again"},
		{"unmanage", "Pacemaker leaves it alone (neither starts, stops nor monitors its recovery)"},
	},
	"node": {
		{"standby", "move every resource off the node; nothing may run there"},
		{"online", "end standby"},
		{"maintenance-on", "Pacemaker leaves the node's resources alone (admin)"},
		{"maintenance-off", "end the node's maintenance (admin)"},
	},
	"cluster": {
		{"maintenance on", "Pacemaker starts, stops and moves nothing in the whole cluster (admin)"},
		{"maintenance off", "end cluster-wide maintenance (admin)"},
	},
}

// helpExtra writes a command's verbs and examples.
func helpExtra(w io.Writer, name string) {
	if vs := verbHelp[name]; len(vs) > 0 {
		fmt.Fprintln(w, "\nactions:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, v := range vs {
			fmt.Fprintf(tw, "  %s\t%s\n", v[0], v[1])
		}
		tw.Flush()
	}
	if ex := examples[name]; len(ex) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, l := range ex {
			if strings.HasPrefix(l, "#") {
				fmt.Fprintf(w, "  %s\n", l)
			} else {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
}
