// mgmtd's operator page. It reads the REST API of its own origin with the
// browser's credentials and builds the page with DOM calls only (no HTML
// from data), so nothing the cluster reports can run as code here.
"use strict";

const api = "/api/v1/";
const eventTypes = ["node.joined", "node.left", "node.state", "quorum.gained", "quorum.lost", "dc.changed",
  "resource.started", "resource.stopped", "resource.moved", "resource.promoted", "resource.demoted",
  "resource.failed", "resource.recovered", "fencing", "source.stale", "source.recovered", "vm.appeared",
  "vm.gone", "vm.state", "vm.migrated", "host.unreachable", "host.reachable", "conflict", "conflict.resolved",
  "task", "gap"];

const $ = (id) => document.getElementById(id);

// el builds an element: attrs are properties (class via className), the
// children are nodes or strings (always text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs || {});
  for (const c of children) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function fill(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren(...rows.map((cells) => el("tr", null, ...cells.map((c) => el("td", null, c)))));
}

let csrf = ""; // the session's CSRF token, for browser-session callers
let browserLogin = false; // OIDC login configured (GET auth/methods)

// post sends a JSON body; it answers the task (or throws a Problem).
async function post(path, body) {
  const headers = { Accept: "application/json", "Content-Type": "application/json", "X-Mgmtd-Client": "ui" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(api + path, { method: "POST", headers, credentials: "same-origin", body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Problem(r.status, data.detail || data.title || r.statusText);
  return data;
}

class Problem extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function get(path) {
  // no-cache: revalidate every time; the ETag is the generation, so an
  // unchanged model costs a 304.
  const r = await fetch(api + path, { headers: { Accept: "application/json", "X-Mgmtd-Client": "ui" }, credentials: "same-origin", cache: "no-cache" });
  if (!r.ok) {
    let detail = r.statusText;
    try {
      const p = await r.json();
      detail = p.detail || p.title || detail;
    } catch (e) { /* not problem+json */ }
    throw new Problem(r.status, detail);
  }
  return r.json();
}

// Questions number the questions one view asks on the user's behalf:
// answers need not arrive in the order they were asked, and only the
// newest question's answer may be drawn. ask() starts a question and
// returns its check (true while no newer question was asked); same()
// returns the check of the question already asked (a "more" page belongs
// to its search); drop() makes every answer on its way stale.
class Questions {
  #n = 0;
  ask() {
    const mine = ++this.#n;
    return () => mine === this.#n;
  }
  same() {
    const mine = this.#n;
    return () => mine === this.#n;
  }
  drop() {
    this.#n++;
  }
}

function showProblem(err) {
  const p = $("problem");
  if (!err) {
    p.hidden = true;
    return;
  }
  p.hidden = false;
  if (err.status === 401) {
    // "Sign in" only where it leads somewhere: OIDC's login page.
    p.replaceChildren("Not signed in. ", ...(browserLogin
      ? [el("a", { href: api + "auth/login?return=/ui/" }, "Sign in"), " (or reload the page to be asked for a user name and password)."]
      : ["Reload the page to be asked for a user name and password."]));
  } else {
    p.replaceChildren((err.status ? err.status + ": " : "") + err.message);
  }
}

// ---- identity and tabs ----

let roles = [];

function can(need) {
  if (need === "audit") return roles.includes("auditor") || roles.includes("admin");
  return roles.some((r) => r === "viewer" || r === "operator" || r === "admin");
}

function selectTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) {
    b.setAttribute("aria-selected", String(b.dataset.tab === name));
    b.tabIndex = b.dataset.tab === name ? 0 : -1; // arrow keys move between tabs (nav.js)
  }
  for (const s of document.querySelectorAll("main section")) s.hidden = s.id !== name;
  if (name === "audit") searchAudit(false);
  if (name === "history") searchHistory(false);
  for (const f of afterSelect) f(name);
  location.hash = name;
}

// ---- the cluster at a glance ----

let generation = 0;

function stateOf(n) {
  if (n.unclean) return el("span", { className: "bad" }, "unclean");
  if (!n.online) return el("span", { className: "bad" }, n.state || "offline");
  if (n.standby) return el("span", { className: "warn" }, "standby");
  if (n.maintenance) return el("span", { className: "warn" }, "maintenance");
  return el("span", { className: "ok" }, n.state || "online");
}

async function loadOverview() {
  const [clusters, nodes, resources, services, vms, instances, hosts] = await Promise.all([
    get("clusters"), get("nodes?limit=1000"), get("resources?limit=1000"), get("services"), get("vms?limit=1000"),
    get("instances?limit=1000"), get("hosts")]);
  generation = clusters.generation;
  const c = clusters.data[0] || {};
  $("cluster-name").textContent = c.name ? "- " + c.name : "";
  const sources = c.sources || [];
  $("summary").replaceChildren(
    el("span", null, "quorum: ", el("b", { className: c.quorate ? "ok" : "bad" }, c.quorate ? "yes" : "NO"),
      ` (${c.total_votes}/${c.expected_votes} votes)`),
    el("span", null, "DC: ", el("b", null, c.dc || "none")),
    el("span", null, "nodes: ", el("b", null, c.nodes)),
    el("span", null, "resources: ", el("b", null, c.resources)),
    el("span", null, "generation: ", el("b", { id: "generation" }, clusters.generation)),
    el("span", null, "sources: ", ...sources.map((s) =>
      el("b", { className: s.state === "ok" ? "ok" : "bad", title: s.last_error || "" }, s.name + " " + s.state + " "))));
  const warnings = sources.filter((s) => s.state !== "ok").map((s) =>
    el("div", { className: "warning" }, `${s.name} is ${s.state}: ${s.last_error || "no recent answer"}; its part of the picture may be out of date` + (s.last_success ? ` (last good answer ${s.last_success.replace("T", " ").slice(0, 19)} UTC).` : ".")));
  if (c.maintenance_mode) warnings.push(el("div", { className: "warning" }, "The cluster is in maintenance mode."));
  $("warnings").replaceChildren(...warnings);

  const nodeState = new Map(nodes.data.map((n) => [n.name, n]));
  const running = new Map(); // top-level resource -> nodes
  for (const i of instances.data) {
    if (!i.active) continue;
    const on = running.get(i.top) || [];
    const n = nodeState.get(i.node);
    // A node that is UNCLEAN or offline still lists what ran there: say
    // so rather than "runs on".
    const stranded = n && (n.unclean || !n.online) ? ` (node ${n.state.toUpperCase()})` : "";
    on.push(i.node + (i.role && i.role !== "Started" ? ` (${i.role})` : "") + stranded);
    running.set(i.top, on);
  }
  topOf = new Map(instances.data.map((i) => [i.resource, i.top]));
  fill($("nodes"), nodes.data.map((n) => [n.name, n.type, stateOf(n), n.resources_running,
    [n.dc ? "DC" : "", n.container ? "in " + n.container : ""].filter(Boolean).join(", ")]));
  fill($("services"), services.data.map((s) => {
    const on = [...new Set(s.resources.flatMap((r) => running.get(r) || []))];
    if (on.length === 0) return [s.name, s.address || "", s.method || "", el("span", { className: "bad" }, "not running")];
    const text = on.join(", ");
    return [s.name, s.address || "", s.method || "", text.includes("(node ") ? el("span", { className: "bad" }, text) : text];
  }));
  serviceList = services.data;
  fill($("vms"), vms.data.map((v) => [v.name, v.host || "?",
    el("span", { className: v.state === "running" ? "ok" : "warn" }, v.state),
    v.managed ? "resource " + v.resource + (v.guest_node ? ", guest node " + v.guest_node : "") : "not managed"]));
  members = nodes.data.filter((n) => n.type === "member").map((n) => n.name);
  topResources = resources.data.filter((r) => !r.parent).map((r) => r.id);
  fillActObjects();
  if (!$("act").hidden) loadTasks();
  const targets = [...new Set([...nodes.data.map((n) => n.name)].concat(hosts.data.map((h) => h.name)))].sort();
  const sel = $("impact-target");
  const keep = sel.value;
  sel.replaceChildren(...targets.map((t) => el("option", { value: t }, t)));
  if (targets.includes(keep)) sel.value = keep;
  // The status view, the menus and the search list (status.js, ops.js,
  // nav.js).
  await Promise.all(afterOverview.map((f) => f(nodes.data, resources.data, vms.data,
    { instances: instances.data, hosts: hosts.data, services: services.data, generation: clusters.generation })));
}

// ---- changes: preview with Pacemaker's scheduler, then apply ----

let members = [];
let topResources = [];
let topOf = new Map(); // instance or primitive -> its top-level resource
let serviceList = [];
// afterOverview are called after every load of the overview with the
// nodes, resources and VMs, and the rest of what it read (instances,
// hosts, services, generation) (status.js, nav.js, map.js register here).
const afterOverview = [];
// afterSelect are called with the name of the tab selectTab shows
// (detail.js brings the Change form back to the Cluster tab).
const afterSelect = [];

function fillActObjects() {
  const [kind, action] = $("act-op").value.split("/");
  const keep = $("act-object").value;
  const objects = [...(kind === "node" ? members : topResources)];
  // Keep the chosen object across refreshes, also one a menu chose that
  // is not in the list (a group's member).
  if (keep && !objects.includes(keep) && $("act-object").dataset.kind === kind) objects.push(keep);
  $("act-object").dataset.kind = kind;
  $("act-object").replaceChildren(...objects.map((o) => el("option", { value: o }, o)));
  if (objects.includes(keep)) $("act-object").value = keep;
  const keepTo = $("act-to").value;
  $("act-to").replaceChildren(...(action === "ban" ? [el("option", { value: "" }, "where it runs")] : []),
    ...members.map((m) => el("option", { value: m }, m)));
  if ([...$("act-to").options].some((o) => o.value === keepTo)) $("act-to").value = keepTo;
  $("act-to-label").hidden = action !== "move" && action !== "ban";
  $("act-to-word").textContent = action === "ban" ? "from" : "to";
}

function actRequest() {
  const [kind, action] = $("act-op").value.split("/");
  const object = $("act-object").value;
  const path = (kind === "node" ? "nodes/" : "resources/") + encodeURIComponent(object) + "/actions/" + action;
  const body = (action === "move" || action === "ban") && $("act-to").value ? { node: $("act-to").value } : {};
  const what = `${action} ${kind} ${object}` + (body.node ? (action === "ban" ? ` from ${body.node}` : ` to ${body.node}`) : "");
  return { path, body, what };
}

// actionText says what a predicted action does, as model.SimAction.Text
// does: "promote db:1 on hv2", "move vm-app from hv1 to hv2".
function actionText(a) {
  const on = a.dest || a.source || a.node || "";
  let s;
  if (a.action === "move" || a.action === "migrate") {
    s = `${a.action} ${a.resource}` + (a.source ? ` from ${a.source}` : "") + (a.dest ? ` to ${a.dest}` : "");
  } else if (a.action === "stonith") {
    s = `fence ${a.resource}`;
  } else if (a.action.startsWith("Fence ")) {
    s = `fence ${a.resource} ${a.action.slice(6)}`;
  } else {
    s = `${a.action} ${a.resource}` + (on ? ` on ${on}` : "");
  }
  return s + (a.blocked ? " (blocked)" : "");
}

// predictionList shows what the scenario makes Pacemaker do, apart from
// what the cluster does anyway (planned).
function predictionList(sim) {
  if (!sim) return el("p", null, "No prediction.");
  if (sim.error) return el("p", { className: "bad" }, "The scheduler could not predict it: " + sim.error);
  const parts = [];
  if (!sim.actions || sim.actions.length === 0) {
    parts.push(el("p", { className: "prediction-none" }, "Pacemaker would take no action because of it."));
  } else {
    parts.push(el("ol", { className: "actions" }, ...sim.actions.map((a) => el("li", null,
      actionText(a) + (a.reason ? ` (${a.reason})` : "")))));
    parts.push(serviceSummary(sim.actions));
  }
  if (sim.planned && sim.planned.length > 0) {
    parts.push(el("details", { className: "planned" },
      el("summary", null, `and ${sim.planned.length} action(s) the cluster takes anyway, without it`),
      el("ol", { className: "actions" }, ...sim.planned.map((a) => el("li", null, actionText(a))))));
  }
  return el("div", { className: "prediction" }, ...parts);
}

// serviceSummary says which services the actions touch.
function serviceSummary(actions) {
  const touched = new Map();
  for (const a of actions) {
    const top = topOf.get(a.resource) || topOf.get(a.resource.replace(/:\d+$/, "")) || a.resource;
    for (const s of serviceList) {
      if (s.resources.includes(top) || s.resources.includes(a.resource)) touched.set(s.name, (touched.get(s.name) || 0) + 1);
    }
  }
  if (touched.size === 0) return el("p", { className: "services-touched" }, "No service is touched.");
  return el("p", { className: "services-touched" }, "Services touched: " +
    [...touched].map(([n, c]) => `${n} (${c} action${c > 1 ? "s" : ""})`).join(", ") + ".");
}

// previews: a preview that arrives after a newer one was asked for, or
// after the form changed, is dropped - its Apply would make a change
// other than the one the form shows.
const previews = new Questions();

async function preview(ev) {
  ev.preventDefault();
  const req = actRequest();
  const out = $("act-preview");
  $("act-status").replaceChildren();
  const current = previews.ask();
  try {
    const task = await post(req.path, { ...req.body, dry_run: true });
    if (!current()) return;
    const apply = el("button", { type: "button", id: "act-apply" }, "Apply");
    const cancel = el("button", { type: "button" }, "Cancel");
    const parts = [el("p", null, `To ${req.what}, Pacemaker would:`), predictionList(task.prediction)];
    let force = null;
    if (task.shortfall) {
      // The prediction says the goal will not be reached: the daemon
      // refuses it unless an admin forces it (recorded as forced).
      parts.push(el("p", { className: "refusal", role: "alert" }, "It would not reach its goal: " + task.shortfall + "."));
      apply.disabled = true;
      if (roles.includes("admin")) {
        force = el("input", { type: "checkbox", id: "act-force" });
        force.addEventListener("change", () => { apply.disabled = !force.checked; });
        parts.push(el("p", null, el("label", null, force, " apply anyway (force; recorded in the audit log)")));
      } else {
        parts.push(el("p", null, "Only an admin can force it."));
      }
    }
    apply.addEventListener("click", () => { out.replaceChildren(); run(force && force.checked ? { ...req, body: { ...req.body, force: true } } : req); });
    cancel.addEventListener("click", () => out.replaceChildren());
    out.replaceChildren(...parts, apply, " ", cancel);
    showProblem(null);
  } catch (err) {
    if (!current()) return;
    out.replaceChildren();
    showProblem(err);
  }
}

function taskLine(t) {
  const state = el("b", { className: t.state === "succeeded" ? "ok" : t.state === "running" || t.state === "pending" ? "warn" : "bad" }, t.state);
  return [`task ${t.id}: ${t.op} ${t.object && t.object.name ? t.object.name : ""} `, state, t.error ? ": " + t.error : t.result ? ": " + t.result : ""];
}

async function run(req) {
  const status = $("act-status");
  try {
    let task = await post(req.path, { ...req.body, idempotency_key: crypto.randomUUID() });
    status.replaceChildren(...taskLine(task));
    while (!["succeeded", "failed", "timed_out", "refused"].includes(task.state)) {
      await new Promise((r) => setTimeout(r, 500));
      task = await get("tasks/" + encodeURIComponent(task.id));
      status.replaceChildren(...taskLine(task));
    }
    showProblem(null);
  } catch (err) {
    showProblem(err);
  }
  loadTasks();
  refreshSoon();
}

async function loadTasks() {
  try {
    const tasks = await get("tasks");
    fill($("tasks"), tasks.filter((t) => !t.dry_run).slice(0, 20).map((t) => [
      (t.created || "").replace("T", " ").slice(0, 19), t.op, t.object ? t.object.name : "", t.actor ? t.actor.id : "",
      el("span", { className: t.state === "succeeded" ? "ok" : "bad" }, t.state), t.error || t.result || ""]));
  } catch (err) {
    showProblem(err);
  }
}

// ---- where is ----

// chain shows an instance's chain down to the host, each hop a link to
// its detail page (detail.js).
function chain(inst) {
  return el("div", { className: "chain" }, ...inst.chain.map((h) =>
    el("span", { className: "hop" }, el("a", { href: "#" + h.kind + "=" + encodeURIComponent(h.name) }, `${h.kind} ${h.name}`),
      h.state ? ` (${h.state})` : "")));
}

// storageChain shows a replicated-storage chain: target -> LUN -> device
// -> DRBD resource and its Primary -> node -> host, and whether the
// replicas are in sync.
function storageChain(c) {
  const hops = [];
  if (c.target) hops.push(`target ${c.target}`);
  if (c.lun != null) hops.push(`LUN ${c.lun}` + (c.path ? ` (${c.path})` : ""));
  else if (c.path) hops.push(`device ${c.path}`);
  if (c.drbd) hops.push(`DRBD ${c.drbd}` + (c.primary ? ` (Primary on ${c.primary})` : " (no Primary)"));
  if (c.primary) hops.push(el("a", { href: "#node=" + encodeURIComponent(c.primary) }, `node ${c.primary}`));
  if (c.host) hops.push(el("a", { href: "#host=" + encodeURIComponent(c.host) }, `host ${c.host}`));
  const div = el("div", { className: "chain storage-chain" }, ...hops.map((h) => el("span", { className: "hop" }, h)),
    " ", badge(c.in_sync ? "ok" : "critical", c.in_sync ? "in sync" : "NOT IN SYNC"), " " + (c.sync || ""));
  return div;
}

// The Where is and Impact views draw their newest question's answer only
// (the previous name's late answer must not replace the newer one).
const whereQuestions = new Questions();
const impactQuestions = new Questions();

async function where(ev) {
  ev.preventDefault();
  const q = $("where-q").value.trim();
  const out = $("where-result");
  const current = whereQuestions.ask();
  out.setAttribute("aria-busy", "true"); // until its answer is drawn
  try {
    const r = await get("where?q=" + encodeURIComponent(q));
    if (!current()) return;
    out.removeAttribute("aria-busy");
    const d = r.data;
    const vms = (d.vms || []).map((v) => el("div", { className: "vm-where" }, el("b", null, "VM " + v.name), ` ${v.state} on host ${v.host || "?"}` +
      (v.managed ? ` (resource ${v.resource})` : " (not managed by Pacemaker)")));
    const storage = (d.storage || []).map(storageChain);
    if ((!d.instances || d.instances.length === 0) && vms.length === 0 && storage.length === 0) {
      out.replaceChildren(el("p", null, d.matches && d.matches.length ? `${q} is known but runs nowhere.` : `Nothing called ${q} is known.`));
      showProblem(null);
      return;
    }
    out.replaceChildren(el("p", null, `${q}: ${(d.instances || []).length} instance(s)` + (vms.length ? `, ${vms.length} VM(s)` : "") +
      (storage.length ? `, ${storage.length} storage chain(s)` : "") + " ",
      el("a", { href: "#map=" + encodeURIComponent("where:" + q) }, "show on the map")),
      ...storage,
      ...(d.instances || []).map((i) => el("div", null, el("b", null, i.resource), " " + (i.role || ""), chain(i))), ...vms);
    showProblem(null);
  } catch (err) {
    if (!current()) return;
    out.removeAttribute("aria-busy");
    // No answer: the previous one must not stay under the error.
    out.replaceChildren();
    showProblem(err);
  }
}

// ---- impact ----

async function impact(ev) {
  ev.preventDefault();
  const target = $("impact-target").value;
  const out = $("impact-result");
  out.replaceChildren(el("p", null, "Asking Pacemaker's scheduler..."));
  const current = impactQuestions.ask();
  try {
    const d = (await get("impact?node=" + encodeURIComponent(target))).data;
    if (!current()) return;
    const parts = [el("h2", null, `${target} takes with it`)];
    parts.push(el("p", null, `${(d.instances || []).length} resource instance(s), ` +
      `${(d.vms || []).length} VM(s), services: ${(d.services || []).join(", ") || "none"}` +
      ((d.guest_nodes || []).length ? `, guest nodes: ${d.guest_nodes.join(", ")}` : "") + " ",
      el("a", { href: "#map=" + encodeURIComponent("impact:" + target) }, "show on the map")));
    parts.push(el("ul", null, ...(d.instances || []).map((i) => el("li", null, `${i.resource} (${i.role})`))));
    for (const s of d.simulations || []) {
      parts.push(el("h2", null, `What Pacemaker would do (${s.scenario} of ${s.node})`), predictionList(s));
    }
    out.replaceChildren(...parts);
    showProblem(null);
  } catch (err) {
    if (!current()) return;
    out.replaceChildren();
    showProblem(err);
  }
}

// ---- audit ----

let auditCursor = "";
const auditQuestions = new Questions(); // a new search drops the answers of earlier ones

// searchAudit shows the newest audit records the form asks for; more
// appends the next, older page (one at a time: the button is hidden
// while its page is asked for).
async function searchAudit(more) {
  if (more && !auditCursor) return;
  if (!more) auditCursor = "";
  const current = more ? auditQuestions.same() : auditQuestions.ask();
  const cursor = auditCursor;
  $("audit-more").hidden = true;
  const form = $("audit-form");
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) {
    if (!v) continue;
    q.set(k, k === "since" ? new Date(v + "Z").toISOString() : v);
  }
  for (const format of ["jsonl", "csv", "cef"]) {
    const x = new URLSearchParams(q);
    x.set("format", format);
    x.set("client", "ui");
    $("export-" + format).href = api + "audit/export?" + x.toString();
  }
  // A filtered export holds part of the chain: it verifies with --partial.
  $("export-verify").textContent = [...q.keys()].length ? "mgmtd audit verify --partial FILE" : "mgmtd audit verify FILE";
  q.set("limit", "50");
  q.set("order", "newest");
  if (more) q.set("cursor", cursor);
  try {
    const page = await get("audit?" + q.toString());
    if (!current()) return;
    const rows = page.records.map((r) => [r.time.replace("T", " ").replace("Z", ""), r.seq, r.actor, r.channel,
      r.action, r.object_type + " " + r.object_id,
      el("span", { className: r.outcome === "success" ? "ok" : "bad" }, r.outcome), r.reason]);
    const body = $("audit-records").tBodies[0];
    if (!more) body.replaceChildren();
    body.append(...rows.map((cells) => el("tr", null, ...cells.map((c) => el("td", null, c)))));
    auditCursor = page.next || "";
    $("audit-more").hidden = !auditCursor;
    showProblem(null);
  } catch (err) {
    if (!current()) return;
    $("audit-more").hidden = !auditCursor; // a failed "more" may be tried again
    showProblem(err);
  }
}

