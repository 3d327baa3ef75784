// Detail pages: one node, resource, VM, service or host (#node=NAME,
// #resource=ID, #vm=NAME, #service=NAME, #host=NAME), reached from the
// map, the search or a link. Each shows what the model knows of the
// object, where it runs, its constraints, the actions an operator may take
// on it (ops.js's menus, with the Change form brought here so that the
// preview, the refusal and the task show on the page) and its history
// (GET /api/v1/history?object=NAME). The page follows every generation.
// Built with DOM calls only.
"use strict";

const detailKinds = ["node", "resource", "vm", "service", "host"];
let detailShown = null; // {kind, name}
const renders = new Questions(); // the newest render wins

// showDetail opens the detail page of kind name.
function showDetail(kind, name) {
  detailShown = { kind, name };
  for (const s of document.querySelectorAll("main section")) s.hidden = s.id !== "detail";
  for (const b of document.querySelectorAll("#tabs button")) {
    // The detail pages belong to the map.
    b.setAttribute("aria-selected", String(b.dataset.tab === "map"));
    b.tabIndex = b.dataset.tab === "map" ? 0 : -1;
  }
  $("detail-title").textContent = `${kind} ${name}`;
  $("detail-on-map").href = "#map=" + encodeURIComponent("where:" + name);
  if (!$("act-home").contains($("act"))) $("act-home").append($("act"));
  $("detail-body").replaceChildren(el("p", null, "Loading…"));
  renderDetail().then(() => $("detail-title").focus());
}

function facts(pairs) {
  const dl = el("dl", { className: "facts" });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    dl.append(el("dt", null, k), el("dd", null, ...(Array.isArray(v) ? joinNodes(v) : [v])));
  }
  return dl;
}

function joinNodes(list) {
  const out = [];
  list.forEach((x, i) => {
    if (i) out.push(", ");
    out.push(x);
  });
  return out;
}

function link(kind, name, text) {
  return el("a", { href: "#" + kind + "=" + encodeURIComponent(name) }, text || name);
}

function table(id, heads, rows, empty) {
  if (rows.length === 0) return el("p", { id, className: "counts" }, empty);
  return el("table", { id },
    el("thead", null, el("tr", null, ...heads.map((h) => el("th", null, h)))),
    el("tbody", null, ...rows.map((cells) => el("tr", null, ...cells.map((c) => el("td", null, c))))));
}

function section(title, ...content) {
  return [el("h3", null, title), ...content];
}

function instanceRows(list) {
  return list.map((i) => [link("resource", i.resource), i.role || "",
    i.node ? link("node", i.node) : "not running",
    [i.failed ? "failed" : "", i.blocked ? "blocked" : "", i.managed ? "" : "unmanaged", i.fail_count ? `${i.fail_count} failure(s)` : ""].filter(Boolean).join(", ")]);
}

function constraintRows(list) {
  return list.map((c) => [c.id, c.type,
    c.type === "location" ? (c.node ? ["node ", link("node", c.node)] : "rule " + (c.rule || "")) :
      c.type === "colocation" ? ["with ", link("resource", c.with === detailShown.name ? c.resource : c.with), c.with_role ? ` (${c.with_role})` : ""] :
        [c.action || "", " ", link("resource", c.resource), " then ", c.with_action || "", " ", link("resource", c.with || "")],
    c.score || c.kind || "", c.role || ""].map((x) => (Array.isArray(x) ? el("span", null, ...x) : x)));
}

function constraintTable(list) {
  const seen = new Set();
  const uniq = list.filter((c) => !seen.has(c.id) && seen.add(c.id));
  const left = uniq.filter((c) => /^cli-(prefer|ban)-/.test(c.id));
  const parts = [table("detail-constraints", ["constraint", "type", "what", "score", "role"], constraintRows(uniq), "No constraint names it.")];
  if (left.length) {
    parts.unshift(el("p", { className: "warning" }, `${left.map((c) => c.id).join(", ")}: left by a move or ban; "clear" removes it.`));
  }
  return parts;
}

