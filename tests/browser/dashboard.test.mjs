// dashboard.test.mjs - the live dashboard in a real browser.
//
// Starts tests/integration/http_demo under the shim (threads=all, http on port 0),
// opens the URL it prints in headless Debian chromium driven by playwright-core, and
// checks what a person relies on: the sites table fills and then updates without a
// reload, sorting and filtering work, a site opens with its stack and latency chart,
// the flame view and process info render, a hostile thread name ("<script>") shows as
// text and never runs, no CSP violation or page error happens, and when the process
// exits the page says so.  Screenshots go to $BUILD/ (dashboard*.png).
//
// Then tests/integration/progs/lag_demo.c (an event loop with varying iterations and a
// few 150 ms stalls) in the Loops tab: the loop's figures and its lag chart over time
// (dashboard-loops.png).
//
// Run by `make check-browser` (which installs chromium/node/npm and playwright-core).
import { checker, launch } from "./harness.mjs";
import { spawn, execFileSync } from "node:child_process";
import { rmSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.BG_ROOT || path.resolve(here, "../..");
const build = path.resolve(root, process.env.BUILD || "build");
const shim = path.join(build, "libblockguard.so");
const outDir = path.join(build, "tests", "browser");
mkdirSync(outDir, { recursive: true });

const t = checker(), check = t.check;

// ---- the program under test ---------------------------------------------------------
const demo = path.join(outDir, "http_demo");
execFileSync(process.env.CC || "cc", ["-g", "-O0", "-pthread", "-rdynamic", "-o", demo,
  path.join(root, "tests/integration/http_demo.c")], { stdio: "inherit" });
const child = spawn(demo, ["60", "8"], {
  env: { ...process.env, LD_PRELOAD: shim, BLOCKGUARD_OPTIONS: "threads=all:http=127.0.0.1:0" },
  stdio: ["ignore", "ignore", "pipe"],
});
let stderr = "";
const url = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error("no dashboard URL on stderr: " + stderr)), 10000);
  child.stderr.on("data", (b) => {
    stderr += b;
    const m = /dashboard at (http:\/\/\S+)/.exec(stderr);
    if (m) { clearTimeout(t); resolve(m[1]); }
  });
  child.on("exit", (c) => reject(new Error("demo exited " + c + ": " + stderr)));
});
console.log("dashboard: " + url);