// ---- history: what happened, and why ----

let historyCursor = "";
const historyQuestions = new Questions(); // a new search drops the answers of earlier ones
let historySpan = "24h";
const spanMs = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "168h": 168 * 3600e3, "720h": 720 * 3600e3 };

// searchHistory shows the stored events of the chosen time range (newest
// first) as a time line and a table; more appends the next, older page
// (one at a time: the button is hidden while its page is asked for). An
// answer that arrives after a newer search was started is dropped.
async function searchHistory(more) {
  if (more && !historyCursor) return;
  if (!more) historyCursor = "";
  const current = more ? historyQuestions.same() : historyQuestions.ask();
  $("history-more").hidden = true;
  const q = new URLSearchParams({ since: historySpan, order: "desc", limit: "200" });
  const object = $("history-object").value.trim();
  if (object) q.set("object", object);
  if (more) q.set("cursor", historyCursor);
  try {
    const page = await get("history?" + q.toString());
    if (!current()) return;
    const body = $("history-records").tBodies[0];
    if (!more) {
      body.replaceChildren();
      $("timeline").replaceChildren();
      $("explanation").hidden = true;
    }
    const to = Date.now();
    const from = to - spanMs[historySpan];
    $("timeline-from").textContent = new Date(from).toISOString().slice(0, 16).replace("T", " ");
    $("timeline-to").textContent = "now";
    for (const r of page.records) {
      const row = el("tr", { id: "event-" + r.seq }, ...[r.time.replace("T", " ").replace(/\.\d+Z$|Z$/, ""), r.seq,
        el("span", { className: r.severity === "critical" ? "bad" : r.severity === "warning" ? "warn" : "" }, r.severity),
        r.type, r.object.kind + " " + r.object.name, r.message, why(r)].map((c) => el("td", null, c)));
      body.append(row);
      const at = Date.parse(r.published || r.time);
      const x = Math.min(100, Math.max(0, (100 * (at - from)) / (to - from)));
      const mark = el("button", { type: "button", className: "mark " + r.severity, title: r.time + " " + r.message });
      mark.style.left = x + "%";
      mark.setAttribute("aria-label", r.message);
      mark.addEventListener("click", () => {
        for (const p of body.querySelectorAll("tr.picked")) p.classList.remove("picked");
        row.classList.add("picked");
        row.scrollIntoView({ block: "nearest" });
      });
      $("timeline").append(mark);
    }
    historyCursor = page.next || "";
    $("history-more").hidden = !historyCursor;
    if (page.recorder && (page.recorder.dropped > 0 || page.recorder.failing)) {
      showProblem(new Problem(0, `The history is incomplete: ${page.recorder.dropped} events dropped` +
        (page.recorder.failing ? `; its store is failing (${page.recorder.error})` : "")));
    } else {
      showProblem(null);
    }
  } catch (err) {
    if (!current()) return;
    $("history-more").hidden = !historyCursor; // a failed "more" may be tried again
    showProblem(err);
  }
}