// actionsFor is the actions part: the object's menus (ops.js) and the
// Change form, or why there are none.
function actionsFor(targets) {
  if (!actionsAvailable()) {
    return [el("p", { id: "detail-no-actions", className: "counts" }, roles.includes("operator") || roles.includes("admin")
      ? "This daemon cannot change the cluster (the demo has no cluster to act on)."
      : "Changes need the operator or admin role.")];
  }
  if (targets.length === 0) return [el("p", { id: "detail-no-actions", className: "counts" }, "Nothing here takes actions.")];
  const menus = el("ul", { className: "detail-menus" }, ...targets.map(([kind, name]) =>
    el("li", null, `${kind} ${name}: `, objectMenu(kind, name))));
  // The Change form itself moves into this place once the page is shown
  // (renderDetail), its preview and task with it.
  return [el("div", { id: "detail-act" }, menus)];
}

// history shows an object's stored events, newest first.
async function historyOf(names) {
  const pages = await Promise.all(names.slice(0, 5).map((n) =>
    get("history?" + new URLSearchParams({ object: n, since: "720h", order: "desc", limit: "50" })).catch((err) => ({ error: err }))));
  const failed = pages.find((p) => p.error);
  if (failed && pages.every((p) => p.error)) {
    return [el("p", { id: "detail-history", className: "counts" }, "No history: " + failed.error.message)];
  }
  const seen = new Set();
  const recs = pages.flatMap((p) => p.records || []).filter((r) => !seen.has(r.instance + "/" + r.seq) && seen.add(r.instance + "/" + r.seq));
  recs.sort((a, b) => (b.published || b.time).localeCompare(a.published || a.time));
  const more = el("button", { type: "button", id: "detail-history-more" }, "Show on the time line");
  more.addEventListener("click", () => {
    $("history-object").value = names[0];
    selectTab("history");
  });
  return [table("detail-history", ["time (UTC)", "severity", "event", "object", "what happened"], recs.slice(0, 50).map((r) => [
    r.time.replace("T", " ").replace(/\.\d+Z$|Z$/, ""),
    el("span", { className: r.severity === "critical" ? "bad" : r.severity === "warning" ? "warn" : "" }, r.severity),
    r.type, r.object.kind + " " + r.object.name, r.message]), "No stored event in the last 30 days."), el("p", null, more)];
}

async function constraintsOfResource(id) {
  // Its own and those of its group, clone or bundle.
  const out = [];
  let r = (await get("resources/" + encodeURIComponent(id))).data;
  out.push(...r.constraints);
  for (let i = 0; r.parent && i < 3; i++) {
    r = (await get("resources/" + encodeURIComponent(r.parent))).data;
    out.push(...r.constraints);
  }
  return out;
}

