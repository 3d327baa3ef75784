// Drives mgmtd's web page in Debian's chromium (headless) for
// mgmtd/page_test.go, which starts the daemon and checks what this prints.
//
//   node e2e.mjs BASE_URL USER PASSWORD MODE SCREENSHOT [NODE]
//
// USER "bearer" sends PASSWORD as a bearer token on every request instead
// of answering the Basic challenge.
//
// MODE "cluster": load the page, print what it shows, then wait for a line
// "go" on stdin (the test changes the model), wait for the page to follow
// the change, try where-is and impact, and print again. MODE "audit": load
// the page as an auditor, print the audit table, download the JSON Lines
// export (beside SCREENSHOT), then search for daemon.start while an
// earlier search's answer is held back, and print the table. MODE "act": as an operator, preview putting
// NODE in standby, apply it, and print the preview and the task's outcome. MODE
// "history": open the History tab, show the events of the object NODE over
// 6 hours, print the table's objects and the time line's marks, click the
// first transition and print its explanation. MODE "check": run the
// configuration check from the Cluster tab and print its findings. Every step prints one
// JSON line; a failure prints {"error": ...} and exits 1.
import { launchBrowser, watchPage, holdBack } from "./lib.mjs";
import { createInterface } from "node:readline";

const [base, user, password, mode, shot, node] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const browser = await launchBrowser();
let failed = false;
let page;
const consoleErrors = [];
try {
  const context = await browser.newContext(user === "bearer"
    ? { ignoreHTTPSErrors: true, extraHTTPHeaders: { Authorization: "Bearer " + password } }
    : { ignoreHTTPSErrors: true, httpCredentials: { username: user, password } });
  page = await context.newPage();
  watchPage(page, { consoleErrors });
  const texts = (sel) => page.locator(sel).allInnerTexts();
  const visibleTabs = () => page.locator("#tabs button:visible").allInnerTexts();
  await page.goto(base + "/ui/");
  if (mode === "cluster") {
    // Every request of a Basic caller costs a bcrypt: with -race on a
    // busy machine the first picture takes a while.
    await page.locator("#nodes tbody tr").first().waitFor({ timeout: 30000 });
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
    await page.getByRole("tab", { name: "Where is" }).click();
    await page.locator("#where-q").fill("web");
    await page.getByRole("button", { name: "Find" }).click();
    await page.locator("#where-result .chain").first().waitFor();
    out({ step: "where", chains: await texts("#where-result .chain") });
    await page.getByRole("tab", { name: "Impact" }).click();
    await page.locator("#impact-target").selectOption("hv1");
    await page.getByRole("button", { name: "Show the impact" }).click();
    await page.locator("#impact-result h2").first().waitFor();
    out({ step: "impact", headings: await texts("#impact-result h2"), items: await texts("#impact-result li") });
  } else if (mode === "history") {
    // The page has started (it picks its first tab when the cluster loaded).
    await page.locator("#nodes tbody tr").first().waitFor({ timeout: 30000 });
    await page.locator("#overview").waitFor();
    await page.getByRole("tab", { name: "History" }).click();
    await page.locator("#history-records tbody tr").first().waitFor();
    // A search for every object (30 days) whose answer is held back by
    // 1.5 s, then the one object's: the late answer must not replace it.
    const held = await holdBack(page, (u) => u.pathname === "/api/v1/history" && !u.searchParams.has("object"));
    await page.getByRole("button", { name: "30 d" }).click();
    await page.locator("#history-object").fill(node);
    await page.getByRole("button", { name: "6 h" }).click();
    await page.locator("#history-zoom button[aria-pressed=true]", { hasText: "6 h" }).waitFor();
    await page.waitForFunction((name) => {
      const cells = [...document.querySelectorAll("#history-records tbody tr td:nth-child(5)")];
      return cells.length > 0 && cells.every((c) => c.innerText.endsWith(" " + name));
    }, node);
    await held.released();
    out({
      step: "history", objects: await texts("#history-records tbody tr td:nth-child(5)"),
      marks: await page.locator("#timeline .mark").count(), why: await texts("#history-records button.why"),
    });
    await page.locator("#history-records button.why").first().click();
    await page.locator("#explanation li").first().waitFor({ timeout: 30000 });
    out({ step: "explained", heading: await page.locator("#explanation h2").innerText(), actions: await texts("#explanation li") });
  } else if (mode === "check") {
    await page.locator("#nodes tbody tr").first().waitFor({ timeout: 30000 });
    await page.getByRole("button", { name: "Check the configuration" }).click();
    await page.locator("#check-status", { hasText: /finding|no findings|could not run/ }).waitFor({ timeout: 60000 });
    out({
      step: "check", status: await page.locator("#check-status").innerText(),
      checks: await page.locator("#check-findings li").evaluateAll((ls) => ls.map((l) => l.dataset.check)),
      fixes: await texts("#check-findings pre.fix"),
    });
  } else if (mode === "act") {
    await page.locator("#act").waitFor();
    await page.locator("#nodes tbody tr").first().waitFor();
    await page.locator("#act-op").selectOption("node/standby");
    await page.locator("#act-object").selectOption(node);
    await page.getByRole("button", { name: "Preview" }).click();
    await page.locator("#act-apply").waitFor();
    out({ step: "preview", text: await page.locator("#act-preview").innerText() });
    await page.locator("#act-apply").click();
    await page.locator("#act-status", { hasText: /\b(succeeded|failed|timed_out|refused)\b/ }).waitFor({ timeout: 50000 });
    await page.locator("#tasks tbody tr").first().waitFor();
    out({ step: "applied", status: await page.locator("#act-status").innerText(), tasks: await texts("#tasks tbody tr") });
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
    // A search of everything whose answer is held back by 1.5 s, then
    // one for daemon.start: the late answer must not replace it.
    const held = await holdBack(page, (u) => u.pathname === "/api/v1/audit" && !u.searchParams.has("action"));
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator("#audit-form input[name=action]").fill("daemon.start");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll("#audit-records tbody tr td:nth-child(5)")];
      return cells.length > 0 && cells.every((c) => c.innerText === "daemon.start");
    });
    await held.released();
    out({ step: "filtered", actions: await texts("#audit-records tbody tr td:nth-child(5)") });
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
