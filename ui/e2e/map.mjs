// Drives the map and the detail pages of mgmtd's web page in Debian's
// chromium (headless) for mgmtd/page_map_test.go, with axe-core's
// accessibility checks.
//
//   node map.mjs BASE_URL USER PASSWORD MODE SHOTDIR [OBJECT NODE]
//
// USER "bearer" sends PASSWORD as a bearer token. Every step prints one JSON
// line; a failure prints {"error": ...} and exits 1.
//
// MODE "story" (a viewer on the demo) reads stdin lines:
//   "go GEN NAME": wait until the map shows generation GEN by itself, print
//     its objects (each with its ancestors), what slid, axe's findings, and
//     a click on vip-db's chip: the detail page it opens (constraints,
//     history, actions) with axe's findings; screenshots SHOTDIR/NAME-map.png
//     and SHOTDIR/NAME-detail.png; back to the map.
//   "reduce": the browser asks for reduced motion from now on.
//   "end": where-is and impact marked on the map, a deep link that marks,
//     the keyboard on the map, the dark theme.
//
// MODE "detail" (an operator on a CIB file): from the map, a click on
// OBJECT's chip opens its detail page: constraints, history, actions; a
// move to NODE previewed there, with the prediction's refusal, kept while
// the page follows a new generation (stdin "go" once the test made one).
import { launchBrowser, axeViolations, watchPage, holdBack } from "./lib.mjs";
import { createInterface } from "node:readline";

const [base, user, password, mode, shotdir, object, toNode] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const browser = await launchBrowser();
let failed = false;
let page;
const consoleErrors = [];
const requests = [];

// axe runs axe-core on the page as it is (once nothing moves) and returns
// the serious and critical violations.
async function axe() {
  await settled();
  return axeViolations(page);
}

// settled waits until no animation runs.
const settled = () => page.waitForFunction(() => document.getAnimations().length === 0, null, { timeout: 10000 });

const texts = (sel) => page.locator(sel).allInnerTexts();

// mapObjects are the map's objects with their ancestors, innermost first.
function mapObjects() {
  return page.evaluate(() => [...document.querySelectorAll("#map-canvas [data-key]")].map((e) => {
    const parents = [];
    for (let p = e.parentElement.closest("[data-key]"); p; p = p.parentElement.closest("[data-key]")) parents.push(p.dataset.kind + "/" + p.dataset.name);
    return { key: e.dataset.key, kind: e.dataset.kind, name: e.dataset.name, node: e.dataset.node, parents,
      sev: [...e.classList].find((c) => c.startsWith("sev-")) || "" };
  }));
}

// marked are the objects marked on the map as kind/name (@node for an
// instance).
function marked(cls) {
  return page.evaluate((c) => [...document.querySelectorAll("#map ." + c)].map((e) =>
    e.dataset.kind + "/" + e.dataset.name + (e.dataset.kind === "resource" ? "@" + e.dataset.node : "")), cls);
}

// detailPage reads the shown detail page.
async function detailPage() {
  return {
    hash: await page.evaluate(() => location.hash),
    title: await page.locator("#detail-title").innerText(),
    state: await page.locator("#detail-state").innerText(),
    constraints: await page.locator("#detail-constraints tbody tr td:first-child").allInnerTexts(),
    history: await page.locator("#detail-history tbody tr td:last-child").allInnerTexts(),
    instances: await texts("#detail-instances tbody tr"),
    actions: await page.locator("#detail-body h3", { hasText: "Actions" }).locator("xpath=following-sibling::*[1]").innerText(),
    menus: await page.locator("#detail-body details.menu").evaluateAll((ds) => ds.map((d) => d.dataset.object)),
  };
}