// why is the cell linking an event to the Pacemaker transition that caused
// it: a button that explains the scheduler input the DC saved.
function why(r) {
  const t = r.transition;
  if (!t) return "";
  if (!t.input) return "transition " + t.number;
  const b = el("button", { type: "button", className: "why" }, "transition " + t.number);
  b.title = "what Pacemaker did from " + t.input;
  b.addEventListener("click", () => explain(t.input, t.number));
  return b;
}

async function explain(input, number) {
  const box = $("explanation");
  box.hidden = false;
  box.replaceChildren(el("p", null, "Asking Pacemaker's scheduler about " + input + " ..."));
  try {
    const ex = await get("transitions/" + encodeURIComponent(input));
    const acts = ex.actions.map((a) => el("li", null, a.action + " " + a.resource +
      (a.source && a.dest && a.source !== a.dest ? " (" + a.source + " \u2192 " + a.dest + ")" : a.node || a.dest || a.source ? " (" + (a.node || a.dest || a.source) + ")" : "") +
      (a.reason ? ": " + a.reason : "")));
    box.replaceChildren(
      el("h2", null, "Transition " + number + ": what Pacemaker did"),
      el("p", null, "From " + ex.input.name + ", saved " + ex.input.time.replace("T", " ").replace(/\.\d+Z$|Z$/, "") +
        " UTC, recomputed by crm_simulate on a private copy:"),
      acts.length ? el("ol", { className: "actions" }, ...acts) : el("p", null, "no actions: the cluster was where the scheduler wanted it"));
  } catch (err) {
    box.replaceChildren(el("p", { className: "bad" }, "No explanation: " + err.message));
  }
}

