// The status view of the Cluster tab: what is wrong first (worst first),
// the counters, and the resource tree (groups, clones, bundles with their
// instances), from GET /api/v1/status. Each object has a menu of the
// actions an operator may take on it (ops.js). Built with DOM calls only.
"use strict";

const severityWord = { critical: "CRITICAL", warning: "WARNING", ok: "OK" };

function badge(sev, text) {
  return el("span", { className: "badge " + (sev || "ok") }, text || severityWord[sev] || sev);
}

// problemActions are the one-click fixes offered beside a problem.
function problemActions(p) {
  if (!actionsAvailable()) return [];
  switch (p.kind) {
  case "leftover-constraint":
    return [quickButton("Clear", `clear ${p.resource}'s move/ban constraints`, "resource", "clear", p.resource)];
  case "failed-action":
  case "resource-failed":
  case "resource-blocked":
    return [quickButton("Clean up…", `preview a cleanup of ${p.resource}`, "resource", "cleanup", p.resource, true)];
  case "resource-stopped":
    return [quickButton("Start…", `preview starting ${p.resource}`, "resource", "start", p.resource, true)];
  case "node-standby":
    return [quickButton("Online…", `preview bringing ${p.object} online`, "node", "online", p.object, true)];
  }
  return [];
}

// statusItem renders one resource of the tree with its children.
function statusItem(it, filter) {
  const kids = (it.children || []).map((c) => statusItem(c, filter)).filter(Boolean);
  const text = [it.id, it.kind, it.agent || "", it.state, ...(it.instances || []).map((i) => i.node || "")].join(" ").toLowerCase();
  if (filter && kids.length === 0 && !text.includes(filter)) return null;
  const head = el("div", { className: "item" },
    badge(it.severity, it.severity === "ok" ? "ok" : severityWord[it.severity]), " ",
    el("b", null, it.id), ` (${it.agent || it.kind})`,
    (it.notes || []).length ? el("span", { className: "notes" }, " [" + it.notes.join(", ") + "]") : "",
    ": ", el("span", { className: "state " + it.severity }, it.state), " ",
    objectMenu("resource", it.id));
  const li = el("li", null, head);
  li.dataset.id = it.id;
  const ins = it.instances || [];
  if (ins.length > 1 && ins.every((i) => i.severity === "ok")) {
    // A healthy clone's instances in one line, as crm_mon prints them.
    li.append(el("div", { className: "instances" }, instanceSummary(ins)));
  } else if (ins.length > 1 || ins.some((i) => i.severity !== "ok")) {
    li.append(el("ul", { className: "instances" }, ...it.instances.map((i) => el("li", null,
      badge(i.severity, i.severity === "ok" ? "ok" : severityWord[i.severity]), ` ${i.resource} `,
      el("span", { className: "state " + i.severity }, i.state), i.node ? " on " + i.node : ""))));
  }
  if (kids.length) li.append(el("ul", null, ...kids));
  return li;
}

// instanceSummary: "Promoted: hv1; Unpromoted: hv2 hv3; Stopped: 3".
function instanceSummary(ins) {
  const by = new Map();
  let stopped = 0;
  for (const i of ins) {
    if (!i.node) {
      stopped++;
      continue;
    }
    by.set(i.state, [...(by.get(i.state) || []), i.node]);
  }
  const parts = [...by].map(([st, ns]) => `${st}: ${ns.join(" ")}`);
  if (stopped) parts.push(`Stopped: ${stopped}`);
  return parts.join("; ");
}

let lastStatus = null;

function renderTree() {
  if (!lastStatus) return;
  const filter = $("tree-filter").value.trim().toLowerCase();
  keepMenusOpen(() => $("status-tree").replaceChildren(...lastStatus.tree.map((it) => statusItem(it, filter)).filter(Boolean)));
}

async function loadStatus() {
  const r = await get("status");
  const st = r.data;
  // The same generation (a task's event, a reconnect): nothing to redo,
  // and an open menu stays as it is.
  if (lastStatus && $("status-view").dataset.generation === String(r.generation)) return;
  lastStatus = st;
  $("status-badge").replaceChildren(badge(st.severity));
  const k = st.counts;
  $("status-counts").textContent = `${k.nodes} nodes (${k.nodes_online} online, ${k.nodes_standby} standby, ` +
    `${k.nodes_offline} offline or unclean), ${k.resources} resources, ${k.instances_active} instances active, ` +
    `${k.resources_failed} failed, ${k.resources_blocked} blocked, ${k.resources_unmanaged} unmanaged, ` +
    `${k.resources_stopped} stopped, ${k.failed_actions} failed actions, ${k.leftover_constraints} leftover constraints`;
  $("status-problems").replaceChildren(...(st.problems.length ? st.problems.map((p) => {
    const li = el("li", { className: "problem-" + p.severity }, badge(p.severity), " ", p.text, " ", ...problemActions(p));
    li.dataset.kind = p.kind;
    return li;
  }) : [el("li", { className: "all-ok" }, badge("ok"), " Nothing is wrong.")]));
  renderTree();
  $("status-view").dataset.generation = String(r.generation);
}

afterOverview.push(loadStatus);
document.addEventListener("DOMContentLoaded", () => $("tree-filter").addEventListener("input", renderTree));
