// What the page drivers share: Debian's chromium (headless) launched the
// same way, the page's errors and API calls collected one way, and
// axe-core's serious and critical violations of a page.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// launchBrowser starts chromium ($CHROMIUM, default /usr/bin/chromium).
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

// axeViolations runs axe-core on the page as it is and returns the
// serious and critical violations (id, impact, help, the first nodes'
// targets). The page's context needs bypassCSP to take the script.
export async function axeViolations(page) {
  await page.addScriptTag({ content: axeSource });
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  return res.filter((v) => v.impact === "serious" || v.impact === "critical");
}

// watchPage collects the page's console errors and uncaught exceptions
// into consoleErrors (but those ignore says to leave out) and, when
// requests is given, each /api/ answer and failed request (relative to
// base) for an error report.
export function watchPage(page, { consoleErrors, requests, base = "", ignore = () => false }) {
  page.on("console", (m) => { if (m.type() === "error" && !ignore(m.text())) consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  if (!requests) return;
  page.on("response", (r) => { if (r.url().includes("/api/")) requests.push(r.status() + " " + r.url().replace(base, "")); });
  page.on("requestfailed", (r) => requests.push("failed " + r.url().replace(base, "") + " " + (r.failure() || {}).errorText));
}

// holdBack delays the answers to the requests matches(url, request) picks
// by 1.5 s, so that a page can be shown an answer after a newer one (the
// network does not keep their order). Its released() waits until the
// held answer has arrived, stops holding, and gives the page half a
// second to draw the late answer, if it would.
export async function holdBack(page, matches) {
  const picks = (r) => matches(new URL(r.url()), r);
  const handler = async (route) => {
    if (picks(route.request())) await new Promise((r) => setTimeout(r, 1500));
    await route.continue();
  };
  await page.route("**/api/**", handler);
  const arrived = page.waitForEvent("requestfinished", picks);
  return {
    async released() {
      await arrived;
      await page.unroute("**/api/**", handler);
      await page.waitForTimeout(500);
    },
  };
}
