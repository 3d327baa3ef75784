// The map: hosts contain their cluster node and VMs, VMs their guest (or
// remote) node, nodes the resource instances they run, as nested boxes
// that CSS grid and flex lay out (a containment hierarchy needs no layout
// library). Each object's place is the model's own: the where-is chains
// (GET /api/v1/where with an empty name: every instance with its chain
// down to the physical host) give the parents of the nodes and VMs on
// them, the same rules place the rest (docs/design.md, the web page).
// The map is redrawn for every generation; an object that changed place
// slides there (FLIP: its old and new boxes measured, the difference
// animated away), unless the system asks for reduced motion. Where-is and
// impact are marked on it. Every object links to its detail page
// (detail.js); arrow keys move between the objects, Enter opens one.
// Built with DOM calls only.
"use strict";

// mapModel is what the map was last drawn from.
let mapModel = null;
// mapMark is the where-is or impact marked on the map: {mode, name}.
let mapMark = null;

const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");

// sev* are the state colours (with the state in words beside them).
function nodeSeverity(n) {
  if (n.unclean || !n.online) return "bad";
  if (n.standby || n.maintenance || n.pending) return "warn";
  return "ok";
}

function nodeWords(n) {
  const w = [n.unclean ? "UNCLEAN" : n.state || (n.online ? "online" : "offline")];
  if (n.standby && !w.includes("standby")) w.push("standby");
  if (n.maintenance && !w.includes("maintenance")) w.push("maintenance");
  if (n.dc) w.push("DC");
  return w.join(", ");
}

function vmSeverity(v) {
  if (v.state === "running") return "ok";
  if (v.state === "shutoff" || v.state === "shutdown") return "off";
  if (v.state === "paused" || v.state === "pmsuspended" || v.state === "blocked") return "warn";
  return "bad";
}

function instanceSeverity(i, nodes) {
  const n = nodes.get(i.node);
  if (i.failed || i.blocked || (n && (n.unclean || !n.online))) return "bad";
  if (!i.active) return "off";
  if (!i.managed || i.fail_count > 0 || i.pending) return "warn";
  return "ok";
}

function instanceWords(i, nodes) {
  const w = [];
  if (i.role && i.role !== "Started") w.push(i.role);
  if (i.failed) w.push("failed");
  if (i.blocked) w.push("blocked");
  if (!i.managed) w.push("unmanaged");
  if (i.fail_count > 0) w.push(`${i.fail_count} failure${i.fail_count > 1 ? "s" : ""}`);
  const n = nodes.get(i.node);
  if (n && (n.unclean || !n.online)) w.push("on " + (n.unclean ? "UNCLEAN" : "offline") + " node");
  return w.join(", ");
}

// placeObjects computes every object's parent on the map ("kind/name"
// keys; "" is the top level) from the where-is chains and the model's
// rules for what no chain passes through.
function placeObjects(m) {
  const parent = new Map();
  const exists = (k) => m.objects.has(k);
  const hop = (h) => (h.kind === "node" || h.kind === "vm" || h.kind === "host") ? h.kind + "/" + h.name : "";
  for (const p of m.where) {
    const hops = p.chain.map(hop).filter((k) => k && exists(k));
    for (let i = 0; i + 1 < hops.length; i++) {
      if (!parent.has(hops[i])) parent.set(hops[i], hops[i + 1]);
    }
  }
  const hostOfNode = (name) => m.hosts.find((h) => h.name === name || h.node === name);
  const hostNode = (host) => {
    const h = m.hosts.find((x) => x.name === host);
    return h && h.node ? h.node : host;
  };
  for (const n of m.nodes) {
    const k = "node/" + n.name;
    if (parent.has(k)) continue;
    let p = "";
    if (n.type === "guest" && n.container) {
      const c = m.instances.find((i) => i.resource === n.container && i.active && i.node);
      if (c) {
        const vms = m.vms.filter((v) => v.resource === n.container);
        const v = vms.find((x) => hostNode(x.host) === c.node && x.state === "running") || vms[0];
        p = v ? "vm/" + v.name : "node/" + c.node;
      } else {
        p = "area/unplaced";
      }
    } else if (n.type === "remote") {
      const v = m.vms.find((x) => x.name === n.name && !x.resource && x.state === "running");
      if (v) p = "vm/" + v.name;
    } else {
      const h = hostOfNode(n.name);
      if (h) p = "host/" + h.name;
    }
    parent.set(k, p);
  }
  for (const v of m.vms) {
    const k = "vm/" + v.name;
    if (parent.has(k)) continue;
    const h = m.hosts.find((x) => x.name === v.host);
    parent.set(k, h && h.node && exists("node/" + h.node) ? "node/" + h.node : exists("host/" + v.host) ? "host/" + v.host : "");
  }
  for (const [k, p] of parent) {
    // A parent the map does not have, or a loop: the top level.
    let q = p;
    for (let i = 0; q && i < 16; i++) q = parent.get(q) || "";
    if ((p && !exists(p) && !p.startsWith("area/")) || q) parent.set(k, "");
  }
  return parent;
}

