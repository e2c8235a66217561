#!/usr/bin/env node
// The local Cloudflare stack of leadminer (docs/cloudflare.md, "Local stack").
//
//   node cloudflare/local/stack.mjs --port P [--persist DIR] [--wheels DIR]... [--no-python]
//
// `wrangler dev` cannot start Python Workers offline (workerd downloads its Pyodide bundle),
// so this runs the two halves apart and joins them:
//
// * Miniflare (from wrangler 4.86.0) runs the real local Queues, R2 and D1 declared in the
//   wrangler/*.toml configs (top level = the local environment), plus one small JS Worker,
//   "router", that owns every binding and consumes every queue. Its queue() forwards each
//   batch to Python through a Node service binding and acks or retries each message from
//   the answer, so Miniflare's max_retries and dead-letter queues behave as in production.
// * Node's Pyodide 314.0.6 (the production interpreter) runs the Python Workers of
//   workers/<name>/entry.py with the real `workers` SDK (PyPI workers-runtime-sdk). Each
//   Worker's env holds the Miniflare bindings its config declares, wrapped in classes named
//   D1Database / R2Bucket / WorkerQueue as the SDK expects.
//
// One HTTP server on --port: every request goes to the fetch-dispatch Worker (the API), except
// /__stack/* (local only): d1 and r2 bridges (the CPython contract tests and tools reach the local
// D1/R2 through them), queue sends, the cron trigger, and the queue log. A line of JSON
// {"ready": true, "port": P} on stdout says the stack is up.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_ROOT = path.resolve(HERE, "..", "..");
const APP_DIR = "/app";

const { values: opts } = parseArgs({
  options: {
    port: { type: "string", default: "8788" },
    persist: { type: "string" },
    wheels: { type: "string", multiple: true, default: [] },
    python: { type: "boolean", default: true },
    "no-python": { type: "boolean", default: false },
    "batch-timeout": { type: "string", default: "0" },
    "exit-with-stdin": { type: "boolean", default: false }, // a launcher that dies takes the stack with it
  },
});
const withPython = !opts["no-python"];
const log = (...args) => process.stderr.write(`cf-stack: ${args.join(" ")}\n`);

// ---------------------------------------------------------------------------------------
// The configs
const { unstable_readConfig } = await import("wrangler");
const { Miniflare } = await import("miniflare");

const WRANGLER_DIR = path.join(PROJECT_ROOT, "wrangler");
const workers = readdirSync(WRANGLER_DIR)
  .filter((f) => f.endsWith(".toml") && !f.startsWith(".")) // dot files: scripts/cf's dry-run copies
  .map((f) => {
    const config = unstable_readConfig({ config: path.join(WRANGLER_DIR, f) }, { hideWarnings: true });
    return { name: f.replace(/\.toml$/, ""), config };
  });

const d1 = {}; // binding → database name
const r2 = {};
const producers = {}; // queue name → producer binding name on the router
const consumers = {}; // queue name → { worker, options }
for (const { name, config } of workers) {
  for (const db of config.d1_databases ?? []) d1[db.binding] = db.database_name;
  for (const bucket of config.r2_buckets ?? []) r2[bucket.binding] = bucket.bucket_name;
  for (const p of config.queues?.producers ?? []) producers[p.queue] = p.queue;
  for (const c of config.queues?.consumers ?? []) {
    producers[c.queue] = c.queue; // the stack may send to any queue (tests, redeliveries)
    if (c.dead_letter_queue) producers[c.dead_letter_queue] = c.dead_letter_queue;
    consumers[c.queue] = {
      worker: name,
      options: {
        maxBatchSize: c.max_batch_size ?? 10,
        maxBatchTimeout: Number(opts["batch-timeout"]),
        maxRetries: c.max_retries ?? 3,
        ...(c.dead_letter_queue ? { deadLetterQueue: c.dead_letter_queue } : {}),
      },
    };
  }
}

