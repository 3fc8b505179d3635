// speedscope.test.mjs - blockguard's folded stacks open in speedscope (npm), the flame
// graph viewer people use for such files, in headless Debian chromium.
//
// A program blocks at several sites under the shim with a live dashboard; the folded
// stacks come from its /api/folded endpoint (the same renderer as format=folded and
// `blockguard report --format folded`).  speedscope's release build (from
// node_modules, nothing fetched) and the profile are served from one local origin,
// the app is opened with #profileURL=, and the test checks what a person sees: the
// profile is imported under its name, and the Sandwich view lists the blocking calls
// and the functions that made them, with the blocked time blockguard measured.
//
// Run by `make check-browser` after dashboard.test.mjs.
import { checker, launch } from "./harness.mjs";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { rmSync, mkdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.BG_ROOT || path.resolve(here, "../..");
const build = path.resolve(root, process.env.BUILD || "build");
const shim = path.join(build, "libblockguard.so");
const outDir = path.join(build, "tests", "browser");
mkdirSync(outDir, { recursive: true });
const app = path.join(here, "node_modules", "speedscope", "dist", "release");

const t = checker(), check = t.check;

// ---- the program: http_demo blocks at several sites on three threads ----------------
const demo = path.join(outDir, "http_demo");
execFileSync(process.env.CC || "cc", ["-g", "-O0", "-pthread", "-rdynamic", "-o", demo,
  path.join(root, "tests/integration/http_demo.c")], { stdio: "inherit" });
const child = spawn(demo, ["30", "6"], {
  env: { ...process.env, LD_PRELOAD: shim, BLOCKGUARD_OPTIONS: "threads=all:http=127.0.0.1:0:verbosity=1" },
  stdio: ["ignore", "ignore", "pipe"],
});
let stderr = "";
const url = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error("no dashboard URL: " + stderr)), 10000);
  child.stderr.on("data", (b) => {
    stderr += b;
    const m = /dashboard at (http:\/\/\S+)/.exec(stderr);
    if (m) { clearTimeout(t); resolve(m[1]); }
  });
  child.on("exit", (c) => reject(new Error("demo exited " + c + ": " + stderr)));
});
await new Promise((r) => setTimeout(r, 1500)); // let it block a few times
const folded = await (await fetch(url + "api/folded")).text();
const lines = folded.trim().split("\n");
check("/api/folded serves folded stacks (" + lines.length + " lines)",
  lines.length >= 3 && lines.every((l) => /^\S.* \d+$/.test(l)), folded.slice(0, 200));
const total = lines.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);

// ---- one local origin: the app and the profile ---------------------------------------
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css",
  ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png",
  ".woff2": "font/woff2", ".ico": "image/x-icon", ".txt": "text/plain" };
const server = createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  if (u.pathname === "/blockguard.folded") {
    res.writeHead(200, { "content-type": "text/plain" });
    return res.end(folded);
  }
  const f = path.join(app, path.normalize(u.pathname === "/" ? "/index.html" : u.pathname));
  if (!f.startsWith(app) || !existsSync(f)) { res.writeHead(404); return res.end(); }
  res.writeHead(200, { "content-type": types[path.extname(f)] || "application/octet-stream" });
  res.end(readFileSync(f));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = "http://127.0.0.1:" + server.address().port;

const { ctx, profile } = await launch(["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]);
const problems = [];
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(origin + "/index.html#profileURL=" + encodeURIComponent(origin + "/blockguard.folded") +
    "&title=blockguard", { waitUntil: "load" });
  // imported: the toolbar names the profile
  await page.waitForFunction(() => /blockguard/.test(document.body.innerText), null, { timeout: 20000 });
  check("speedscope imports the folded profile", true);
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(build, "speedscope-flame.png") });
  // the Sandwich view: a table of every function with its total (DOM, not canvas)
  await page.getByText("Sandwich").first().click();
  await page.waitForTimeout(800);
  const text = await page.evaluate(() => document.body.innerText);
  for (const fn of ["usleep", "nanosleep", "worker", "main"])
    check("sandwich view lists " + fn, text.includes(fn), text.slice(0, 300));
  await page.screenshot({ path: path.join(build, "speedscope-sandwich.png") });
  // the values are blockguard's: usleep's self time is the sum of its stacks' ns
  const usleepNs = lines.filter((l) => /;usleep \d+$/.test(l)).reduce((a, l) => a + Number(l.split(" ").pop()), 0);
  const shown = usleepNs.toLocaleString("en-US");
  check("usleep's blocked time shown as " + shown + " ns (of " + total + ")", usleepNs > 0 && text.includes(shown),
    text.slice(0, 300));
  check("nothing fetched from elsewhere", requests.every((r) => r.startsWith(origin) || r.startsWith("data:") || r.startsWith("blob:")),
    requests.filter((r) => !r.startsWith(origin)).join(","));
  check("no page errors", problems.length === 0, problems.join("; "));
} catch (e) {
  check("browser session", false, e.stack || String(e));
} finally {
  await ctx.close().catch(() => {});
  server.close();
  if (child.exitCode === null) child.kill("SIGTERM");
  rmSync(profile, { recursive: true, force: true });
}
console.log("speedscope: " + t.passed + " passed, " + t.failed + " failed");
process.exit(t.failed ? 1 : 0);
