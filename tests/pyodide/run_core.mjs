#!/usr/bin/env node
// Run the leadminer core under Pyodide 314 (the Cloudflare Python Workers runtime), offline.
//
//   node tests/pyodide/run_core.mjs [--identity ADDR]... [--repeat N] FILE...
//   node tests/pyodide/run_core.mjs --request REQUEST.json   (or --request - for stdin)
//
// Pyodide comes from node_modules (npm `pyodide`, pinned in package.json); the
// core's dependencies are the wheels that scripts/pyodide_wheels.py caches in
// .cache/pyodide-wheels/ (no CDN, no micropip). The project's shared/leadminer
// package (plus schemas/, as leadminer/schemas like the wheel), the HTTP API's
// api/leadminer_api, mine.py and api_check.py are copied into Pyodide's in-memory
// file system; each message file is copied to
// /input/. mine.py mines them and the JSON it returns is printed on stdout.
// Anything Python prints goes to stderr, so stdout is only the result.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_ROOT = path.resolve(HERE, "..", "..");
const APP_DIR = "/app"; // like a Worker's bundle: on sys.path, read-only in spirit
const INPUT_DIR = "/input";

function fail(message) {
  process.stderr.write(`run_core: ${message}\n`);
  process.exit(2);
}

function parseCommandLine() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      identity: { type: "string", multiple: true, default: [] },
      repeat: { type: "string", default: "1" },
      request: { type: "string" },
      wheels: { type: "string", default: path.join(PROJECT_ROOT, ".cache", "pyodide-wheels") },
      project: { type: "string", default: PROJECT_ROOT },
    },
  });
  let request;
  if (values.request) {
    const text = readFileSync(values.request === "-" ? 0 : values.request, "utf8");
    request = JSON.parse(text);
  } else {
    if (positionals.length === 0) fail("give message files or --request");
    const repeat = Number.parseInt(values.repeat, 10);
    if (!(repeat >= 1)) fail(`--repeat must be a positive integer, got ${values.repeat}`);
    request = { identities: values.identity, repeat, messages: positionals.map((p) => ({ path: p })) };
  }
  if (!Array.isArray(request.messages)) fail("the request has no messages list");
  for (const message of request.messages) {
    if (!existsSync(message.path) || !statSync(message.path).isFile()) fail(`not a file: ${message.path}`);
  }
  return { request, wheelDir: path.resolve(values.wheels), projectRoot: path.resolve(values.project) };
}

/** Copy a host folder into Pyodide's FS, skipping bytecode caches. */
function copyTree(FS, hostDir, fsDir) {
  FS.mkdirTree(fsDir);
  for (const entry of readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.endsWith(".pyc")) continue;
    const hostPath = path.join(hostDir, entry.name);
    const fsPath = `${fsDir}/${entry.name}`;
    if (entry.isDirectory()) copyTree(FS, hostPath, fsPath);
    else if (entry.isFile()) FS.writeFile(fsPath, readFileSync(hostPath));
  }
}

/** Wheel paths listed in the cache's manifest.json, as file:// URLs for loadPackage. */
function wheelURLs(wheelDir) {
  const manifestPath = path.join(wheelDir, "manifest.json");
  if (!existsSync(manifestPath)) fail(`no ${manifestPath}: run scripts/pyodide_wheels.py first`);
  const { wheels } = JSON.parse(readFileSync(manifestPath, "utf8"));
  return wheels.map((name) => {
    const wheel = path.join(wheelDir, name);
    if (!existsSync(wheel)) fail(`missing wheel ${wheel}: run scripts/pyodide_wheels.py`);
    return `file://${wheel}`;
  });
}

/** Copy each message into /input/<n>/<folder>/<file> so mine.py sees the same folder and uid names. */
function stageMessages(FS, request) {
  const messages = request.messages.map((message, index) => {
    const hostPath = path.resolve(message.path);
    const dir = `${INPUT_DIR}/${index}/${path.basename(path.dirname(hostPath))}`;
    FS.mkdirTree(dir);
    const fsPath = `${dir}/${path.basename(hostPath)}`;
    FS.writeFile(fsPath, readFileSync(hostPath));
    return { ...message, path: fsPath };
  });
  return { ...request, messages };
}

async function main() {
  const { request, wheelDir, projectRoot } = parseCommandLine();
  const urls = wheelURLs(wheelDir);
  const seconds = (since) => Math.round((performance.now() - since) / 10) / 100;

  const bootStarted = performance.now();
  const { loadPyodide } = await import("pyodide");
  const toStderr = { batched: (line) => process.stderr.write(`${line}\n`) };
  const pyodide = await loadPyodide({ indexURL: path.join(HERE, "node_modules", "pyodide") + path.sep });
  pyodide.setStdout(toStderr);
  pyodide.setStderr(toStderr);
  const boot_s = seconds(bootStarted);

  const packagesStarted = performance.now();
  await pyodide.loadPackage(urls, { messageCallback: () => {}, errorCallback: (m) => process.stderr.write(`${m}\n`) });
  const packages_s = seconds(packagesStarted);

  const { FS } = pyodide;
  copyTree(FS, path.join(projectRoot, "shared", "leadminer"), `${APP_DIR}/leadminer`);
  const schemas = path.join(projectRoot, "schemas");
  if (existsSync(schemas)) copyTree(FS, schemas, `${APP_DIR}/leadminer/schemas`);
  copyTree(FS, path.join(projectRoot, "api", "leadminer_api"), `${APP_DIR}/leadminer_api`);
  for (const script of ["mine.py", "api_check.py"]) FS.writeFile(`${APP_DIR}/${script}`, readFileSync(path.join(HERE, script)));
  const staged = stageMessages(FS, request);
  staged.timing = { ...(request.timing ?? {}), pyodide_boot_s: boot_s, pyodide_packages_s: packages_s };

  pyodide.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(APP_DIR)})`);
  const mine = pyodide.pyimport("mine");
  try {
    process.stdout.write(`${await mine.run_json(JSON.stringify(staged))}\n`);
  } finally {
    mine.destroy();
  }
}

main().catch((error) => {
  process.stderr.write(`run_core: ${error?.stack ?? error}\n`);
  process.exit(1);
});
