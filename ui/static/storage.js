// The replicated storage of the Cluster tab: every DRBD resource as each
// node's DRBD source sees it (GET /api/v1/drbd) - role, each replica's
// disk state, connection and resync, what is out of sync, split brain,
// the Pacemaker clone - and the iSCSI targets Pacemaker runs with their
// LUNs (GET /api/v1/iscsi/targets). Hidden when there is neither.
"use strict";

function replicaText(r) {
  const parts = [`${r.node}: ${r.role || "?"}/${r.disk || "?"}`];
  if (!r.local && !r.connected) parts.push("not connected");
  if (r.syncing) parts.push(`resync ${r.sync_percent != null ? r.sync_percent.toFixed(1) + "%" : ""}`.trim());
  if (r.out_of_sync_kib) parts.push(`${r.out_of_sync_kib} KiB out of sync`);
  if (r.instance_role) parts.push(`Pacemaker ${r.instance_role}`);
  return parts.join(", ");
}

// drbdSeverity: split brain or a replica that is not UpToDate is bad,
// a resync or a lost connection a warning.
function drbdSeverity(d) {
  if (d.split_brain || (d.replicas || []).every((r) => r.disk !== "UpToDate")) return "critical";
  if ((d.replicas || []).some((r) => r.disk !== "UpToDate" || (!r.local && !r.connected))) return "warning";
  return "ok";
}

// liveText is the target daemon's own view (tgtd, with the iscsi source
// on): its state on each node and the initiators logged in, each a
// where-is link (where answers an initiator's IQN); a list of nodes and
// strings for el.
function liveText(t) {
  const live = t.live || [];
  if (live.length === 0) return ["no daemon view"];
  return live.flatMap((l) => {
    const sessions = (l.sessions || []).map((s) =>
      el("a", { href: "#where=" + encodeURIComponent(s.initiator) }, s.initiator + ((s.addresses || []).length ? " (" + s.addresses.join(", ") + ")" : "")));
    const head = `${l.implementation || "daemon"} on ${l.node}: ${l.state}` + (sessions.length ? ", " : ", no initiator logged in");
    return [head, ...sessions.flatMap((a, i) => (i ? [", ", a] : [a])), " "];
  });
}

async function loadStorage() {
  const [drbd, targets] = await Promise.all([get("drbd"), get("iscsi/targets")]);
  const rows = drbd.data || [];
  const tgs = targets.data || [];
  $("storage").hidden = rows.length === 0 && tgs.length === 0;
  $("drbd").querySelector("tbody").replaceChildren(...rows.map((d) => {
    const sev = drbdSeverity(d);
    const tr = el("tr", null,
      el("td", null, el("a", { href: "#where=" + encodeURIComponent(d.name) }, d.name)),
      el("td", null, d.node),
      el("td", null, badge(sev, sev === "ok" ? "in sync" : severityWord[sev]), d.split_brain ? " split brain" : ""),
      el("td", null, (d.replicas || []).map(replicaText).join("; ")),
      el("td", null, d.clone || ""));
    tr.dataset.drbd = d.name;
    return tr;
  }));
  $("targets").querySelector("tbody").replaceChildren(...tgs.map((t) => {
    const tr = el("tr", null,
      el("td", null, el("a", { href: "#where=" + encodeURIComponent(t.iqn) }, t.iqn)),
      el("td", null, (t.luns || []).map((l) => `${l.lun}: ${l.path || l.resource || ""}`).join("; ")),
      el("td", null, [t.address, ...(t.portals || [])].filter(Boolean).join(" ")),
      el("td", null, t.node || ""),
      el("td", null, ...liveText(t)));
    tr.dataset.iqn = t.iqn;
    return tr;
  }));
}

afterOverview.push(loadStorage);