// instanceKeys names each instance for the animation: a resource with one
// instance by its name (so that a move is a move), the instances of a
// clone by resource and node, stopped ones by their order.
function instanceKeys(instances) {
  const count = new Map();
  for (const i of instances) count.set(i.resource, (count.get(i.resource) || 0) + 1);
  const stopped = new Map();
  return instances.map((i) => {
    if (count.get(i.resource) === 1) return "inst/" + i.resource;
    if (i.node) return "inst/" + i.resource + "@" + i.node;
    const n = (stopped.get(i.resource) || 0) + 1;
    stopped.set(i.resource, n);
    return "inst/" + i.resource + "@stopped-" + n;
  });
}

function mapLink(kind, name, text, words) {
  const a = el("a", { href: "#" + kind + "=" + encodeURIComponent(name), className: "map-link", tabIndex: -1 }, text);
  if (words) a.append(" ", el("span", { className: "words" }, words));
  return a;
}

function box(kind, name, cls, sev, label, words) {
  const li = el("li", { className: `box ${kind} ${cls} sev-${sev}` });
  li.dataset.key = kind + "/" + name;
  li.dataset.kind = kind;
  li.dataset.name = name;
  li.append(el("div", { className: "box-head" }, mapLink(kind, name, label, words)));
  return li;
}

function areaBox(name, title) {
  const li = el("li", { className: "box area" });
  li.dataset.key = "area/" + name;
  li.dataset.kind = "area";
  li.dataset.name = name;
  li.append(el("div", { className: "box-head" }, el("span", { className: "area-title" }, title)));
  return li;
}

// buildMap makes the map's list from the model.
function buildMap(m) {
  const nodes = new Map(m.nodes.map((n) => [n.name, n]));
  const parent = placeObjects(m);
  const elems = new Map();
  for (const h of m.hosts) {
    elems.set("host/" + h.name, box("host", h.name, "", h.reachable ? "ok" : "bad", "host " + h.name,
      h.reachable ? (h.hypervisor || "reachable") : "unreachable"));
  }
  for (const n of m.nodes) {
    elems.set("node/" + n.name, box("node", n.name, n.type, nodeSeverity(n), `${n.type} node ${n.name}`, nodeWords(n)));
  }
  for (const v of m.vms) {
    elems.set("vm/" + v.name, box("vm", v.name, v.managed ? "managed" : "unmanaged", vmSeverity(v), "VM " + v.name,
      v.state + (v.managed ? "" : ", not managed")));
  }
  elems.set("area/unplaced", areaBox("unplaced", "Nodes whose container is not running"));
  elems.set("area/stopped", areaBox("stopped", "Not running"));
  const kids = new Map(); // key -> child boxes
  const add = (p, child, into) => {
    if (!kids.has(p)) kids.set(p, { chips: [], boxes: [] });
    kids.get(p)[into].push(child);
  };
  for (const k of [...elems.keys()]) {
    if (k.startsWith("area/")) continue;
    add(parent.get(k) || "", elems.get(k), "boxes");
  }
  const keys = instanceKeys(m.instances);
  m.instances.forEach((i, idx) => {
    const sev = instanceSeverity(i, nodes);
    const li = el("li", { className: `chip sev-${sev}` });
    li.dataset.key = keys[idx];
    li.dataset.kind = "resource";
    li.dataset.name = i.resource;
    li.dataset.node = i.node || "";
    li.append(mapLink("resource", i.resource, i.resource, instanceWords(i, nodes)));
    li.title = `${i.resource} (${i.agent || "resource"})` + (i.top && i.top !== i.resource ? ` in ${i.top}` : "");
    const p = i.node && elems.has("node/" + i.node) ? "node/" + i.node : "area/stopped";
    add(p, li, "chips");
  });
  for (const a of ["area/unplaced", "area/stopped"]) {
    if (kids.has(a)) add("", elems.get(a), "boxes");
  }
  const order = (a, b) => (a.dataset.kind === "area") - (b.dataset.kind === "area") ||
    a.dataset.kind.localeCompare(b.dataset.kind) || a.dataset.name.localeCompare(b.dataset.name, undefined, { numeric: true });
  for (const [k, c] of kids) {
    if (!k) continue;
    const e = elems.get(k);
    if (c.chips.length) {
      e.append(el("ul", { className: "chips" }, ...c.chips.sort((a, b) => a.dataset.name.localeCompare(b.dataset.name, undefined, { numeric: true }))));
    }
    if (c.boxes.length) e.append(el("ul", { className: "kids" }, ...c.boxes.sort(order)));
  }
  return (kids.get("") || { boxes: [] }).boxes.sort(order);
}

