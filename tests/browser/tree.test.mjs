// tree.test.mjs - one dashboard for a whole process tree: `blockguard run --http` serves
// it from the CLI (the programs serve nothing).  tests/integration/progs/tree3.c forks
// three workers, each blocking at its own site; a fourth joins later and one leaves
// early.  Headless chromium checks what a person relies on: all three workers' sites
// in one table, the process list and its filter (one worker's sites only, then all
// again), and processes appearing and leaving live without a reload.
import { checker, launch } from "./harness.mjs";
import { spawn, execFileSync } from "node:child_process";
import { rmSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.BG_ROOT || path.resolve(here, "../..");
const build = path.resolve(root, process.env.BUILD || "build");
const outDir = path.join(build, "tests", "browser");
mkdirSync(outDir, { recursive: true });
const t = checker(), check = t.check;

const prog = path.join(outDir, "tree3");
execFileSync(process.env.CC || "cc", ["-g", "-O0", "-o", prog, path.join(root, "tests/integration/progs/tree3.c")],
  { stdio: "inherit" });
// 30 s in all; the late worker after 6 s, the napper leaves at 9 s
const child = spawn(path.join(build, "blockguard"), ["run", "--http=127.0.0.1:0", "--threads=main", "--", prog, "30", "6", "9"],
  { stdio: ["ignore", "ignore", "pipe"] });
let stderr = "";
const url = await new Promise((resolve, reject) => {
  const tm = setTimeout(() => reject(new Error("no dashboard URL: " + stderr)), 15000);
  child.stderr.on("data", (b) => {
    stderr += b;
    const m = /dashboard at (http:\/\/\S+)/.exec(stderr);
    if (m) { clearTimeout(tm); resolve(m[1]); }
  });
  child.on("exit", (c) => reject(new Error("blockguard run exited " + c + ": " + stderr)));
});
console.log("tree dashboard: " + url);

const { ctx, profile } = await launch(["--disable-gpu"]);
const problems = [];
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  await page.goto(url, { waitUntil: "load" });
  const callers = () => page.evaluate(() => [...document.querySelectorAll("#sites tbody tr")].map((tr) => tr.textContent));
  const hasAll = (names, rows) => names.every((n) => rows.some((r) => r.includes(n)));
  await page.waitForFunction(() => {
    const t = [...document.querySelectorAll("#sites tbody tr")].map((tr) => tr.textContent).join("\n");
    return ["sleepy_worker", "disk_worker", "napper_worker"].every((n) => t.includes(n));
  }, null, { timeout: 20000 });
  const rows = await callers();
  check("one table holds the three workers' sites", hasAll(["sleepy_worker", "disk_worker", "napper_worker"], rows),
    rows.join(" | "));
  check("with their calls", hasAll(["usleep", "fsync", "nanosleep"], rows));
  await page.screenshot({ path: path.join(build, "dashboard-tree.png") });

  // the process list: parent + 3 workers, then a 4th joins (no reload)
  const options = () => page.evaluate(() => [...document.querySelectorAll("#procsel option")].map((o) => o.textContent));
  const first = await options();
  check("the process filter lists the parent and the three workers", first.length >= 5 && /all \d+ processes/.test(first[0]),
    first.join(" | "));
  await page.waitForFunction(() => document.querySelectorAll("#procsel option").length >= 6, null, { timeout: 20000 });
  const opts = await options();
  check("a worker started later joins the list without a reload (" + (opts.length - 1) + " processes)", opts.length >= 6,
    opts.join(" | "));
  await page.waitForFunction(() => [...document.querySelectorAll("#sites tbody tr")].some((tr) => tr.textContent.includes("late_worker")),
    null, { timeout: 20000 });
  check("the late worker's site appears live", true);
  // the napper leaves: its state changes in the list
  await page.waitForFunction(() => [...document.querySelectorAll("#procsel option")].some((o) => /exited 0/.test(o.textContent)),
    null, { timeout: 20000 });
  check("a worker that left is shown as exited", true, (await options()).join(" | "));

  // filter: the disk worker alone, then all again
  const diskPid = await page.evaluate(async () => {
    const r = await (await fetch("/api/report", { cache: "no-store" })).json();
    for (const p of r.processes) {
      const one = await (await fetch("/api/report?pid=" + p.pid, { cache: "no-store" })).json();
      if (one.sites.some((s) => s.call === "fsync")) return String(p.pid);
    }
    return "";
  });
  await page.selectOption("#procsel", diskPid);
  await page.waitForFunction(() => {
    const t = [...document.querySelectorAll("#sites tbody tr")].map((tr) => tr.textContent);
    return t.length > 0 && t.every((r) => !r.includes("sleepy_worker") && !r.includes("napper_worker"));
  }, null, { timeout: 10000 });
  const one = await callers();
  check("the filter shows one worker's sites only (pid " + diskPid + ")", one.some((r) => r.includes("disk_worker")) &&
    !one.some((r) => r.includes("sleepy_worker")), one.join(" | "));
  check("the header names that pid", (await page.locator("#ppid").textContent()).includes(diskPid));
  await page.screenshot({ path: path.join(build, "dashboard-tree-filter.png") });
  await page.selectOption("#procsel", "");
  await page.waitForFunction(() => [...document.querySelectorAll("#sites tbody tr")].some((tr) => tr.textContent.includes("sleepy_worker")),
    null, { timeout: 10000 });
  check("back to the whole tree", true);
  // the Process tab lists every process with its state
  await page.click('.tab[data-tab="process"]');
  await page.waitForSelector("#pprocs tr");
  const prows = await page.locator("#pprocs tr").count();
  check("the Process tab lists the processes (" + prows + ")", prows >= 5);
  const lines = stderr.split("\n").filter((l) => /dashboard at/.test(l));
  check("one dashboard: the CLI's, none from the programs", lines.length === 1, lines.join(" | "));
  check("no page errors", problems.length === 0, problems.join("; "));
} catch (e) {
  check("browser session", false, e.stack || String(e));
} finally {
  await ctx.close().catch(() => {});
  if (child.exitCode === null) child.kill("SIGTERM");
  rmSync(profile, { recursive: true, force: true });
}
console.log("tree: " + t.passed + " passed, " + t.failed + " failed");
process.exit(t.failed ? 1 : 0);
