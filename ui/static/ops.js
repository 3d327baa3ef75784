// Actions on objects: a menu on every resource of the status tree and
// every node, and the one-click fixes beside a problem (status.js). A
// choice fills the Change form and previews it (app.js): Pacemaker's
// prediction first, then Apply. Only shown where the daemon can act and
// the caller is an operator or admin.
"use strict";

const objectVerbs = {
  resource: [["start", "start"], ["stop", "stop"], ["move", "move…"], ["ban", "ban…"], ["clear", "clear move/ban"], ["cleanup", "clean up"]],
  node: [["standby", "standby"], ["online", "online"], ["maintenance-on", "maintenance on"], ["maintenance-off", "maintenance off"]],
};

function actionsAvailable() {
  return !$("act").hidden;
}

// chooseAction fills the Change form with verb on name and previews it;
// a move or ban first asks for the node.
function chooseAction(kind, verb, name) {
  $("act-op").value = kind + "/" + verb;
  fillActObjects();
  const obj = $("act-object");
  if (![...obj.options].some((o) => o.value === name)) obj.append(el("option", { value: name }, name));
  obj.value = name;
  $("act").scrollIntoView({ block: "start" });
  if (verb === "move" || verb === "ban") {
    $("act-to").focus();
    previews.drop(); // a preview still on its way is for another choice
    $("act-preview").replaceChildren(el("p", null, `Choose the node, then Preview.`));
    return;
  }
  $("act-form").requestSubmit();
}

// objectMenu is the action menu of one object (empty when the caller
// cannot act).
function objectMenu(kind, name) {
  if (!actionsAvailable()) return "";
  const menu = el("details", { className: "menu" });
  menu.dataset.object = kind + "/" + name;
  menu.append(el("summary", { title: `actions on ${kind} ${name}` }, "actions",
    el("span", { className: "visually-hidden" }, ` on ${kind} ${name}`)));
  const list = el("div", { className: "menu-items" });
  for (const [verb, label] of objectVerbs[kind]) {
    const b = el("button", { type: "button" }, label);
    b.dataset.verb = verb;
    b.addEventListener("click", () => { menu.open = false; chooseAction(kind, verb, name); });
    list.append(b);
  }
  menu.append(list);
  menu.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { menu.open = false; menu.querySelector("summary").focus(); } });
  return menu;
}

// keepMenusOpen runs render (which rebuilds rows) and opens again the
// menus that were open, so a refresh does not close a menu under the
// pointer.
function keepMenusOpen(render) {
  const open = new Set([...document.querySelectorAll("details.menu[open]")].map((d) => d.dataset.object));
  render();
  for (const d of document.querySelectorAll("details.menu")) {
    if (open.has(d.dataset.object)) d.open = true;
  }
}

// quickButton offers one fix beside a problem. With preview it opens the
// preview; otherwise (clear) it asks the scheduler first and applies at
// once when the prediction reaches the goal, else shows the preview.
function quickButton(label, title, kind, verb, name, preview) {
  const b = el("button", { type: "button", className: "quick", title }, label);
  b.dataset.verb = verb;
  b.dataset.object = name;
  b.addEventListener("click", async () => {
    if (preview) {
      chooseAction(kind, verb, name);
      return;
    }
    b.disabled = true;
    const path = (kind === "node" ? "nodes/" : "resources/") + encodeURIComponent(name) + "/actions/" + verb;
    try {
      const dry = await post(path, { dry_run: true });
      if (dry.shortfall) {
        chooseAction(kind, verb, name);
        return;
      }
      await run({ path, body: {}, what: `${verb} ${kind} ${name}` });
    } catch (err) {
      showProblem(err);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// The nodes table gets a column with each node's menu.
afterOverview.push((nodes) => {
  if (!actionsAvailable()) return;
  const head = $("nodes").tHead.rows[0];
  if (head.cells.length === 5) head.append(el("th", null, "actions"));
  const rows = $("nodes").tBodies[0].rows;
  nodes.forEach((n, i) => {
    if (rows[i] && n.type === "member") rows[i].append(el("td", null, objectMenu("node", n.name)));
  });
  if (openNodeMenu) {
    const d = document.querySelector(`#nodes details.menu[data-object="${CSS.escape(openNodeMenu)}"]`);
    if (d) d.open = true;
  }
});

// The nodes table is rebuilt by app.js before the hook above: remember
// the open node menu when it opens.
let openNodeMenu = "";
document.addEventListener("toggle", (ev) => {
  const d = ev.target;
  if (d instanceof HTMLDetailsElement && d.classList.contains("menu") && d.closest("#nodes")) {
    openNodeMenu = d.open ? d.dataset.object : (openNodeMenu === d.dataset.object ? "" : openNodeMenu);
  }
}, true);
