// Shared helpers of the e2e scripts (scripts/e2e_two_users.mjs, scripts/e2e_social_session.mjs).
//
// Each script drives a running chatr_server with the OFFICIAL socket.io-client 4 (default
// options: HTTP long-polling first, then the upgrade to WebSocket) and Node's fetch for
// REST, prints one line per step and exits 1 at the first failure with what was expected
// and what the server gave.
//
// Environment:
//   E2E_URL           server base URL (default http://127.0.0.1:3001); loopback only
//   NODE_MODULES_DIR  folder holding socket.io-client (default <repo>/var/node/node_modules)
//   E2E_TIMEOUT_MS    how long to wait for one event or request (default 5000)
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MODULES = process.env.NODE_MODULES_DIR || path.join(REPO, "var", "node", "node_modules");
const require = createRequire(MODULES + "/");
let ioFactory;
try {
  ioFactory = require("socket.io-client").io;
} catch {
  console.error(`socket.io-client not found under ${MODULES}; run scripts/e2e_run.sh (it installs it)`);
  process.exit(2);
}
export const CLIENT_VERSION = require("socket.io-client/package.json").version;
/** The official client's `io()` (scripts/e2e_recovery.mjs builds its own clients). */
export const io = (...args) => ioFactory(...args);

export const BASE = (process.env.E2E_URL || "http://127.0.0.1:3001").replace(/\/+$/, "");
{
  const host = new URL(BASE).hostname;
  if (!["127.0.0.1", "localhost", "[::1]"].includes(host)) {
    console.error(`E2E_URL must point at this machine (127.0.0.1), got ${BASE}`);
    process.exit(2);
  }
}
export const TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 5000);
export const PASSWORD = "Secret!Pass1";

// ---------------------------------------------------------------------------
// Steps and assertions

export class Mismatch extends Error {}

let stepNo = 0;
const started = Date.now();
const sockets = new Set();

/** Run one step; print `ok N - title` or `not ok N - title: why` and exit 1. */
export async function step(title, fn) {
  stepNo += 1;
  const t0 = Date.now();
  try {
    const result = await fn();
    console.log(`ok ${stepNo} - ${title} (${Date.now() - t0} ms)`);
    return result;
  } catch (err) {
    console.log(`not ok ${stepNo} - ${title}`);
    console.log(`  ${err instanceof Mismatch ? err.message : err && err.stack ? err.stack : err}`);
    closeAll();
    process.exit(1);
  }
}

export function finish(name) {
  closeAll();
  console.log(`# ${name}: ${stepNo} steps passed in ${Date.now() - started} ms (socket.io-client ${CLIENT_VERSION}, ${BASE})`);
  process.exit(0);
}

function closeAll() {
  for (const s of sockets) s.close();
}

export function show(value) {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 600 ? text.slice(0, 600) + "…" : text;
}

export function fail(what, expected, got) {
  throw new Mismatch(`${what}: expected ${expected}, got ${show(got)}`);
}

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}

export function eq(actual, expected, what) {
  const a = JSON.stringify(canonical(actual));
  const e = JSON.stringify(canonical(expected));
  if (a !== e) fail(what, e, actual);
}

export function ok(condition, what, got) {
  if (!condition) throw new Mismatch(`${what}${got === undefined ? "" : `; got ${show(got)}`}`);
}

/** Every key of `expected` has that value in `actual` (deep-equal per key). */
export function subset(actual, expected, what) {
  if (!actual || typeof actual !== "object") fail(what, `an object like ${show(expected)}`, actual);
  for (const [k, v] of Object.entries(expected)) {
    if (JSON.stringify(canonical(actual[k])) !== JSON.stringify(canonical(v))) {
      fail(`${what}.${k}`, show(v), actual[k]);
    }
  }
}

/** `actual` has exactly these keys (plus any of `optional`). */
export function keys(actual, required, what, optional = []) {
  if (!actual || typeof actual !== "object") fail(what, `an object with keys ${required}`, actual);
  const have = Object.keys(actual);
  const missing = required.filter((k) => !have.includes(k));
  const extra = have.filter((k) => !required.includes(k) && !optional.includes(k));
  if (missing.length || extra.length) {
    throw new Mismatch(
      `${what}: expected keys ${show([...required].sort())}` +
        (optional.length ? ` (optional ${show(optional)})` : "") +
        `; missing ${show(missing)}, unexpected ${show(extra)} in ${show(actual)}`,
    );
  }
}

