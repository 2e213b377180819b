// Runs the test files once per client library, each run in its own
// processes (the libraries cannot share one), and fails if any run fails.
// Every run is bounded in time.

import { spawn } from "node:child_process";
import { libraryKeys } from "./lib/libraries.js";

const RUN_BOUND_MS = 300_000;
const results = [];
for (const key of libraryKeys) {
  const started = Date.now();
  process.stdout.write(`\n=== CLIENT_LIB=${key}\n`);
  const code = await new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--test", "--test-reporter=spec", "--test-concurrency=1", "--test-force-exit", "--test-timeout=60000", ...process.argv.slice(2), "test/"],
      { stdio: "inherit", env: { ...process.env, CLIENT_LIB: key } },
    );
    const timer = setTimeout(() => {
      process.stderr.write(`CLIENT_LIB=${key}: no result after ${RUN_BOUND_MS} ms; killing the test run\n`);
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
    }, RUN_BOUND_MS);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
  results.push({ key, code, seconds: ((Date.now() - started) / 1000).toFixed(1) });
}
process.stdout.write("\n=== summary\n");
for (const r of results) process.stdout.write(`${r.code === 0 ? "PASS" : "FAIL"} CLIENT_LIB=${r.key} (${r.seconds} s)\n`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
