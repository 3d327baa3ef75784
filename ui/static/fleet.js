// The fleet hub's page: every cluster's health at a glance, refreshed
// every 5 s (the hub's fleet stream carries events, not the list), and a
// cluster's problems and objects on a click, with the link to that
// cluster's own mgmtd, where operators act. No third-party code; the
// page's Content-Security-Policy allows only these files.
"use strict";

const api = "/api/v1/fleet";
let picked = fromHash(location.hash);
// refreshSeq and detailSeq number the list and detail requests: an answer
// that arrives after a newer request was made is dropped (answers need
// not arrive in the order they were asked).
let refreshSeq = 0;
let detailSeq = 0;

function fromHash(hash) {
  try {
    return decodeURIComponent(hash.slice(1));
  } catch (e) {
    return ""; // not a name pick() wrote
  }
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function get(path) {
  const r = await fetch(api + path, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-cache" });
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail || detail; } catch (e) { /* not a problem body */ }
    throw new Error(r.status + " " + detail);
  }
  return (await r.json()).data;
}

function problem(err) {
  const p = document.getElementById("problem");
  p.hidden = !err;
  p.textContent = err ? String(err.message || err) : "";
  const live = document.getElementById("live");
  live.textContent = err ? "not current" : "current";
  live.className = "live " + (err ? "off" : "on");
}

function age(seconds) {
  if (seconds < 90) return Math.round(seconds) + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  return Math.round(seconds / 3600) + " h ago";
}

function healthBadge(c) {
  const sev = { ok: "ok", warning: "warning", critical: "critical" }[c.health] || "warning";
  const word = { ok: "healthy", warning: "warning", critical: "critical" }[c.health] || "unknown";
  return el("span", word, "badge " + sev);
}

function safeURL(u) {
  return /^https?:\/\//.test(u || "") ? u : "";
}

async function refresh() {
  const seq = ++refreshSeq;
  try {
    const cs = await get("/clusters");
    if (seq !== refreshSeq) return;
    const body = document.querySelector("#clusters tbody");
    body.replaceChildren();
    let stale = 0, bad = 0;
    for (const c of cs) {
      if (c.stale) stale++;
      if (c.health === "critical") bad++;
      const tr = el("tr");
      tr.dataset.cluster = c.name;
      if (c.name === picked) tr.className = "picked";
      const name = el("td");
      const b = el("button", c.name);
      b.type = "button";
      b.addEventListener("click", () => pick(c.name));
      name.append(b);
      const health = el("td");
      health.append(healthBadge(c));
      const state = el("td", c.stale ? "stale: " + c.stale_reason : "current", c.stale ? "warn" : "ok");
      const link = el("td");
      if (safeURL(c.url)) {
        const a = el("a", c.url);
        a.href = c.url;
        link.append(a);
      }
      tr.append(name, health, state, el("td", c.nodes_online + " / " + c.nodes), el("td", String(c.resources)),
        el("td", age(c.age_seconds)), link);
      body.append(tr);
    }
    document.getElementById("fleet-counts").textContent =
      cs.length + " clusters, " + bad + " critical, " + stale + " stale";
    problem(null);
    if (picked) await detail(picked);
  } catch (err) {
    if (seq !== refreshSeq) return;
    problem(err);
  }
}

async function pick(name) {
  picked = name;
  history.replaceState(null, "", "#" + encodeURIComponent(name));
  for (const tr of document.querySelectorAll("#clusters tbody tr")) {
    tr.className = tr.dataset.cluster === name ? "picked" : "";
  }
  try {
    await detail(name);
  } catch (err) {
    if (name === picked) problem(err);
  }
}

async function detail(name) {
  const seq = ++detailSeq;
  const [c, objs] = await Promise.all([get("/clusters/" + encodeURIComponent(name)), get("/objects?cluster=" + encodeURIComponent(name))]);
  if (seq !== detailSeq) return; // another cluster (or a newer answer) was asked for
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = "Cluster " + name;
  const a = document.getElementById("detail-link");
  a.href = safeURL(c.cluster.url) || "#";
  a.textContent = c.cluster.url ? "Open " + name + "'s own mgmtd (" + c.cluster.url + ")" : "No URL reported";
  const ul = document.getElementById("detail-problems");
  ul.replaceChildren();
  for (const p of (c.status && c.status.problems) || []) {
    const li = el("li");
    li.append(el("span", p.severity, "state " + p.severity), document.createTextNode(" " + p.text));
    ul.append(li);
  }
  if (!ul.children.length) ul.append(el("li", "No problems.", "ok"));
  const body = document.querySelector("#objects tbody");
  body.replaceChildren();
  for (const o of objs) {
    const tr = el("tr");
    tr.append(el("td", o.kind), el("td", o.name), el("td", o.state, o.state === "failed" ? "bad" : ""), el("td", (o.nodes || []).join(", ")));
    body.append(tr);
  }
}

refresh();
setInterval(refresh, 5000);