// serviceChips are the services above the map: running or not.
function serviceChips(m) {
  const nodes = new Map(m.nodes.map((n) => [n.name, n]));
  return m.services.map((s) => {
    const on = new Set(m.instances.filter((i) => i.active && (s.resources.includes(i.top) || s.resources.includes(i.resource))).map((i) => i.node));
    // A node that is UNCLEAN or offline still lists what ran there: said
    // so, in red.
    const lost = [...on].filter((n) => nodes.has(n) && (nodes.get(n).unclean || !nodes.get(n).online));
    const where = [...on].map((n) => lost.includes(n) ? `${n} (${nodes.get(n).unclean ? "UNCLEAN" : "offline"})` : n);
    const li = el("li", { className: "chip service sev-" + (on.size && lost.length < on.size ? (lost.length ? "warn" : "ok") : "bad") });
    li.dataset.key = "service/" + s.name;
    li.dataset.kind = "service";
    li.dataset.name = s.name;
    const a = mapLink("service", s.name, s.name, (s.address ? s.address + ", " : "") + (on.size ? "on " + where.join(" ") : "not running"));
    a.tabIndex = 0; // each a tab stop: the arrow keys are the map's
    li.append(a);
    return li;
  });
}

// drawMap draws the map again from mapModel, sliding what moved.
function drawMap() {
  if (!mapModel) return;
  const canvas = $("map-canvas");
  const shown = !$("map").hidden;
  const before = new Map();
  if (shown) {
    for (const e of document.querySelectorAll("#map [data-key]")) before.set(e.dataset.key, e.getBoundingClientRect());
  }
  const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest("#map [data-key]") : null;
  const focusKey = focused ? focused.dataset.key : "";
  $("map-services").replaceChildren(...serviceChips(mapModel));
  canvas.replaceChildren(...buildMap(mapModel));
  canvas.dataset.generation = String(mapModel.generation);
  rovingTarget(focusKey, focusKey !== "");
  // FLIP: each moved object starts where it was and slides to its place;
  // a child's own movement is what is left after its parent's.
  const moved = [];
  if (shown && !reducedMotion.matches) {
    const shift = new Map();
    for (const e of document.querySelectorAll("#map [data-key]")) {
      const old = before.get(e.dataset.key);
      if (!old || old.width === 0) continue;
      const now = e.getBoundingClientRect();
      let dx = old.left - now.left;
      let dy = old.top - now.top;
      let up = e.parentElement.closest("#map [data-key]");
      while (up && !shift.has(up)) up = up.parentElement.closest("#map [data-key]");
      const ps = up ? shift.get(up) : null;
      shift.set(e, [dx, dy]);
      if (ps) {
        dx -= ps[0];
        dy -= ps[1];
      }
      if (Math.abs(dx) < 2 && Math.abs(dy) < 2) continue;
      e.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: "none" }], { duration: 700, easing: "ease-in-out" });
      moved.push(e.dataset.key);
    }
  }
  canvas.dataset.moved = moved.join(" ");
  applyMark();
}

