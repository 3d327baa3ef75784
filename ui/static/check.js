// The configuration health check on the Cluster tab: on demand (it runs
// crm_verify, which costs a crm_mon on a big cluster), GET /api/v1/check,
// each finding with its severity, explanation and the command that fixes
// it. Built with DOM calls only.
"use strict";

async function runCheck() {
  const status = $("check-status");
  const button = $("check-run");
  button.disabled = true;
  status.textContent = "checking…";
  try {
    const r = await get("check");
    const rep = r.data;
    const found = rep.findings || [];
    status.textContent = found.length
      ? `${found.length} finding${found.length === 1 ? "" : "s"} at ${new Date(rep.time).toISOString().slice(11, 19)} UTC`
      : "no findings";
    $("check-findings").replaceChildren(...found.map((f) => {
      const li = el("li", { className: "problem-" + f.severity }, badge(f.severity), " ", f.summary);
      li.dataset.check = f.check;
      li.append(el("div", { className: "notes" }, f.explanation));
      if (f.fix) li.append(el("pre", { className: "fix" }, el("code", {}, f.fix)));
      return li;
    }));
    const skipped = Object.entries(rep.skipped || {});
    $("check-skipped").textContent = skipped.length ? "not checked: " + skipped.map(([k, v]) => `${k} (${v})`).join("; ") : "";
  } catch (err) {
    // 403 for a scoped role, 503 when the tools could not run.
    status.textContent = "the check could not run: " + err.message;
    $("check-findings").replaceChildren();
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => $("check-run").addEventListener("click", runCheck));