// ---------------------------------------------------------------------------------------
// Miniflare: the router Worker with every binding
const ROUTER = `
const value = (v) => (v && typeof v === "object" && "$bytes" in v ? Uint8Array.from(atob(v.$bytes), (c) => c.charCodeAt(0)) : v);
const plain = (v) => (v instanceof ArrayBuffer ? Array.from(new Uint8Array(v)) : v);
export default {
  // D1 statements run here, inside workerd, one request per read or atomic batch (the Node-side
  // D1Database sends them; each call through Miniflare's binding proxy would be a round trip).
  async fetch(request, env) {
    const { binding, statements, mode } = await request.json();
    const db = env[binding];
    try {
      const prepared = statements.map(([sql, params]) => db.prepare(sql).bind(...params.map(value)));
      if (mode === "raw") return Response.json({ rows: (await prepared[0].raw()).map((row) => row.map(plain)) });
      const results = await db.batch(prepared);
      return Response.json({ results: results.map((r) => ({ success: r.success, meta: r.meta })) });
    } catch (error) {
      return Response.json({ error: String(error?.message ?? error) }, { status: 500 });
    }
  },
  async queue(batch, env) {
    const messages = batch.messages.map((m) => ({ id: m.id, body: m.body, attempts: m.attempts }));
    let outcome;
    try {
      const answer = await env.PYTHON.fetch("http://python/queue", {
        method: "POST",
        body: JSON.stringify({ queue: batch.queue, messages }),
      });
      outcome = await answer.json();
    } catch (error) {
      outcome = { error: String(error) };
    }
    for (const m of batch.messages) {
      const verdict = outcome.results ? outcome.results[m.id] : "retry";
      if (verdict === "ack") m.ack();
      else m.retry();
    }
  },
};`;

const queueLog = []; // {queue, id, attempts, verdict}
let python = null; // set once Pyodide is up

const mf = new Miniflare({
  modules: true,
  script: ROUTER,
  name: "router",
  compatibilityDate: "2026-05-01", // the JS router only; the newest date this workerd knows
  d1Databases: Object.fromEntries(Object.entries(d1).map(([binding, name]) => [binding, name])),
  r2Buckets: Object.fromEntries(Object.entries(r2).map(([binding, name]) => [binding, name])),
  queueProducers: Object.fromEntries(Object.keys(producers).map((q) => [q, { queueName: q }])),
  queueConsumers: Object.fromEntries(Object.entries(consumers).map(([q, c]) => [q, c.options])),
  serviceBindings: {
    PYTHON: async (request) => {
      const { queue, messages } = await request.json();
      const started = performance.now();
      const cpu = process.cpuUsage();
      const results = python ? await python.queue(queue, messages) : {};
      const ms = Math.round(performance.now() - started); // wall time of the batch, its D1/R2 calls included
      const used = process.cpuUsage(cpu); // Node's CPU meanwhile: the Pyodide isolate (and any batch interleaved with it)
      const cpu_ms = Math.round((used.user + used.system) / 1000);
      for (const m of messages) queueLog.push({ queue, id: m.id, attempts: m.attempts, verdict: results[m.id] ?? "retry", ms, cpu_ms });
      return Response.json({ results });
    },
  },
  ...(opts.persist
    ? { d1Persist: path.join(opts.persist, "d1"), r2Persist: path.join(opts.persist, "r2") }
    : {}),
});
await mf.ready;
const bindings = await mf.getBindings();

// The class names the `workers` SDK wraps bindings by (see docs/cloudflare.md).
async function d1Call(binding, statements, mode) {
  const answer = await mf.dispatchFetch("http://router/d1", {
    method: "POST",
    body: JSON.stringify({ binding, statements, mode }),
  });
  const result = await answer.json();
  if (result.error) throw new Error(result.error);
  return result;
}
const param = (v) =>
  v instanceof Uint8Array || v instanceof ArrayBuffer ? { $bytes: Buffer.from(v).toString("base64") } : v === undefined ? null : v;
