// Navigation: the search box (any name or address the model knows: it
// asks where-is), deep links (#where=NAME, #impact=NODE, #map,
// #map=where:NAME, #map=impact:NODE, and the detail pages #node=NAME,
// #resource=ID, #vm=NAME, #service=NAME, #host=NAME; #/KIND/NAME is read
// the same way), keyboard navigation (arrow keys between the tabs, "/" to
// search, Escape), and the dark theme (the system's choice unless the
// button overrides it).
"use strict";

// deepLink is the hash openDeepLink last set: its own hashchange is not
// a new request.
let deepLink = "";

// openDeepLink shows a tab with its argument: the where-is answer for a
// name, the impact of a node, the map with where or impact marked on it,
// or an object's detail page (detail.js).
function openDeepLink(tab, arg) {
  if (detailKinds.includes(tab) && arg) {
    deepLink = "#" + tab + "=" + encodeURIComponent(arg);
    showDetail(tab, arg);
    history.replaceState(null, "", deepLink);
    return;
  }
  if (tab === "map") {
    deepLink = arg ? "#map=" + encodeURIComponent(arg) : "#map";
    selectTab("map");
    if (arg) markFromLink(arg);
    history.replaceState(null, "", deepLink);
    return;
  }
  if (arg === undefined) return;
  deepLink = "#" + tab + "=" + encodeURIComponent(arg);
  if (tab === "where") {
    selectTab("where");
    $("where-q").value = arg;
    $("where-form").requestSubmit();
    history.replaceState(null, "", deepLink);
  } else if (tab === "impact") {
    selectTab("impact");
    const sel = $("impact-target");
    if (![...sel.options].some((o) => o.value === arg)) sel.append(el("option", { value: arg }, arg));
    sel.value = arg;
    $("impact-form").requestSubmit();
    history.replaceState(null, "", deepLink);
  }
}

// Every name the search box suggests: nodes, resources, VMs, hosts,
// services, addresses.
afterOverview.push((nodes, resources, vms) => {
  $("search-form").hidden = false;
  const names = new Set();
  for (const n of nodes) names.add(n.name);
  for (const r of resources) {
    names.add(r.id);
    if (r.address) names.add(r.address);
  }
  for (const v of vms) {
    names.add(v.name);
    if (v.host) names.add(v.host);
  }
  for (const s of serviceList) {
    names.add(s.name);
    if (s.address) names.add(s.address);
  }
  $("search-names").replaceChildren(...[...names].sort().map((n) => el("option", { value: n })));
});

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  const dark = theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  $("theme").setAttribute("aria-pressed", String(dark));
  $("theme").textContent = dark ? "Light theme" : "Dark theme";
}

document.addEventListener("DOMContentLoaded", () => {
  let theme = "";
  try { theme = localStorage.getItem("mgmtd-theme") || ""; } catch (e) { /* storage off */ }
  applyTheme(theme);
  $("theme").addEventListener("click", () => {
    const dark = $("theme").getAttribute("aria-pressed") === "true";
    const next = dark ? "light" : "dark";
    try { localStorage.setItem("mgmtd-theme", next); } catch (e) { /* storage off */ }
    applyTheme(next);
  });

  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("search").value.trim();
    if (q) openDeepLink("where", q);
  });

  // Tabs: arrow keys, Home and End move between the visible tabs.
  $("tabs").addEventListener("keydown", (ev) => {
    const tabs = [...document.querySelectorAll("#tabs button")].filter((b) => !b.hidden);
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (ev.key === "ArrowRight") j = (i + 1) % tabs.length;
    else if (ev.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
    else if (ev.key === "Home") j = 0;
    else if (ev.key === "End") j = tabs.length - 1;
    if (j < 0) return;
    ev.preventDefault();
    tabs[j].focus();
    selectTab(tabs[j].dataset.tab);
  });

  // "/" jumps to the search box (unless typing somewhere).
  document.addEventListener("keydown", (ev) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (ev.key === "/" && !typing && !$("search-form").hidden) {
      ev.preventDefault();
      $("search").focus();
    }
  });

  // A link (the map's objects, a detail page's links) or the browser's
  // back button: open what the hash names.
  window.addEventListener("hashchange", () => {
    if (location.hash === deepLink) return;
    const [tab, arg] = splitHash(location.hash);
    const button = document.querySelector(`#tabs button[data-tab="${CSS.escape(tab)}"]`);
    const selected = button && button.getAttribute("aria-selected") === "true" && !$(tab).hidden;
    if (tab === "map" && arg === undefined && selected) return; // selectTab's own hash
    if (arg !== undefined || detailKinds.includes(tab) || tab === "map") {
      openDeepLink(tab, arg);
    } else if (button && !button.hidden && !selected) {
      selectTab(tab);
    }
  });
});