// ---- live updates ----

let refreshTimer = 0;
let reloading = false; // a reload of the overview is on its way
let reloadAgain = false; // and another was asked for meanwhile

// refreshSoon reloads the overview a moment after the last of a burst of
// events. Reloads run one at a time: one asked for while another is on
// its way runs after it, so an older answer never replaces a newer one.
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(reload, 250);
}

async function reload() {
  if (reloading) {
    reloadAgain = true;
    return;
  }
  reloading = true;
  try {
    await loadOverview();
  } catch (err) {
    showProblem(err);
  } finally {
    reloading = false;
  }
  if (reloadAgain) {
    reloadAgain = false;
    reload();
  }
}

// showGeneration puts the generation the page shows in the live badge.
function showGeneration(g) {
  const live = $("live");
  live.className = "live on";
  live.textContent = "live, generation " + g;
}

function follow() {
  const live = $("live");
  const es = new EventSource(api + "events");
  // Every generation, also one that carries no event: the stream tells
  // it as "generation" (rest/events.go).
  es.addEventListener("generation", (m) => {
    let e = {};
    try { e = JSON.parse(m.data); } catch (err) { /* keep going */ }
    if (e.generation !== generation) refreshSoon();
    showGeneration(e.generation || generation);
  });
  let opened = false;
  es.onopen = () => {
    live.className = "live on";
    live.textContent = "live";
    // A reconnect resumes the events, but a generation that changed
    // without one while the stream was down is only seen by reloading.
    if (opened) refreshSoon();
    opened = true;
  };
  es.onerror = () => {
    live.className = "live off";
    live.textContent = "disconnected, retrying";
  };
  for (const t of eventTypes) {
    es.addEventListener(t, (m) => {
      let e = {};
      try { e = JSON.parse(m.data); } catch (err) { /* keep going */ }
      showGeneration(e.generation || generation);
      refreshSoon();
    });
  }
}