class D1PreparedStatement {
  constructor(db, sql, params = []) { this.db = db; this.sql = sql; this.params = params; }
  bind(...params) { return new D1PreparedStatement(this.db, this.sql, params.map(param)); }
  async raw() { return (await d1Call(this.db.binding, [[this.sql, this.params]], "raw")).rows; }
  async run() { return (await this.db.batch([this])) [0]; }
}
class D1Database {
  constructor(binding) { this.binding = binding; }
  prepare(sql) { return new D1PreparedStatement(this, sql); }
  async batch(statements) {
    return (await d1Call(this.binding, statements.map((s) => [s.sql, s.params]), "batch")).results;
  }
}
class R2Bucket {
  constructor(inner) { this.inner = inner; }
  put(key, value, options) { return this.inner.put(key, value, options); }
  get(key, options) { return this.inner.get(key, options); }
  head(key) { return this.inner.head(key); }
  delete(keys) { return this.inner.delete(keys); }
  list(options) { return this.inner.list(options); }
}
class WorkerQueue {
  constructor(inner) { this.inner = inner; }
  send(body, options) { return this.inner.send(body, options); }
  sendBatch(messages, options) { return this.inner.sendBatch(messages, options); }
}

// The fetcher container of a Durable Object (`ctx.container`), played by a local process with the
// environment the Durable Object starts it with (docs/cloudflare.md, "The fetcher"). The
// entrypoint's `python` is the stack's LEADMINER_FETCHER_PYTHON (scripts/cf and the tests: the
// project's venv). Output goes to the stack's stderr and to /__stack/fetchers (the tests).
const fetchers = []; // {name, pid, exit, output}
class LocalContainer {
  constructor(name) { this.name = name; this.child = null; this.exited = null; }
  get running() { return this.child !== null && this.exited === null; }
  start(options = {}) {
    const [command, ...args] = options.entrypoint ?? ["python", "-m", "leadminer_fetcher.remote"];
    const python = command === "python" ? process.env.LEADMINER_FETCHER_PYTHON || "python3" : command;
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...(options.env ?? {}) };
    const child = spawn(python, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const record = { name: this.name, pid: child.pid, exit: null, output: "" };
    fetchers.push(record);
    this.child = child;
    this.exited = null;
    this.done = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        record.exit = code ?? signal;
        this.exited = record.exit;
        resolve(record.exit);
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream.on("data", (chunk) => {
        record.output += chunk.toString();
        process.stderr.write(chunk);
      });
    }
  }
  async monitor() {
    const exit = await this.done;
    if (exit !== 0) throw new Error(`container exited with ${exit}`);
  }
  async destroy() {
    if (this.running) this.child.kill("SIGTERM");
    await this.done;
  }
}
// A Durable Object namespace: one instance of the Worker's Python class per name, with a
// ctx whose container is a LocalContainer.
class DurableObjectNamespace {
  constructor(className, env) { this.className = className; this.env = env; this.objects = {}; this.cls = null; }
  getByName(name) {
    const namespace = this;
    return {
      async fetch(url, init) {
        if (!namespace.objects[name]) {
          const ctx = { container: new LocalContainer(name), id: { name }, waitUntil: (p) => p };
          namespace.objects[name] = namespace.cls(ctx, namespace.env);
        }
        return await namespace.objects[name].fetch(new Request(url, init));
      },
    };
  }
}
let stackUrl = null; // set once the server listens: what a local fetcher posts to

function workerEnv(config) {
  const env = { ...(config.vars ?? {}) };
  // secrets (`wrangler secret put` in production) come from the stack's environment locally, and
  // so may the main store's vars (the local Supabase's URL is known only once it runs: `wrangler dev --var`)
  // and the fetcher's batch size (tests)
  const passed = ["SUPABASE_JWT_SECRET", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_URL", "LEADMINER_MAIN_STORE",
    "LEADMINER_SECRET_KEY", "LEADMINER_FETCH_BATCH"];
  for (const name of passed) if (process.env[name]) env[name] = process.env[name];
  if (!("LEADMINER_FETCH_API" in env)) Object.defineProperty(env, "LEADMINER_FETCH_API", { get: () => stackUrl, enumerable: true });
  for (const b of config.durable_objects?.bindings ?? []) {
    env[b.name] = new DurableObjectNamespace(b.class_name, env);
  }
  for (const db of config.d1_databases ?? []) env[db.binding] = new D1Database(db.binding);
  for (const bucket of config.r2_buckets ?? []) env[bucket.binding] = new R2Bucket(bindings[bucket.binding]);
  for (const p of config.queues?.producers ?? []) env[p.binding] = new WorkerQueue(bindings[p.queue]);
  return env;
}