// renderers build a kind's page: [badge, parts].
const renderers = {
  async node(name) {
    const d = (await get("nodes/" + encodeURIComponent(name))).data;
    const all = (await get("constraints")).data;
    const cons = all.filter((c) => c.node === name || (c.rule && new RegExp("\\b" + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "\\b").test(c.rule)));
    const vms = (mapModel ? mapModel.vms : []).filter((v) => v.guest_node === name || v.name === name);
    const hosted = (mapModel ? mapModel.nodes : []).filter((n) => n.container && mapModel.instances.some((i) => i.resource === n.container && i.node === name && i.active));
    const sev = nodeSeverity(d);
    return [badge(sev === "bad" ? "critical" : sev === "warn" ? "warning" : "ok", nodeWords(d)), [
      facts([["type", d.type], ["state", nodeWords(d)], ["id", d.id], ["votes", d.votes || ""],
        ["resources running", String(d.resources_running)],
        ["container", d.container ? link("resource", d.container) : ""],
        ["in VM", vms.map((v) => link("vm", v.name))],
        ["host", d.host ? link("host", d.host.name) : ""],
        ["guest nodes on it", hosted.map((n) => link("node", n.name))],
        ["addresses", d.member ? (d.member.addrs || []).join(" ") : ""]]),
      ...section("Resources on it", table("detail-instances", ["resource", "role", "node", "notes"], instanceRows(d.instances), "None.")),
      ...section("Constraints", ...constraintTable(cons)),
      ...section("Actions", ...actionsFor(d.type === "member" ? [["node", name]] : [])),
      ...section("History", ...(await historyOf([name])))]];
  },
  async resource(id) {
    const d = (await get("resources/" + encodeURIComponent(id))).data;
    const cons = await constraintsOfResource(id);
    const services = (mapModel ? mapModel.services : serviceList).filter((s) => s.resources.includes(id) || s.resources.includes(d.parent || ""));
    const top = topOf.get(id) || id;
    const state = d.failed ? "critical" : d.blocked || !d.managed ? "warning" : "ok";
    const active = d.instances.filter((i) => i.active);
    const words = d.failed ? "failed" : d.blocked ? "blocked" : !d.managed ? "unmanaged" :
      active.length ? "running on " + [...new Set(active.map((i) => i.node))].join(", ") : "not running";
    const vm = mapModel ? mapModel.vms.find((v) => v.resource === id) : null;
    return [badge(state, words), [
      facts([["kind", d.kind], ["agent", d.agent || ""], ["in", d.parent ? link("resource", d.parent) : ""],
        ["holds", (d.children || []).map((c) => link("resource", c))], ["target role", d.target_role || ""],
        ["managed", d.managed ? "yes" : "no"], ["address", d.address ? `${d.address} (${d.method})` : ""],
        ["guest node", d.guest_node ? link("node", d.guest_node) : ""], ["VM", vm ? link("vm", vm.name) : ""],
        ["services", services.map((s) => link("service", s.name))]]),
      ...section("Instances", table("detail-instances", ["resource", "role", "node", "notes"], instanceRows(d.instances), "No instance.")),
      ...(d.failures.length ? section("Failures", table("detail-failures", ["node", "operation", "result", "reason", "time (UTC)"],
        d.failures.map((f) => [f.node, f.op + (f.interval ? " " + f.interval : ""), f.rc_text || String(f.rc), f.exit_reason || "",
          (f.time || "").replace("T", " ").replace(/\.\d+Z$|Z$/, "")]), "")) : []),
      ...section("Constraints", ...constraintTable(cons)),
      ...section("Actions", ...actionsFor([["resource", id]].concat(top !== id ? [["resource", top]] : []))),
      ...section("History", ...(await historyOf([id])))]];
  },
  async vm(name) {
    const v = (mapModel ? mapModel.vms : []).find((x) => x.name === name);
    if (!v) throw new Problem(404, "no VM named " + name);
    const cons = v.resource ? await constraintsOfResource(v.resource) : [];
    const sev = vmSeverity(v);
    return [badge(sev === "bad" ? "critical" : sev === "ok" ? "ok" : "warning", v.state), [
      facts([["host", link("host", v.host)], ["state", v.state + (v.reason ? ` (${v.reason})` : "")],
        ["managed by", v.resource ? link("resource", v.resource) : "not managed by Pacemaker"],
        ["guest node", v.guest_node ? link("node", v.guest_node) : ""],
        ["vCPUs", String(v.vcpus)], ["memory", Math.round(v.memory_kib / 1024) + " MiB"], ["UUID", v.uuid],
        ["disks", (v.disks || []).map((x) => x.target + (x.source ? " " + x.source : ""))],
        ["interfaces", (v.nics || []).map((x) => x.mac + (x.source ? " on " + x.source : ""))]]),
      ...section("Constraints", ...(v.resource ? constraintTable(cons) : [el("p", { className: "counts" }, "Not a Pacemaker resource: no constraints.")])),
      ...section("Actions", ...actionsFor(v.resource ? [["resource", v.resource]] : [])),
      ...section("History", ...(await historyOf([name])))]];
  },
  async service(name) {
    const s = (mapModel ? mapModel.services : serviceList).find((x) => x.name === name);
    if (!s) throw new Problem(404, "no service named " + name);
    const w = (await get("where?q=" + encodeURIComponent(name))).data;
    const cons = (await Promise.all(s.resources.map(constraintsOfResource))).flat();
    const on = (w.instances || []).filter((i) => i.active);
    return [badge(on.length ? "ok" : "critical", on.length ? "running" : "not running"), [
      facts([["address", s.address ? `${s.address} (${s.method})` : ""], ["resources", s.resources.map((r) => link("resource", r))],
        ["defined", s.derived ? "derived from a resource with an address" : "service catalog"]]),
      ...section("Where it runs", ...(w.instances || []).map((i) => el("div", { className: "chain" }, ...i.chain.map((h) =>
        el("span", { className: "hop" }, h.kind === "resource" || h.kind === "node" || h.kind === "vm" || h.kind === "host"
          ? link(h.kind, h.name, `${h.kind} ${h.name}`) : `${h.kind} ${h.name}`, h.state ? ` (${h.state})` : ""))))),
      ...section("Constraints", ...constraintTable(cons)),
      ...section("Actions", ...actionsFor(s.resources.map((r) => ["resource", r]))),
      ...section("History", ...(await historyOf(s.resources)))]];
  },
  async host(name) {
    const h = (mapModel ? mapModel.hosts : []).find((x) => x.name === name);
    if (!h) throw new Problem(404, "no host named " + name);
    const vms = mapModel.vms.filter((v) => v.host === name);
    const node = h.node ? mapModel.nodes.find((n) => n.name === h.node) : null;
    const cons = node ? (await get("constraints")).data.filter((c) => c.node === node.name) : [];
    return [badge(h.reachable ? "ok" : "critical", h.reachable ? "reachable" : "unreachable"), [
      facts([["cluster node", h.node ? link("node", h.node) : "not a cluster node"], ["libvirt", h.uri || ""],
        ["hypervisor", [h.hypervisor, h.libvirt_version].filter(Boolean).join(" ")], ["CPUs", String(h.cpus || "")],
        ["memory", h.memory_kib ? Math.round(h.memory_kib / 1048576) + " GiB" : ""], ["error", h.error || ""],
        ["VMs", vms.map((v) => link("vm", v.name, `${v.name} (${v.state})`))]]),
      ...section("Constraints", ...(node ? constraintTable(cons) : [el("p", { className: "counts" }, "Not a cluster node: no constraints.")])),
      ...section("Actions", ...actionsFor(node && node.type === "member" ? [["node", node.name]] : [])),
      ...section("History", ...(await historyOf(h.node && h.node !== name ? [name, h.node] : [name])))]];
  },
};