// rovingTarget makes the object with key (else the first) the map's one
// tab stop; focus moves there when asked.
function rovingTarget(key, focus) {
  const links = [...document.querySelectorAll("#map-canvas a.map-link")];
  let target = null;
  if (key) {
    const e = document.querySelector(`#map-canvas [data-key="${CSS.escape(key)}"]`);
    if (e) target = e.querySelector("a.map-link");
  }
  if (!target) target = links[0];
  for (const a of links) a.tabIndex = a === target ? 0 : -1;
  if (target && focus) target.focus({ preventScroll: false });
}

// Keys on the map: arrows go to the next or previous object (in reading
// order: a box, then what it holds), Home and End to the first and last;
// Enter follows the link to the detail page.
function mapKeys(ev) {
  const links = [...document.querySelectorAll("#map-canvas a.map-link")];
  const i = links.indexOf(document.activeElement);
  if (i < 0) return;
  let j = -1;
  if (ev.key === "ArrowRight" || ev.key === "ArrowDown") j = Math.min(links.length - 1, i + 1);
  else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") j = Math.max(0, i - 1);
  else if (ev.key === "Home") j = 0;
  else if (ev.key === "End") j = links.length - 1;
  if (j < 0) return;
  ev.preventDefault();
  for (const a of links) a.tabIndex = -1;
  links[j].tabIndex = 0;
  links[j].focus();
}

// ---- where-is and impact on the map ----

// markKeys are the map objects a where-is answer passes through.
function whereKeys(d) {
  const keys = [];
  for (const p of d.instances || []) {
    for (const h of p.chain) {
      if (h.kind === "resource") keys.push({ kind: "resource", name: h.name, node: h.on || "" });
      else keys.push({ kind: h.kind, name: h.name });
    }
  }
  for (const v of d.vms || []) {
    keys.push({ kind: "vm", name: v.name });
    if (v.host) keys.push({ kind: "host", name: v.host });
  }
  // The services asked for: by name (a derived service shares its
  // resource's name, and the answer names the resource) or resource.
  const matched = new Set((d.matches || []).map((m) => m.name).concat(d.query));
  for (const s of mapModel ? mapModel.services : []) {
    if (matched.has(s.name) || s.resources.some((r) => matched.has(r))) keys.push({ kind: "service", name: s.name });
  }
  for (const m of d.matches || []) {
    if (m.kind === "node" || m.kind === "host" || m.kind === "vm") keys.push({ kind: m.kind, name: m.name });
  }
  return keys;
}

// impactKeys are what goes away with a node or host: itself, the
// instances on it (and on what it hosts), its guest nodes, VMs, services.
function impactKeys(d) {
  const keys = [{ kind: "node", name: d.target }, { kind: "host", name: d.target }];
  for (const p of d.instances || []) keys.push({ kind: "resource", name: p.resource, node: p.node });
  for (const g of d.guest_nodes || []) keys.push({ kind: "node", name: g });
  for (const v of d.vms || []) keys.push({ kind: "vm", name: v.name });
  for (const s of d.services || []) keys.push({ kind: "service", name: s });
  return keys;
}

let markAnswer = null; // {mode, name, generation, keys, text}

async function markOnMap(mode, name) {
  const mark = name ? { mode, name } : null;
  mapMark = mark;
  markAnswer = null;
  if (mark) {
    try {
      await fetchMark();
      if (mapMark !== mark) return; // another mark was asked for meanwhile: its answer shows
      showProblem(null);
    } catch (err) {
      if (mapMark !== mark) return;
      mapMark = null;
      showProblem(err);
    }
  }
  applyMark();
}