export const isIso = (v) => typeof v === "string" && !Number.isNaN(Date.parse(v)) && /T/.test(v);

// ---------------------------------------------------------------------------
// REST

export async function api(method, urlPath, { token, json, form, raw } = {}) {
  const headers = {};
  let body;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const resp = await fetch(BASE + urlPath, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (raw) {
    return { status: resp.status, headers: resp.headers, bytes: Buffer.from(await resp.arrayBuffer()) };
  }
  const text = await resp.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: resp.status, headers: resp.headers, body: parsed };
}

/** A request that must answer `status`; returns the parsed body. */
export async function call(method, urlPath, status, opts) {
  const r = await api(method, urlPath, opts);
  if (r.status !== status) fail(`${method} ${urlPath} status`, status, { status: r.status, body: r.body });
  return r.body;
}

/** Register through REST and log in with the test-mode bypass code 000000. */
export async function makeUser(firstName) {
  const username = `${firstName.toLowerCase()}_${randomBytes(5).toString("hex")}`;
  const email = `${username}@example.com`;
  const reg = await call("POST", "/api/auth/register", 201, {
    json: { email, username, password: PASSWORD, firstName, lastName: "E2E" },
  });
  subset(reg, { requiresEmailVerification: true }, "register body");
  const login = await call("POST", "/api/auth/login", 200, {
    json: { email, password: PASSWORD, loginVerificationCode: "000000" },
  });
  ok(typeof login.token === "string" && login.user && login.user.id === reg.userId, "login with the bypass code returns a token for the registered user", login);
  eq(login.user.username, `@${username}`, "login user.username");
  return {
    id: login.user.id,
    token: login.token,
    username: login.user.username,
    displayName: `${firstName} E2E`,
    email,
    name: firstName.toLowerCase(),
  };
}

// ---------------------------------------------------------------------------
// Socket.IO

/**
 * One client connection. Every incoming event is recorded, so a step can wait for an
 * event that already arrived: `next(event, pred)` consumes the first matching one.
 */
export class Client {
  constructor(user) {
    this.user = user;
    this.events = []; // {event, args, used}
    this.waiters = [];
    // Library defaults (polling first, then upgrade, reconnection on) + the token.
    this.socket = ioFactory(BASE, { auth: { token: user.token } });
    sockets.add(this.socket);
    this.socket.onAny((event, ...args) => this._push(event, args));
    this.upgraded = new Promise((resolve) => {
      this.socket.io.on("open", () => {
        const engine = this.socket.io.engine;
        this.firstTransport = engine.transport.name;
        engine.on("upgrade", (t) => resolve(t.name));
      });
    });
    this.connectError = new Promise((resolve) => this.socket.on("connect_error", resolve));
  }

  _push(event, args) {
    // With connection-state recovery the server appends an offset to every event; the
    // client keeps it (socket._lastOffset) but also passes it to handlers: drop it here.
    if (this.socket._pid && args.length && typeof args[args.length - 1] === "string") {
      args = args.slice(0, -1);
    }
    const entry = { event, args, used: false };
    this.events.push(entry);
    for (const w of [...this.waiters]) {
      if (!entry.used && w.event === event && w.pred(...args)) {
        entry.used = true;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(args.length > 1 ? args : args[0]);
      }
    }
  }