// splitHash reads a location hash as [name, argument]: "#where=web" is
// ["where", "web"], "#/resource/web" (the form) ["resource",
// "web"], "#map" ["map", undefined].
function splitHash(hash) {
  let h = hash.replace(/^#/, "");
  if (h.startsWith("/")) {
    const parts = h.slice(1).split("/");
    return [parts[0], parts.length > 1 ? decodeURIComponent(parts.slice(1).join("/")) : undefined];
  }
  const i = h.indexOf("=");
  if (i < 0) return [h, undefined];
  return [h.slice(0, i), decodeURIComponent(h.slice(i + 1))];
}

async function start() {
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  $("where-form").addEventListener("submit", where);
  $("impact-form").addEventListener("submit", impact);
  $("audit-form").addEventListener("submit", (ev) => { ev.preventDefault(); searchAudit(false); });
  $("audit-more").addEventListener("click", () => searchAudit(true));
  $("history-form").addEventListener("submit", (ev) => { ev.preventDefault(); searchHistory(false); });
  $("history-more").addEventListener("click", () => searchHistory(true));
  for (const b of document.querySelectorAll("#history-zoom button")) {
    b.addEventListener("click", () => {
      historySpan = b.dataset.span;
      for (const o of document.querySelectorAll("#history-zoom button")) o.setAttribute("aria-pressed", String(o === b));
      searchHistory(false);
    });
  }
  $("act-op").addEventListener("change", fillActObjects);
  // A preview belongs to the form it was asked for: changing the form
  // takes it (and its Apply) away.
  $("act-form").addEventListener("change", () => {
    previews.drop();
    $("act-preview").replaceChildren();
  });
  $("act-form").addEventListener("submit", preview);
  let session;
  try {
    browserLogin = (await get("auth/methods")).oidc === true;
  } catch (err) { /* an older daemon: no Sign in link */ }
  try {
    // whoami, directly under /api/v1/: where a browser answers the Basic
    // challenge decides where it sends the credentials unasked afterwards
    // (rest/auth.go).
    session = await get("whoami");
  } catch (err) {
    showProblem(err);
    return;
  }
  const id = session.identity || {};
  roles = id.roles || [];
  csrf = session.csrf_token || "";
  $("who").textContent = `${id.name || id.id} (${roles.join(", ") || "no role"})`;
  let first = "";
  for (const b of document.querySelectorAll("#tabs button")) {
    b.hidden = !can(b.dataset.needs);
    if (!b.hidden && !first) first = b.dataset.tab;
  }
  // Deep links: #TAB, #TAB=ARG (nav.js: #where=NAME, #impact=NODE,
  // #map=where:NAME) or a detail page (#node=NAME, #resource=ID, ...;
  // detail.js); #/KIND/NAME is read as #KIND=NAME.
  const [wanted, arg] = splitHash(location.hash);
  const tab = document.querySelector(`#tabs button[data-tab="${CSS.escape(wanted)}"]`);
  // Show the tab at once; its data follows.
  selectTab(tab && !tab.hidden ? wanted : first || "overview");
  if (can("cluster")) {
    try {
      // Changes are offered to operators and admins when the daemon can
      // make them (it cannot without a live cluster or a CIB file: the
      // demo): the task list answers 404 then.
      if (roles.includes("operator") || roles.includes("admin")) {
        $("act").hidden = !(await get("tasks").then(() => true, () => false));
      }
      await reload();
      follow();
    } catch (err) {
      showProblem(err);
    }
    if ((!tab || !tab.hidden) && typeof openDeepLink === "function") openDeepLink(wanted, arg);
  } else {
    $("live").textContent = "";
    $("live").className = "";
  }
  document.body.dataset.ready = "true"; // for the browser tests
}

start();
