// harness.mjs - what the browser tests share: pass/fail bookkeeping and headless
// Debian chromium through playwright-core (dashboard.test.mjs, speedscope.test.mjs).
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export function checker() {
  const t = { passed: 0, failed: 0 };
  t.check = (name, ok, detail) => {
    if (ok) { t.passed++; console.log("  ok    " + name); }
    else { t.failed++; console.log("  FAIL  " + name + (detail ? ": " + detail : "")); }
  };
  return t;
}

// A fresh profile directory (removed by the caller) and a headless chromium.  extra:
// more command-line switches (speedscope needs WebGL through SwiftShader).
export async function launch(extra = [], options = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), "bg-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-quic",
      "--no-first-run", "--disable-component-update", "--disable-sync", ...extra],
    viewport: { width: 1440, height: 900 },
    ...options,
  });
  return { ctx, profile };
}