// fetchMark asks for the answer of the mark asked for; an answer that
// arrives after another mark was asked for is dropped (answers need not
// arrive in the order they were asked).
async function fetchMark() {
  const mark = mapMark;
  const { mode, name } = mark;
  const gen = mapModel ? mapModel.generation : 0;
  if (markAnswer && markAnswer.mode === mode && markAnswer.name === name && markAnswer.generation === gen) return;
  if (mode === "where") {
    const d = (await get("where?q=" + encodeURIComponent(name))).data;
    if (mapMark !== mark) return;
    markAnswer = { mode, name, generation: gen, keys: whereKeys(d), text: `Marked: where ${name} runs, ${(d.instances || []).length} instance(s) with their chains down to the host.` };
  } else {
    // The model's answer only (no simulation): what goes away with it.
    const d = (await get("impact?simulate=false&node=" + encodeURIComponent(name))).data;
    if (mapMark !== mark) return;
    markAnswer = { mode, name, generation: gen, keys: impactKeys(d),
      text: `Marked: what ${name} takes with it, ${(d.instances || []).length} instance(s), ${(d.vms || []).length} VM(s), ` +
        `${(d.guest_nodes || []).length} guest node(s), services: ${(d.services || []).join(", ") || "none"}.` };
  }
}

// applyMark marks the answer's objects (and says what is marked).
function applyMark() {
  for (const e of document.querySelectorAll("#map .mark-where, #map .mark-impact")) e.classList.remove("mark-where", "mark-impact");
  $("map").classList.toggle("marking", !!markAnswer);
  $("map-clear").hidden = !markAnswer;
  if (!markAnswer) {
    $("map-note").textContent = "";
    return;
  }
  const cls = markAnswer.mode === "where" ? "mark-where" : "mark-impact";
  for (const k of markAnswer.keys) {
    let sel = `#map [data-kind="${CSS.escape(k.kind)}"][data-name="${CSS.escape(k.name)}"]`;
    if (k.kind === "resource") sel += `[data-node="${CSS.escape(k.node || "")}"]`;
    for (const e of document.querySelectorAll(sel)) e.classList.add(cls);
  }
  $("map-note").textContent = markAnswer.text + " " + document.querySelectorAll("#map ." + cls).length + " object(s) on the map.";
}

// markFromLink reads #map=where:NAME and #map=impact:NODE.
function markFromLink(arg) {
  const i = arg.indexOf(":");
  const mode = arg.slice(0, i);
  const name = arg.slice(i + 1);
  if (mode === "where") $("map-where-q").value = name;
  if (mode === "impact") {
    const sel = $("map-impact-target");
    if (![...sel.options].some((o) => o.value === name)) sel.append(el("option", { value: name }, name));
    sel.value = name;
  }
  if (mode === "where" || mode === "impact") markOnMap(mode, name);
}

function setMarkLink(mode, name) {
  deepLink = mode ? "#map=" + encodeURIComponent(mode + ":" + name) : "#map";
  history.replaceState(null, "", deepLink);
}

afterOverview.push(async (nodes, resources, vms, more) => {
  const where = (await get("where?q=")).data;
  const objects = new Set([...nodes.map((n) => "node/" + n.name), ...vms.map((v) => "vm/" + v.name),
    ...more.hosts.map((h) => "host/" + h.name)]);
  mapModel = { nodes, vms, hosts: more.hosts, instances: more.instances, services: more.services, where: where.instances || [],
    generation: more.generation, objects };
  const sel = $("map-impact-target");
  const keep = sel.value;
  const targets = [...new Set([...nodes.map((n) => n.name), ...more.hosts.map((h) => h.name)])].sort();
  sel.replaceChildren(...targets.map((t) => el("option", { value: t }, t)));
  if (targets.includes(keep)) sel.value = keep;
  if (mapMark) {
    try {
      await fetchMark();
    } catch (err) {
      markAnswer = null;
    }
  }
  drawMap();
});

afterSelect.push((name) => {
  // Drawn while hidden, the map is measured again when shown: nothing
  // slides from nowhere.
  if (name === "map") drawMap();
});

document.addEventListener("DOMContentLoaded", () => {
  $("map-canvas").addEventListener("keydown", mapKeys);
  $("map-canvas").addEventListener("focusin", (ev) => {
    if (!(ev.target instanceof HTMLAnchorElement)) return;
    for (const a of document.querySelectorAll("#map-canvas a.map-link")) a.tabIndex = a === ev.target ? 0 : -1;
  });
  $("map-where-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("map-where-q").value.trim();
    if (!q) return;
    setMarkLink("where", q);
    markOnMap("where", q);
  });
  $("map-impact-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("map-impact-target").value;
    setMarkLink("impact", t);
    markOnMap("impact", t);
  });
  $("map-clear").addEventListener("click", () => {
    setMarkLink("", "");
    markOnMap("", "");
  });
});
