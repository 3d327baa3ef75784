// Drives mgmtd's web page in Debian's chromium (headless) for
// mgmtd/page_test.go, which starts the daemon and checks what this prints.
//
//   node e2e.mjs BASE_URL USER PASSWORD MODE SCREENSHOT
//
// MODE "cluster": load the page, print what it shows, then wait for a line
// "go" on stdin (the test changes the model), wait for the page to follow
// the change, try where-is and impact, and print again. MODE "audit": load
// the page as an auditor, print the audit table and download the JSON Lines
// export (beside SCREENSHOT). Every step prints one
// JSON line; a failure prints {"error": ...} and exits 1.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [base, user, password, mode, shot] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
let failed = false;
let page;
const consoleErrors = [];
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, httpCredentials: { username: user, password } });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  const texts = (sel) => page.locator(sel).allInnerTexts();
  const visibleTabs = () => page.locator("#tabs button:visible").allInnerTexts();
  await page.goto(base + "/ui/");
  if (mode === "cluster") {
    await page.locator("#nodes tbody tr").first().waitFor({ timeout: 8000 });
    await page.locator("#live", { hasText: "live" }).waitFor();
    out({
      step: "loaded", who: await page.locator("#who").innerText(), tabs: await visibleTabs(),
      summary: await page.locator("#summary").innerText(), nodes: await texts("#nodes tbody tr td:first-child"),
      services: await texts("#services tbody tr"), vms: await texts("#vms tbody tr td:first-child"),
      generation: await page.locator("#generation").innerText(), live: await page.locator("#live").innerText(),
    });
    await lines.next(); // "go": the model changed
    await page.locator("#warnings .warning").first().waitFor();
    out({
      step: "followed", warnings: await texts("#warnings .warning"),
      generation: await page.locator("#generation").innerText(), live: await page.locator("#live").innerText(),
    });
    await page.getByRole("button", { name: "Where is" }).click();
    await page.locator("#where-q").fill("web");
    await page.getByRole("button", { name: "Find" }).click();
    await page.locator("#where-result .chain").first().waitFor();
    out({ step: "where", chains: await texts("#where-result .chain") });
    await page.getByRole("button", { name: "Impact" }).click();
    await page.locator("#impact-target").selectOption("hv1");
    await page.getByRole("button", { name: "Show the impact" }).click();
    await page.locator("#impact-result h2").first().waitFor();
    out({ step: "impact", headings: await texts("#impact-result h2"), items: await texts("#impact-result li") });
  } else {
    await page.locator("#audit-records tbody tr").first().waitFor();
    out({
      step: "audit", who: await page.locator("#who").innerText(), tabs: await visibleTabs(),
      actions: await texts("#audit-records tbody tr td:nth-child(5)"),
    });
    // Export as JSON Lines from the page; the test verifies the file.
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#export-jsonl").click()]);
    const file = shot ? shot.replace(/\.png$/, "") + "-export.jsonl" : "/tmp/mgmtd-export.jsonl";
    await download.saveAs(file);
    out({ step: "export", file, name: download.suggestedFilename() });
  }
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  out({ step: "done", console_errors: consoleErrors });
} catch (e) {
  failed = true;
  let problem = "";
  try { problem = await page.locator("#problem").innerText({ timeout: 1000 }); } catch (e2) { /* no page */ }
  out({ error: String(e), problem, console_errors: consoleErrors });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