// ---------------------------------------------------------------------------------------
// Pyodide: the Python Workers
function copyTree(FS, hostDir, fsDir) {
  FS.mkdirTree(fsDir);
  for (const entry of readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.endsWith(".pyc")) continue;
    const hostPath = path.join(hostDir, entry.name);
    if (entry.isDirectory()) copyTree(FS, hostPath, `${fsDir}/${entry.name}`);
    else if (entry.isFile()) FS.writeFile(`${fsDir}/${entry.name}`, readFileSync(hostPath));
  }
}

function wheelURLs(dirs) {
  const urls = [];
  for (const dir of dirs) {
    const manifest = path.join(dir, "manifest.json");
    const names = existsSync(manifest)
      ? JSON.parse(readFileSync(manifest, "utf8")).wheels
      : readdirSync(dir).filter((f) => f.endsWith(".whl"));
    for (const name of names) urls.push(`file://${path.resolve(dir, name)}`);
  }
  return urls;
}

async function startPython() {
  const { loadPyodide } = await import("pyodide");
  const toStderr = { batched: (line) => process.stderr.write(`${line}\n`) };
  const py = await loadPyodide({ indexURL: path.join(HERE, "node_modules", "pyodide") + path.sep });
  py.setStdout(toStderr);
  py.setStderr(toStderr);
  const failed = [];
  await py.loadPackage(wheelURLs(opts.wheels), { messageCallback: () => {}, errorCallback: (m) => failed.push(m) });
  if (failed.length) throw new Error(`wheels did not load: ${failed.join("; ")}`);

  // The two runtime modules only workerd provides (shared/docs/CLOUDFLARE-LOCAL.md).
  const pending = new Set();
  const waitUntil = (promise) => {
    const p = Promise.resolve(promise).catch((e) => log("waitUntil:", e?.stack ?? e));
    pending.add(p);
    p.finally(() => pending.delete(p));
  };
  py.registerJsModule("_cloudflare_compat_flags", {
    python_workflows_implicit_dependencies: false,
    python_request_headers_preserve_commas: false,
  });
  py.registerJsModule("_pyodide_entrypoint_helper", {
    patchWaitUntil() {},
    doAnImport: (name) => import(name),
    cloudflareWorkersModule: { env: {}, waitUntil },
    cloudflareSocketsModule: {},
    patch_env_helper() {},
  });

  const { FS } = py;
  copyTree(FS, path.join(PROJECT_ROOT, "shared", "leadminer"), `${APP_DIR}/leadminer`);
  copyTree(FS, path.join(PROJECT_ROOT, "schemas"), `${APP_DIR}/leadminer/schemas`);
  copyTree(FS, path.join(PROJECT_ROOT, "api", "leadminer_api"), `${APP_DIR}/leadminer_api`);
  py.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(APP_DIR)})`);

  // One instance of each Worker's Default entrypoint, its module loaded under a name of its own.
  const instances = {};
  const ctx = { waitUntil, passThroughOnException() {} };
  for (const { name, config } of workers) {
    const entry = path.join(PROJECT_ROOT, "workers", name, "entry.py");
    if (!existsSync(entry)) continue;
    const module = `worker_${name.replace(/-/g, "_")}`;
    FS.writeFile(`${APP_DIR}/${module}.py`, readFileSync(entry));
    py.runPython("import importlib; importlib.invalidate_caches()");
    const imported = py.pyimport(module);
    const env = workerEnv(config);
    instances[name] = imported.Default(ctx, env);
    for (const b of config.durable_objects?.bindings ?? []) env[b.name].cls = imported[b.class_name]; // its Durable Objects
  }
  // The local D1 databases get their tables (production: `wrangler d1 migrations apply`).
  const runtime = py.pyimport("leadminer.adapters.cloudflare.worker");
  await runtime.migrate(instances["fetch-dispatch"].env);

  class QueueMessage {
    constructor(m, verdicts) {
      this.id = m.id;
      this.body = m.body;
      this.attempts = m.attempts;
      this.timestamp = new Date();
      this.verdicts = verdicts;
    }
    ack() { this.verdicts[this.id] = "ack"; }
    retry() { this.verdicts[this.id] = "retry"; }
  }
  class MessageBatch {
    constructor(queue, messages) { this.queue = queue; this.messages = messages; }
    ackAll() { for (const m of this.messages) m.ack(); }
    retryAll() { for (const m of this.messages) m.retry(); }
  }

  return {
    async queue(queue, messages) {
      const worker = consumers[queue]?.worker;
      const verdicts = {};
      const batch = new MessageBatch(queue, messages.map((m) => new QueueMessage(m, verdicts)));
      try {
        await instances[worker].queue(batch);
        // a queue() that returns acks every message it did not retry (as on Cloudflare)
        for (const m of messages) verdicts[m.id] ??= "ack";
      } catch (error) {
        log(`${worker}.queue failed:`, error?.message ?? error);
        for (const m of messages) verdicts[m.id] = "retry"; // a queue() that throws retries its batch
      }
      return verdicts;
    },
    async fetch(request) {
      return await instances["fetch-dispatch"].fetch(request);
    },
    async scheduled() {
      await instances["fetch-dispatch"].scheduled({ cron: "*/5 * * * *", scheduledTime: Date.now() });
    },
    settle: () => Promise.all([...pending]),
    run: async (code) => String(await py.runPythonAsync(code)),
    instances,
  };
}

// ---------------------------------------------------------------------------------------
// The bridges (local only): D1 and R2 for CPython, queue sends, cron, queue log
async function d1Bridge(binding, { statements, mode }) {
  const result = await d1Call(binding, statements, mode);
  return mode === "raw" ? result : { changes: result.results.map((r) => r.meta.changes) };
}

async function r2Bridge(binding, op) {
  const bucket = bindings[binding];
  if (op.op === "put") {
    await bucket.put(op.key, new Uint8Array(Buffer.from(op.base64, "base64")));
    return {};
  }
  if (op.op === "get") {
    const object = await bucket.get(op.key);
    return { base64: object ? Buffer.from(await object.arrayBuffer()).toString("base64") : null };
  }
  if (op.op === "delete") {
    await bucket.delete(op.keys);
    return {};
  }
  if (op.op === "list") {
    const keys = [];
    let cursor;
    do {
      const page = await bucket.list({ prefix: op.prefix, cursor });
      keys.push(...page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return { keys };
  }
  throw new Error(`unknown r2 op ${op.op}`);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function stackRoute(parts, body) {
  const [kind, name] = parts;
  if (kind === "d1") return await d1Bridge(name, JSON.parse(body));
  if (kind === "r2") return await r2Bridge(name, JSON.parse(body));
  if (kind === "queue") {
    await bindings[name].send(JSON.parse(body));
    return {};
  }
  if (kind === "cron") {
    await python.scheduled();
    return {};
  }
  if (kind === "log") return { messages: queueLog };
  if (kind === "fetchers") return { fetchers };
  if (kind === "run") {
    // run Python in the Workers' interpreter: {"code"}; the value of its last expression,
    // JSON-encoded by the code itself (tests of Pyodide-only adapters)
    const { code } = JSON.parse(body);
    return { result: await python.run(code) };
  }
  throw new Error(`unknown /__stack route ${kind}`);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, `http://${req.headers.host}`);
    const body = await readBody(req);
    if (url.pathname.startsWith("/__stack/")) {
      const answer = await stackRoute(url.pathname.slice(9).split("/"), body.toString("utf8"));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(answer));
      return;
    }
    if (!python) throw new Error("the stack runs without Python Workers (--no-python)");
    const request = new Request(url, {
      method: req.method,
      headers: req.headers,
      body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
    });
    const response = await python.fetch(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body) for await (const chunk of response.body) res.write(chunk);
    res.end();
  } catch (error) {
    log("request failed:", error?.stack ?? error);
    res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: String(error?.message ?? error) }));
  }
});

if (withPython) {
  const started = performance.now();
  python = await startPython();
  log(`Python Workers up in ${Math.round(performance.now() - started)} ms:`, Object.keys(python.instances).join(", "));
}
server.listen(Number(opts.port), "127.0.0.1", () => {
  stackUrl = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`${JSON.stringify({ ready: true, port: server.address().port })}\n`);
});

const shutdown = async () => {
  server.close();
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
if (opts["exit-with-stdin"]) {
  process.stdin.on("end", shutdown);
  process.stdin.resume();
}