try {
  const opts = { ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1280, height: 900 } };
  const context = await browser.newContext(user === "bearer"
    ? { ...opts, extraHTTPHeaders: { Authorization: "Bearer " + password } }
    : { ...opts, httpCredentials: { username: user, password } });
  page = await context.newPage();
  watchPage(page, { consoleErrors, requests, base });
  await page.goto(base + "/ui/#map");
  await page.locator("body[data-ready]").waitFor({ state: "attached", timeout: 60000 });
  await page.locator("#map-canvas [data-key]").first().waitFor();

  if (mode === "story") {
    out({ step: "loaded", generation: await page.locator("#map-canvas").getAttribute("data-generation") });
    for (;;) {
      const { value } = await lines.next();
      if (!value || value === "end") break;
      if (value === "reduce") {
        await page.emulateMedia({ reducedMotion: "reduce" });
        out({ step: "reduced" });
        continue;
      }
      const [, gen, name] = value.split(" ");
      // The map follows every generation by itself (no reload).
      await page.locator(`#map-canvas[data-generation="${gen}"]`).waitFor({ state: "attached", timeout: 30000 });
      const moved = (await page.locator("#map-canvas").getAttribute("data-moved")) || "";
      const objects = await mapObjects();
      const violations = { map: await axe() };
      await page.screenshot({ path: `${shotdir}/${name}-map.png`, fullPage: true });
      // A click on the map opens the detail page.
      await page.locator('#map-canvas [data-key="inst/vip-db"] > a').click();
      await page.locator('#detail[data-object="resource/vip-db"]').waitFor({ state: "attached" });
      await page.locator("#detail-history").waitFor();
      const detail = await detailPage();
      violations.detail = await axe();
      await page.screenshot({ path: `${shotdir}/${name}-detail.png`, fullPage: true });
      await page.getByRole("link", { name: "Back to the map" }).click();
      await page.locator("#map-canvas [data-key]").first().waitFor();
      out({ step: name, moved: moved.split(" ").filter(Boolean), objects, detail, violations });
    }
    // Where-is marked on the map.
    await page.locator("#map-where-q").fill("web");
    await page.getByRole("button", { name: "Mark where it runs" }).click();
    await page.locator("#map-note", { hasText: "where web runs" }).waitFor();
    const where = await marked("mark-where");
    const whereHash = await page.evaluate(() => location.hash);
    const whereViolations = await axe();
    await page.screenshot({ path: `${shotdir}/map-where-web.png`, fullPage: true });
    // Impact marked on the map, asked while a where-is mark asked just
    // before it is still unanswered (held back here by 1.5 s): the late
    // answer must not replace the impact's marks.
    const held = await holdBack(page, (u) => u.pathname === "/api/v1/where" && u.searchParams.get("q") === "vip-db");
    await page.locator("#map-where-q").fill("vip-db");
    await page.getByRole("button", { name: "Mark where it runs" }).click();
    await page.locator("#map-impact-target").selectOption("hv2");
    await page.getByRole("button", { name: "Mark what it takes" }).click();
    await page.locator("#map-note", { hasText: "what hv2 takes" }).waitFor();
    await held.released();
    const impact = await marked("mark-impact");
    const impactLeft = (await marked("mark-where")).length;
    const impactNote = await page.locator("#map-note").innerText();
    await page.screenshot({ path: `${shotdir}/map-impact-hv2.png`, fullPage: true });
    // A deep link marks too.
    await page.goto(base + "/ui/#map=impact:hv3");
    await page.locator("#map-note", { hasText: "what hv3 takes" }).waitFor({ timeout: 60000 });
    const deep = await marked("mark-impact");
    // The keyboard: one tab stop on the map, arrows move, Enter opens.
    const stops = await page.locator('#map-canvas a.map-link[tabindex="0"]').count();
    await page.locator("#map-impact-target").focus();
    let guard = 0;
    while (!(await page.evaluate(() => !!document.activeElement.closest("#map-canvas"))) && guard++ < 20) await page.keyboard.press("Tab");
    const first = await page.evaluate(() => document.activeElement.closest("[data-key]").dataset.key);
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    const third = await page.evaluate(() => document.activeElement.closest("[data-key]").dataset.key);
    const expectThird = await page.evaluate(() => document.querySelectorAll("#map-canvas a.map-link")[2].closest("[data-key]").dataset.key);
    const thirdHref = await page.evaluate(() => document.activeElement.getAttribute("href"));
    await page.keyboard.press("Enter");
    await page.locator("#detail:not([hidden]) #detail-body h3").first().waitFor();
    const opened = { hash: await page.evaluate(() => location.hash), title: await page.locator("#detail-title").innerText() };
    // Back (the browser's button) to the map, in the dark theme.
    await page.goBack();
    await page.locator("#map:not([hidden]) #map-canvas [data-key]").first().waitFor();
    await page.locator("#theme").click();
    const darkViolations = await axe();
    await page.screenshot({ path: `${shotdir}/dark-map.png`, fullPage: true });
    out({ step: "end", where, where_hash: whereHash, where_violations: whereViolations, impact, impact_left: impactLeft, impact_note: impactNote, deep,
      keys: { stops, first, third, expect_third: expectThird, third_href: thirdHref, opened },
      back: await page.evaluate(() => location.hash), dark_violations: darkViolations });
  } else if (mode === "detail") {
    await page.locator(`#map-canvas [data-kind="resource"][data-name="${object}"] > a`).first().click();
    await page.locator(`#detail[data-object="resource/${object}"]`).waitFor({ state: "attached" });
    await page.locator("#detail-history").waitFor();
    const shown = await detailPage();
    const violations = await axe();
    await page.screenshot({ path: `${shotdir}/detail-${object}.png`, fullPage: true });
    out({ step: "detail", ...shown, violations });
    // The object's menu: a move previewed on the detail page itself.
    const menu = page.locator(`#detail-body details.menu[data-object="resource/${object}"]`);
    await menu.locator("summary").click();
    await menu.locator('button[data-verb="move"]').click();
    await page.locator("#act-to").selectOption(toNode);
    await page.getByRole("button", { name: "Preview" }).click();
    await page.locator("#act-preview .refusal, #act-apply").first().waitFor({ timeout: 60000 });
    out({ step: "preview", in_detail: await page.evaluate(() => !!document.getElementById("act").closest("#detail")),
      text: await page.locator("#act-preview").innerText(), apply_disabled: await page.locator("#act-apply").isDisabled(),
      violations: await axe() });
    // The test makes a new generation: the page is drawn again with the
    // preview still on it.
    const gen0 = await page.locator("#detail").getAttribute("data-generation");
    out({ step: "previewed", generation: gen0 });
    await lines.next();
    await page.locator(`#detail:not([data-generation="${gen0}"])`).waitFor({ state: "attached", timeout: 30000 });
    await page.locator("#detail-history").waitFor();
    out({ step: "kept", in_detail: await page.evaluate(() => !!document.getElementById("act").closest("#detail-act")),
      text: await page.locator("#act-preview").innerText() });
    await page.screenshot({ path: `${shotdir}/detail-${object}-preview.png`, fullPage: true });
    // Leaving the detail page takes the Change form home.
    await page.getByRole("tab", { name: "Cluster" }).click();
    out({ step: "home", at_home: await page.evaluate(() => !!document.getElementById("act").closest("#overview")) });
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
