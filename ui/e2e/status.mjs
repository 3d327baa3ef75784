// Drives the status view, the object menus and the safe actions of
// mgmtd's web page in Debian's chromium (headless) for
// mgmtd/page_status_test.go, with axe-core's accessibility checks.
//
//   node status.mjs BASE_URL USER PASSWORD MODE SHOTDIR
//
// USER "bearer" sends PASSWORD as a bearer token. Every step prints one JSON
// line; a failure prints {"error": ...} and exits 1.
//
// MODE "story" (a viewer on the demo): for every stdin line "go GEN NAME"
// wait until the page shows generation GEN by itself, then print the
// status view, the services and axe's findings, and write screenshots of
// the Cluster, Where is and Impact views as SHOTDIR/NAME-*.png. On a line
// "end": keyboard navigation, search, deep links, the dark theme and an
// unknown where-is name.
//
// MODE "safe" (an operator on a CIB file): the leftover constraint with its
// Clear button, a move the prediction says cannot happen (refused), a move
// that can, with the destination kept while the page refreshes.
import { launchBrowser, axeViolations, watchPage, holdBack } from "./lib.mjs";
import { createInterface } from "node:readline";

const [base, user, password, mode, shotdir] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const browser = await launchBrowser();
let failed = false;
let page;
const consoleErrors = [];
const requests = [];

// axe runs axe-core on the page as it is and returns the serious and
// critical violations (id, impact, the first nodes' targets).
async function axe() {
  return axeViolations(page);
}

const texts = (sel) => page.locator(sel).allInnerTexts();

async function statusView() {
  return {
    severity: await page.locator("#status-badge").innerText(),
    problems: await texts("#status-problems li"),
    kinds: await page.locator("#status-problems li[data-kind]").evaluateAll((ls) => ls.map((l) => l.dataset.kind)),
    tree: await page.locator("#status-tree > li").evaluateAll((ls) => ls.map((l) => l.dataset.id)),
    services: await texts("#services tbody tr"),
    generation: await page.locator("#generation").innerText(),
  };
}