// ---- the browser ------------------------------------------------------------------
const { ctx, profile } = await launch(["--disable-gpu"], { colorScheme: "dark" });
const problems = [];
let dialogs = 0;
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("dialog", (d) => { dialogs++; d.dismiss(); });
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window.__csp = window.__csp || []).push(e.violatedDirective + " " + e.blockedURI);
    });
  });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));

  await page.goto(url, { waitUntil: "load" });
  await page.evaluate(() => { window.__sameDocument = true; });

  // The table fills: main, <script> and worker-1 threads each block at several sites.
  await page.waitForFunction(() => document.querySelectorAll("#sites tbody tr").length >= 4, null, { timeout: 10000 });
  const n0 = await page.locator("#sites tbody tr").count();
  check("sites table fills (" + n0 + " rows)", n0 >= 4);
  const calls = await page.locator("#sites tbody td.call").allTextContents();
  check("table lists the demo's calls", ["usleep", "nanosleep"].every((c) => calls.includes(c)), calls.join(","));

  // It updates without a reload: the usleep count of the main loop grows.
  const countOf = () => page.evaluate(() => {
    let best = 0;
    for (const tr of document.querySelectorAll("#sites tbody tr"))
      if (tr.querySelector("td.call").textContent === "usleep")
        best = Math.max(best, parseInt(tr.querySelector("td.count").textContent.replace(/\D/g, ""), 10));
    return best;
  });
  const c1 = await countOf();
  await page.waitForTimeout(2500);
  const c2 = await countOf();
  const same = await page.evaluate(() => window.__sameDocument === true);
  check("counts update live (" + c1 + " -> " + c2 + ") without reload", c2 > c1 && same);

  // The top blocking site is named in the hero card.
  const top = await page.locator("#topv").textContent();
  check("top blocking site card names a call", /\w+\(\)/.test(top), top);

  // Sort by count (descending on first click).
  await page.click('th[data-k="count"]');
  const counts = (await page.locator("#sites tbody td.count").allTextContents()).map((t) => parseInt(t.replace(/\D/g, ""), 10));
  check("sorting by count orders rows", counts.every((v, i) => i === 0 || counts[i - 1] >= v), counts.join(","));

  // Filter.
  await page.fill("#filter", "nanosleep");
  await page.waitForTimeout(100);
  const fcalls = await page.locator("#sites tbody td.call").allTextContents();
  check("filter keeps only matching sites", fcalls.length > 0 && fcalls.every((c) => c === "nanosleep"), fcalls.join(","));
  await page.fill("#filter", "");

  // Open the top site: stack and histogram.
  await page.click('th[data-k="total_ns"]');
  await page.locator("#sites tbody tr").first().click();
  await page.waitForSelector("#detail:not(.hidden) .stack li", { timeout: 5000 });
  const frames = await page.locator("#detail .stack li").count();
  const fnames = await page.locator("#detail .stack .fn").allTextContents();
  check("site detail shows a symbolized stack (" + frames + " frames)", frames >= 2 && fnames.some((f) => f && !f.includes("+0x")), fnames.join(" | "));
  const bars = await page.locator("#detail svg.hist rect.b").count();
  check("site detail draws the latency histogram", bars >= 1);
  check("the site endpoint was used", requests.some((r) => r.includes("/api/sites/")));
  await page.waitForTimeout(1200); // one more poll with the detail open
  await page.screenshot({ path: path.join(build, "dashboard.png") });

  // Hostile thread name: shown as text in the site's thread list and process view.
  await page.fill("#filter", "<script>");
  await page.waitForTimeout(100);
  const evilRows = await page.locator("#sites tbody tr").count();
  check("filter by the hostile thread name finds its sites", evilRows >= 1);
  await page.fill("#filter", "");
  await page.click('.tab[data-tab="process"]');
  await page.waitForSelector("#pthreads tr");
  const tnames = await page.locator("#pthreads td.vv").allTextContents();
  check("thread '<script>' is displayed as text", tnames.includes("<script>"), tnames.join(","));
  const scripts = await page.evaluate(() => document.scripts.length);
  check("no injected script element, no dialog", scripts === 1 && dialogs === 0, scripts + " scripts, " + dialogs + " dialogs");
  const argv = await page.locator("#pinfo .argv span").allTextContents();
  check("process info shows argv", argv.length === 3 && argv[0].endsWith("http_demo"), argv.join(" "));
  const opts = await page.locator("#popts tr").count();
  check("process info lists the options", opts >= 10);
  await page.screenshot({ path: path.join(build, "dashboard-process.png") });

  // Flame view.
  await page.click('.tab[data-tab="flame"]');
  await page.waitForSelector("#flame g rect");
  const boxes = await page.locator("#flame g").count();
  check("flame graph draws stacks (" + boxes + " boxes)", boxes >= 6);
  await page.screenshot({ path: path.join(build, "dashboard-flame.png") });

  // Light theme renders too.
  await page.click('.tab[data-tab="sites"]');
  await page.click("#theme");
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(build, "dashboard-light.png") });
  await page.click("#theme");

  // Only our own origin was contacted.
  const origin = new URL(url).origin;
  const foreign = requests.filter((r) => !r.startsWith(origin) && !r.startsWith("data:"));
  check("no external resources requested", foreign.length === 0, foreign.join(","));

  // The process goes away: the page says so and keeps the last data.
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  await page.waitForFunction(() => /gone/.test(document.getElementById("statustext").textContent), null, { timeout: 15000 });
  const kept = await page.locator("#sites tbody tr").count();
  check("exit shown, last data kept", kept >= 4);

  // Loops tab: a loop whose iterations vary, watched for several seconds.
  const lagBin = path.join(outDir, "lag_demo");
  execFileSync(process.env.CC || "cc", ["-g", "-O0", "-pthread", "-o", lagBin,
    path.join(root, "tests/integration/progs/lag_demo.c")], { stdio: "inherit" });
  const lag = spawn(lagBin, ["30"], {
    env: { ...process.env, LD_PRELOAD: shim, BLOCKGUARD_OPTIONS: "http=127.0.0.1:0" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let lagErr = "";
  const lagUrl = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("lag_demo printed no URL: " + lagErr)), 10000);
    lag.stderr.on("data", (b) => {
      lagErr += b;
      const m = /dashboard at (http:\/\/\S+)/.exec(lagErr);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
  });
  try {
    await page.goto(lagUrl, { waitUntil: "load" });
    await page.click('.tab[data-tab="loops"]');
    await page.waitForSelector("#loops .loop svg.lag path.lagline", { timeout: 10000 });
    await page.waitForTimeout(7000); /* several polls: the chart grows over time */
    const name = await page.locator("#loops .loop h3 .mono").first().textContent();
    check("Loops tab lists the event loop", name === "lag-loop", name);
    const points = await page.evaluate(() => {
      const d = document.querySelector("#loops svg.lag path.lagline").getAttribute("d") || "";
      return (d.match(/[ML]/g) || []).length;
    });
    check("lag chart has a point per second (" + points + ")", points >= 5);
    const stats = await page.locator("#loops .loopstats .v").allTextContents();
    check("loop figures: iterations, utilization, worst, stalls", stats.length >= 5 &&
      parseInt(stats[0], 10) > 100 && /%$/.test(stats[1]) && /ms$/.test(stats[2]), stats.join(" | "));
    const stalls = parseInt(stats[4], 10);
    check("stalls counted (" + stalls + ")", stalls >= 1);
    const n = await page.locator("#nloops").textContent();
    check("the tab shows the number of loops", n === "1", n);
    await page.screenshot({ path: path.join(build, "dashboard-loops.png") });
  } finally {
    lag.kill("SIGTERM");
  }

  const csp = await page.evaluate(() => window.__csp || []);
  check("no CSP violation", csp.length === 0, csp.join("; "));
  const real = problems.filter((p) => !/Failed to load resource|ERR_CONNECTION_REFUSED|Failed to fetch/.test(p));
  check("no page errors", real.length === 0, real.join("; "));
} catch (e) {
  check("browser session", false, e.stack || String(e));
} finally {
  await ctx.close().catch(() => {});
  if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(profile, { recursive: true, force: true });
}
console.log("browser: " + t.passed + " passed, " + t.failed + " failed");
process.exit(t.failed ? 1 : 0);