// renderDetail draws the shown detail page again (also for every new
// generation); a menu that is open stays open.
async function renderDetail() {
  if (!detailShown || $("detail").hidden) return;
  const { kind, name } = detailShown;
  const current = renders.ask();
  try {
    const [state, parts] = await renderers[kind](name);
    if (!current()) return;
    const act = $("act"); // found by id only while in the document
    keepMenusOpen(() => {
      $("detail-state").replaceChildren(state);
      $("detail-body").replaceChildren(...parts);
    });
    const slot = $("detail-act");
    if (slot) slot.append(act);
    else if (!$("act-home").contains(act)) $("act-home").append(act);
    $("detail").dataset.generation = String(generation);
    $("detail").dataset.object = kind + "/" + name;
    showProblem(null);
  } catch (err) {
    if (!current()) return;
    if (!$("act-home").contains($("act"))) $("act-home").append($("act"));
    $("detail-state").replaceChildren();
    $("detail-body").replaceChildren(el("p", { className: "bad" }, err.status === 404 ? `No ${kind} called ${name} is known.` : "Could not read it: " + err.message));
    $("detail").dataset.object = kind + "/" + name;
  }
}

afterOverview.push(() => renderDetail());

afterSelect.push(() => {
  // Another tab: the Change form goes home to the Cluster tab.
  if (!$("act-home").contains($("act"))) $("act-home").append($("act"));
  detailShown = null;
});