try {
  // bypassCSP: only so that the test can inject axe-core; the page keeps
  // its Content-Security-Policy for everything else.
  const context = await browser.newContext(user === "bearer"
    ? { ignoreHTTPSErrors: true, bypassCSP: true, extraHTTPHeaders: { Authorization: "Bearer " + password }, viewport: { width: 1280, height: 900 } }
    : { ignoreHTTPSErrors: true, bypassCSP: true, httpCredentials: { username: user, password }, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  // The where-is of an unknown name is a 404 on purpose; Chromium logs it.
  watchPage(page, { consoleErrors, requests, base, ignore: (text) => text.includes("status of 404") });
  await page.goto(base + "/ui/");
  // Every request of a Basic caller costs a bcrypt; with -race on a busy
  // machine the first picture can take a while.
  await page.locator("body[data-ready]").waitFor({ state: "attached", timeout: 60000 });
  await page.locator("#status-problems li").first().waitFor();

  if (mode === "story") {
    out({ step: "loaded", ...(await statusView()) });
    for (;;) {
      const { value } = await lines.next();
      if (!value || value === "end") break;
      const [, gen, name] = value.split(" ");
      // The page follows every generation by itself (no reload).
      await page.locator(`#status-view[data-generation="${gen}"]`).waitFor({ state: "attached", timeout: 30000 });
      await page.locator("#generation", { hasText: new RegExp("^" + gen + "$") }).waitFor({ timeout: 30000 });
      const view = await statusView();
      const violations = { cluster: await axe() };
      await page.screenshot({ path: `${shotdir}/${name}-cluster.png`, fullPage: true });
      await page.getByRole("tab", { name: "Where is" }).click();
      await page.locator("#where-q").fill("web");
      await page.getByRole("button", { name: "Find" }).click();
      await page.locator("#where-result:not([aria-busy]) .chain").first().waitFor();
      violations.where = await axe();
      await page.screenshot({ path: `${shotdir}/${name}-where.png`, fullPage: true });
      await page.getByRole("tab", { name: "Impact" }).click();
      await page.locator("#impact-target").selectOption("hv2");
      await page.getByRole("button", { name: "Show the impact" }).click();
      await page.locator("#impact-result h2").first().waitFor();
      const impact = await texts("#impact-result .prediction");
      violations.impact = await axe();
      await page.screenshot({ path: `${shotdir}/${name}-impact.png`, fullPage: true });
      await page.getByRole("tab", { name: "Cluster" }).click();
      out({ step: name, ...view, impact, violations });
    }
    // Keyboard: "/" focuses the search box; Enter asks where-is and
    // leaves a deep link.
    await page.locator("body").click({ position: { x: 5, y: 300 } });
    await page.keyboard.press("/");
    const focused = await page.evaluate(() => document.activeElement.id);
    await page.keyboard.type("vip-db");
    await page.keyboard.press("Enter");
    // Its own answer (the Where is view still holds an earlier one).
    await page.locator("#where-result:not([aria-busy]) p", { hasText: "vip-db:" }).waitFor();
    await page.locator("#where-result .chain").first().waitFor();
    const hash = await page.evaluate(() => location.hash);
    // Arrow keys move between the tabs.
    await page.getByRole("tab", { name: "Where is" }).focus();
    await page.keyboard.press("ArrowRight");
    const selected = await page.locator("#tabs [aria-selected=true]").innerText();
    // An unknown name: the previous answer goes away, also when the
    // previous question's answer arrives after the unknown name's (held
    // back here by 1.5 s).
    await page.getByRole("tab", { name: "Where is" }).click();
    const held = await holdBack(page, (u) => u.pathname === "/api/v1/where" && u.searchParams.get("q") === "vip-db");
    await page.locator("#where-q").fill("vip-db");
    await page.getByRole("button", { name: "Find" }).click();
    await page.locator("#where-q").fill("no-such-thing");
    await page.getByRole("button", { name: "Find" }).click();
    await page.locator("#where-result", { hasText: "Nothing called no-such-thing" }).or(page.locator("#problem:visible")).first().waitFor();
    await held.released();
    const unknown = { result: await page.locator("#where-result").innerText(), chains: await page.locator("#where-result .chain").count(),
      problem: await page.locator("#problem:visible").allInnerTexts() };
    // A VM Pacemaker does not manage runs on its host, not "nowhere".
    await page.locator("#where-q").fill("build01");
    await page.getByRole("button", { name: "Find" }).click();
    await page.locator("#where-result .vm-where").first().waitFor();
    const unmanagedVM = await page.locator("#where-result").innerText();
    // A deep link opens the impact of a node.
    await page.goto(base + "/ui/#impact=hv3");
    await page.locator("#impact-result h2").first().waitFor();
    const deep = await texts("#impact-result h2");
    // The dark theme, checked by axe too (contrast).
    await page.getByRole("tab", { name: "Cluster" }).click();
    await page.locator("#status-problems li").first().waitFor();
    await page.locator("#theme").click();
    const theme = await page.evaluate(() => document.documentElement.dataset.theme);
    const darkViolations = await axe();
    await page.screenshot({ path: `${shotdir}/dark-cluster.png`, fullPage: true });
    // Signed out (the page's own 401 handling; a headless browser without
    // credentials would wait at the Basic prompt): no "Sign in" link where
    // auth/methods says there is no OIDC login.
    const signedOut = await page.evaluate(() => {
      showProblem(new Problem(401, "authentication required"));
      const r = { text: document.getElementById("problem").innerText, links: document.querySelectorAll("#problem a").length };
      showProblem(null);
      return r;
    });
    out({ step: "navigation", focused, hash, selected, unknown, unmanaged_vm: unmanagedVM, deep, theme, dark_violations: darkViolations, signed_out: signedOut });
  } else if (mode === "safe") {
    await page.locator("#act").waitFor();
    const loaded = await statusView();
    const violations = await axe();
    out({ step: "loaded", ...loaded, violations });

    // A move the prediction says cannot reach its goal: refused.
    const menu = page.locator('#status-tree li[data-id="dummy-b"] > .item details.menu');
    await menu.locator("summary").click();
    await menu.locator('button[data-verb="move"]').click();
    await page.locator("#act-to").selectOption("node1");
    await page.getByRole("button", { name: "Preview" }).click();
    await page.locator("#act-preview .refusal").waitFor();
    out({ step: "refused", text: await page.locator("#act-preview").innerText(), apply_disabled: await page.locator("#act-apply").isDisabled() });

    // A move that can: the destination stays chosen while the page
    // refreshes, the preview shows only what the move causes.
    const menuA = page.locator('#status-tree li[data-id="dummy-a"] > .item details.menu');
    await menuA.locator("summary").click();
    await menuA.locator('button[data-verb="move"]').click();
    await page.locator("#act-to").selectOption("node3");
    const gen0 = await page.locator("#generation").innerText();
    out({ step: "chosen", generation: gen0 });
    await lines.next(); // "go": the test changed the model
    await page.locator("#generation", { hasNotText: new RegExp("^" + gen0 + "$") }).waitFor({ timeout: 15000 });
    const keptTo = await page.locator("#act-to").inputValue();
    const keptObject = await page.locator("#act-object").inputValue();
    // A preview of the move to node2 held back by 1.5 s, then the one to
    // node3: the late preview (and its Apply) must not replace node3's.
    const held = await holdBack(page, (u, r) => u.pathname.endsWith("/resources/dummy-a/actions/move") && (r.postData() || "").includes('"node2"'));
    await page.locator("#act-to").selectOption("node2");
    await page.getByRole("button", { name: "Preview" }).click();
    await page.locator("#act-to").selectOption(keptTo);
    await page.getByRole("button", { name: "Preview" }).click();
    await page.locator("#act-apply").waitFor();
    await held.released();
    const preview = await page.locator("#act-preview").innerText();
    await page.locator("#act-apply").click();
    await page.locator("#act-status", { hasText: /\b(succeeded|failed|timed_out|refused)\b/ }).waitFor({ timeout: 60000 });
    out({ step: "moved", kept_to: keptTo, kept_object: keptObject, preview, status: await page.locator("#act-status").innerText() });

    // The leftover constraints: a Clear button beside each.
    await page.locator('#status-problems li[data-kind="leftover-constraint"] button.quick').first().waitFor();
    const before = await texts('#status-problems li[data-kind="leftover-constraint"]');
    await page.locator('#status-problems li[data-kind="leftover-constraint"] button.quick[data-object="dummy-c"]').click();
    await page.locator("#act-status", { hasText: /clear.*\b(succeeded|failed|timed_out|refused)\b/ }).waitFor({ timeout: 60000 });
    await page.waitForFunction(() => ![...document.querySelectorAll('#status-problems li[data-kind="leftover-constraint"]')].some((l) => l.textContent.includes("cli-prefer-dummy-c")), null, { timeout: 15000 });
    out({ step: "cleared", before, after: await texts('#status-problems li[data-kind="leftover-constraint"]'), status: await page.locator("#act-status").innerText() });
    await page.screenshot({ path: `${shotdir}/safe-actions.png`, fullPage: true });
  }
  out({ step: "done", console_errors: consoleErrors });
} catch (e) {
  failed = true;
  let problem = "";
  try { problem = await page.locator("#problem").innerText({ timeout: 1000 }); } catch (e2) { /* no page */ }
  out({ error: String(e), problem, console_errors: consoleErrors, requests: requests.slice(-30) });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
