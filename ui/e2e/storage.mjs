// Drives the page's replicated storage (ui/static/storage.js) in Debian's
// chromium (headless) for mgmtd/drbd_test.go, with axe-core's checks.
//
//   node storage.mjs BASE_URL USER PASSWORD SHOT
//
// Opens the page as USER (HTTP Basic), waits for the DRBD table, and
// prints one JSON line: its rows and the targets' rows (cells as text),
// the Where is answer for the first target's IQN (its storage chains),
// axe's serious and critical findings on the Cluster tab, console
// errors. A failure prints {"error": ...} and exits 1.
import { launchBrowser, axeViolations, watchPage } from "./lib.mjs";

const [base, user, password, shot] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const browser = await launchBrowser();
const consoleErrors = [];
let failed = false;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true,
    httpCredentials: { username: user, password }, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watchPage(page, { consoleErrors });
  await page.goto(base + "/ui/");
  await page.waitForFunction(() => !document.getElementById("storage").hidden &&
    document.querySelectorAll("#drbd tbody tr").length > 0 && document.querySelectorAll("#targets tbody tr").length > 0, null, { timeout: 30000 });
  const rows = async (sel) => page.locator(sel).evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.innerText)));
  const drbd = await rows("#drbd tbody tr");
  const targets = await rows("#targets tbody tr");
  await page.locator("#storage").screenshot({ path: shot });
  // Where is, asked for the first target's IQN through a deep link.
  await page.evaluate((iqn) => { location.hash = "#where=" + encodeURIComponent(iqn); }, targets[0][0]);
  await page.waitForSelector("#where-result .storage-chain", { timeout: 30000 });
  const where = await page.locator("#where-result .storage-chain").allInnerTexts();
  const axe = await axeViolations(page);
  out({ drbd, targets, where, axe, console_errors: consoleErrors });
} catch (e) {
  failed = true;
  out({ error: String(e), console_errors: consoleErrors });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