  /** Wait for (and consume) the first not-yet-consumed `event` whose payload matches. */
  next(event, pred = () => true, what = "", timeoutMs = TIMEOUT_MS) {
    for (const e of this.events) {
      if (!e.used && e.event === event && pred(...e.args)) {
        e.used = true;
        return Promise.resolve(e.args.length > 1 ? e.args : e.args[0]);
      }
    }
    return new Promise((resolve, reject) => {
      const w = { event, pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        const seen = this.events.filter((e) => e.event === event).map((e) => e.args[0]);
        reject(
          new Mismatch(
            `${this.user.name}: expected event ${event}${what ? ` (${what})` : ""} within ${timeoutMs} ms; ` +
              `got ${seen.length ? `only non-matching ${event}: ${show(seen)}` : `no ${event}`}` +
              this._errors(),
          ),
        );
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  _errors() {
    const errors = this.events.filter((e) => e.event === "error").map((e) => e.args[0]);
    return errors.length ? `; server "error" events: ${show(errors)}` : "";
  }

  /** Assert that no matching `event` arrives within `ms`. */
  async none(event, pred = () => true, ms = 400, what = "") {
    await new Promise((r) => setTimeout(r, ms));
    const hit = this.events.find((e) => !e.used && e.event === event && pred(...e.args));
    if (hit) fail(`${this.user.name}: ${event}${what ? ` (${what})` : ""}`, "no event", hit.args[0]);
  }

  /** Drop every recorded, unconsumed `event` (e.g. presence noise). */
  drain(event) {
    for (const e of this.events) if (e.event === event) e.used = true;
  }

  emit(event, ...args) {
    this.socket.emit(event, ...args);
  }

  /** Emit with an ack callback; resolves with the single ack value. */
  async ack(event, payload) {
    try {
      return await this.socket.timeout(TIMEOUT_MS).emitWithAck(event, payload);
    } catch {
      throw new Mismatch(`${this.user.name}: expected an ack to ${event} within ${TIMEOUT_MS} ms, got none${this._errors()}`);
    }
  }

  /** Connect sequence: presence:update, then socket:ready; returns the presence:update. */
  async ready() {
    const failed = this.connectError.then((err) => {
      throw new Mismatch(`${this.user.name}: expected a connection, got connect_error ${show(err && err.message)}`);
    });
    const ready = await Promise.race([this.next("socket:ready", () => true, "connect sequence"), failed]);
    eq(ready, { userId: this.user.id }, `${this.user.name}: socket:ready payload`);
    const order = this.events.map((e) => e.event).filter((e) => e === "presence:update" || e === "socket:ready");
    eq(order.slice(0, 2), ["presence:update", "socket:ready"], `${this.user.name}: connect sequence order`);
    const presence = await this.next("presence:update");
    keys(presence, ["status", "onlineUsers"], `${this.user.name}: presence:update`);
    eq(presence.status, "online", `${this.user.name}: presence:update.status`);
    ok(Array.isArray(presence.onlineUsers), `${this.user.name}: presence:update.onlineUsers is an array`, presence);
    return presence;
  }

  /** The default transport sequence: polling first, then the upgrade to websocket. */
  async upgrade() {
    eq(this.firstTransport, "polling", `${this.user.name}: first transport`);
    let timer;
    const name = await Promise.race([
      this.upgraded,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Mismatch(`${this.user.name}: expected an upgrade to websocket within ${TIMEOUT_MS} ms, got none`)),
          TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    eq(name, "websocket", `${this.user.name}: upgraded transport`);
  }

  close() {
    this.socket.close();
    sockets.delete(this.socket);
  }
}

export async function connect(user) {
  const client = new Client(user);
  const presence = await client.ready();
  return { client, presence };
}

// ---------------------------------------------------------------------------
// Small media files, built here so the bytes are known exactly.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A valid 8×8 RGB PNG (a colour gradient). */
export function makePng(size = 8) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const rows = [];
  for (let y = 0; y < size; y++) {
    rows.push(0); // filter: none
    for (let x = 0; x < size; x++) rows.push((x * 255) / size, (y * 255) / size, 128);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(Buffer.from(rows))),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A valid PCM WAV: mono, 16-bit, 8 kHz, a 440 Hz tone of `seconds`. */
export function makeWav(seconds = 0.25) {
  const rate = 8000;
  const samples = Math.round(rate * seconds);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  }
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "ascii");
  h.writeUInt32LE(36 + data.length, 4);
  h.write("WAVE", 8, "ascii");
  h.write("fmt ", 12, "ascii");
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36, "ascii");
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

export const tempId = () => `temp-${Date.now()}-${randomBytes(3).toString("hex")}`;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
