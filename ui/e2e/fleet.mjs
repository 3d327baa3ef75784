// Drives the fleet hub's page (ui/static/fleet.html) in Debian's chromium
// (headless) for mgmtd/hub_test.go, with axe-core's accessibility checks.
//
//   node fleet.mjs BASE_URL TOKEN CLUSTER SHOT
//
// Opens BASE_URL/ with TOKEN as a bearer token, waits for the cluster
// table, opens another cluster's detail (its answer held back) and then
// CLUSTER's, and prints one JSON line: the rows, the
// detail's link and objects, axe's serious and critical findings. A
// failure prints {"error": ...} and exits 1.
import { launchBrowser, axeViolations, watchPage, holdBack } from "./lib.mjs";

const [base, token, cluster, shot] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const browser = await launchBrowser();
const consoleErrors = [];
let failed = false;
try {
  // bypassCSP: only so that the test can inject axe-core.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true,
    extraHTTPHeaders: { Authorization: "Bearer " + token }, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watchPage(page, { consoleErrors });
  await page.goto(base + "/");
  await page.waitForFunction(() => document.querySelectorAll("#clusters tbody tr").length >= 3, null, { timeout: 30000 });
  const rows = await page.locator("#clusters tbody tr").evaluateAll((trs) => trs.map((tr) => ({
    cluster: tr.dataset.cluster, cells: [...tr.querySelectorAll("td")].map((td) => td.innerText),
  })));
  // Another cluster picked first, its answer held back by 1.5 s: the late
  // answer must not replace CLUSTER's detail.
  const other = rows.map((r) => r.cluster).find((c) => c !== cluster);
  const held = await holdBack(page, (u) => u.pathname === "/api/v1/fleet/clusters/" + encodeURIComponent(other));
  await page.getByRole("button", { name: other, exact: true }).click();
  await page.getByRole("button", { name: cluster, exact: true }).click();
  await page.locator("#detail-title", { hasText: "Cluster " + cluster }).waitFor({ timeout: 30000 });
  await page.waitForFunction(() => document.querySelectorAll("#objects tbody tr").length > 0, null, { timeout: 30000 });
  await held.released();
  const detail = {
    title: await page.locator("#detail-title").innerText(),
    link: await page.locator("#detail-link").getAttribute("href"),
    problems: await page.locator("#detail-problems li").allInnerTexts(),
    objects: await page.locator("#objects tbody tr").count(),
    hash: new URL(page.url()).hash,
  };
  await page.screenshot({ path: shot, fullPage: true });
  const axe = await axeViolations(page);
  out({ url: page.url(), rows, detail, axe, console_errors: consoleErrors });
} catch (e) {
  failed = true;
  out({ error: String(e), console_errors: consoleErrors });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
