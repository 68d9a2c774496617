// Connection-state recovery with the official socket.io-client 4 and the web client's
// options (reconnection on, 1 s delay up to 5 s, 5 attempts), through a small TCP proxy in
// this script that can hold new connections, cut the transport and switch backends.
//
// Environment (besides e2e_lib's E2E_URL, where REST and the other users' sockets go):
//   RECOVERY_BACKENDS  comma-separated base URLs the proxy can forward to (1 or 2)
//   RECOVERY_PIDS      their server process ids, same order (2 backends: the second
//                      part SIGKILLs the node the recovering client is on)
import net from "node:net";
import {
  io, connect, eq, finish, makeUser, ok, step, tempId, TIMEOUT_MS, Mismatch, show,
} from "./e2e_lib.mjs";

const BACKENDS = (process.env.RECOVERY_BACKENDS || "").split(",").filter(Boolean).map((u) => new URL(u));
const PIDS = (process.env.RECOVERY_PIDS || "").split(",").filter(Boolean).map(Number);
if (!BACKENDS.length) {
  console.error("RECOVERY_BACKENDS is required");
  process.exit(2);
}
const WEB_CLIENT_OPTIONS = {
  reconnection: true,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  reconnectionAttempts: 5,
};

// ---------------------------------------------------------------------------
// The proxy: one listening port; each accepted connection is piped to the current
// backend, or parked while `hold` is on (the client's reconnect waits, then goes on to
// whichever backend is current at `release`).

class Proxy {
  constructor() {
    this.target = 0;
    this.held = null; // parked client sockets while holding
    this.pairs = new Set();
    this.server = net.createServer((client) => this._accept(client));
  }

  listen() {
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", () => resolve(this.server.address().port)));
  }

  _accept(client) {
    client.on("error", () => {});
    if (this.held) {
      this.held.push(client);
      client.pause();
      return;
    }
    const backend = BACKENDS[this.target];
    const upstream = net.connect(Number(backend.port), backend.hostname);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    const pair = { client, upstream };
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", drop);
    upstream.on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  hold() {
    this.held = [];
  }

  release(target = this.target) {
    this.target = target;
    const parked = this.held || [];
    this.held = null;
    for (const client of parked) if (!client.destroyed) this._accept(client);
  }

  close() {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.server.close();
  }
}

// ---------------------------------------------------------------------------

/** A socket.io-client with the web client's options; records events and `recovered`. */
class WebClient {
  constructor(user, url, extraAuth = {}) {
    this.user = user;
    this.events = [];
    this.waiters = [];
    this.socket = io(url, { ...WEB_CLIENT_OPTIONS, auth: { token: user.token, ...extraAuth } });
    this.socket.onAny((event, ...args) => this._push(event, args));
    this.socket.on("connect", () => this._push("connect", [{ recovered: this.socket.recovered, id: this.socket.id }]));
    this.socket.on("connect_error", (err) => this._push("connect_error", [err && err.message]));
    this.socket.on("disconnect", (reason) => this._push("disconnect", [reason]));
  }

  _push(event, args) {
    // `recovered` as seen by a handler at delivery time (replayed events must see true).
    const entry = { event, args, recovered: this.socket.recovered, used: false };
    this.events.push(entry);
    for (const w of [...this.waiters]) {
      if (!entry.used && w.event === event && w.pred(...args)) {
        entry.used = true;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(entry);
      }
    }
  }

  next(event, pred = () => true, what = "") {
    for (const e of this.events) {
      if (!e.used && e.event === event && pred(...e.args)) {
        e.used = true;
        return Promise.resolve(e);
      }
    }
    return new Promise((resolve, reject) => {
      const w = { event, pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Mismatch(`${this.user.name}: expected ${event}${what ? ` (${what})` : ""} within ${TIMEOUT_MS} ms; saw ${show(this.events.map((e) => e.event))}`));
      }, TIMEOUT_MS);
      this.waiters.push(w);
    });
  }

  received(prefix) {
    return this.events.filter((e) => e.event === "message:received" && String(e.args[0].content).startsWith(prefix));
  }

  upgraded() {
    return new Promise((resolve) => {
      const engine = this.socket.io.engine;
      if (engine.transport.name === "websocket") resolve();
      else engine.once("upgrade", () => resolve());
    });
  }

  close() {
    this.socket.close();
  }
}

const proxy = new Proxy();
const proxyUrl = `http://127.0.0.1:${await proxy.listen()}`;
const cluster = BACKENDS.length > 1;

const alice = await makeUser("Alice");
const bob = await makeUser("Bob");
const mallory = await makeUser("Mallory");
const { client: b } = await connect(bob);

let a;
await step("alice connects through the proxy with the web client's options: a pid, not recovered", async () => {
  a = new WebClient(alice, proxyUrl);
  const first = await a.next("connect");
  eq(first.args[0].recovered, false, "alice: recovered on the first connect");
  await a.next("socket:ready");
  ok(typeof a.socket._pid === "string" && a.socket._pid.length >= 22, "the CONNECT reply carries a pid", a.socket._pid);
  await a.upgraded();
});

await step("an accepted conversation between alice and bob", async () => {
  a.socket.emit("message:send", { recipientId: bob.id, content: "hi bob", tempId: tempId() });
  await b.next("message:received", (m) => m.content === "hi bob");
  b.emit("message:send", { recipientId: alice.id, content: "hi alice", tempId: tempId() });
  const got = await a.next("message:received", (m) => m.content === "hi alice");
  eq(got.args[0].conversationStatus, "accepted", "alice: the reply accepted the conversation");
  ok(typeof a.socket._lastOffset === "string", "events carry an offset (the client keeps it)", a.socket._lastOffset);
});

/** Bob sends `count` DMs to alice, each acknowledged (stored) before the next. */
async function sendDms(prefix, count) {
  for (let i = 0; i < count; i++) {
    const t = tempId();
    b.emit("message:send", { recipientId: alice.id, content: `${prefix}-${i}`, tempId: t });
    await b.next("message:sent", (m) => m.tempId === t, `${prefix}-${i}`);
  }
}

/** Cut alice's transport, run `meanwhile`, let her reconnect (to `target`): recovered. */
async function blip(prefix, { target = proxy.target, cut = () => a.socket.io.engine.close() } = {}) {
  proxy.hold();
  const down = a.next("disconnect");
  await cut();
  const reason = (await down).args[0];
  ok(["transport close", "transport error", "forced close"].includes(reason), "alice: disconnected by the transport", reason);
  await sendDms(prefix, 10);
  const before = a.received(prefix).length;
  eq(before, 0, `alice: no ${prefix} DM while disconnected`);
  proxy.release(target);
  const again = await a.next("connect");
  eq(again.args[0].recovered, true, "alice: socket.recovered after the automatic reconnect");
  await a.next("socket:ready");
  const got = a.received(prefix);
  eq(got.map((e) => e.args[0].content), Array.from({ length: 10 }, (_, i) => `${prefix}-${i}`), "alice: the 10 missed DMs, once each, in send order");
  ok(got.every((e) => e.recovered === true), "alice: missed events are delivered with recovered already true", got.map((e) => e.recovered));
  // One more, live; then a marker: when the marker arrives, nothing can still be in flight.
  await sendDms(`${prefix}-after`, 1);
  await a.next("message:received", (m) => m.content === `${prefix}-after-0`);
  await sendDms(`${prefix}-marker`, 1);
  await a.next("message:received", (m) => m.content === `${prefix}-marker-0`);
  eq(a.received(prefix).length, 12, `alice: every ${prefix} DM exactly once (10 missed + 1 after + marker)`);
}

if (!cluster) {
  await step("transport cut; 10 DMs meanwhile; auto-reconnect recovers all 10 once, in order", async () => {
    await blip("blip");
  });
} else {
  await step("transport cut; reconnect lands on the other node: recovered, 10 DMs once, in order", async () => {
    await blip("moved", { target: 1 });
  });
  await step("the node alice is on is SIGKILLed; reconnect on the first node: recovered, 10 DMs", async () => {
    ok(PIDS.length === 2, "RECOVERY_PIDS names both nodes", PIDS);
    await blip("killed", { target: 0, cut: () => process.kill(PIDS[1], "SIGKILL") });
  });
}

await step("socket.disconnect() then socket.connect(): a new session, recovered = false", async () => {
  a.socket.disconnect();
  const pid = a.socket._pid;
  a.socket.connect();
  const again = await a.next("connect");
  eq(again.args[0].recovered, false, "alice: recovered after a deliberate disconnect");
  ok(a.socket._pid !== pid, "alice: a new pid", a.socket._pid);
  await a.next("socket:ready");
  await a.upgraded();
});

await step("mallory's token with alice's stolen pid and offset restores nothing", async () => {
  const stolen = { pid: a.socket._pid, offset: a.socket._lastOffset };
  ok(typeof stolen.offset === "string", "alice has an offset to steal", stolen);
  const aliceSid = a.socket.id;
  proxy.hold();
  const down = a.next("disconnect");
  a.socket.io.engine.close();
  await down;
  await sendDms("secret", 2);
  const m = new WebClient(mallory, BACKENDS[proxy.target].origin, stolen);
  const connected = await m.next("connect");
  eq(connected.args[0].recovered, false, "mallory: recovered with a stolen pid");
  ok(m.socket.id !== aliceSid, "mallory: not alice's sid", m.socket.id);
  await m.next("socket:ready");
  eq(m.received("secret").length, 0, "mallory: none of alice's missed events");
  // Alice's session is intact: she still gets both back.
  proxy.release();
  const back = await a.next("connect");
  eq(back.args[0].recovered, true, "alice: still recovers her own session");
  eq(a.received("secret").map((e) => e.args[0].content), ["secret-0", "secret-1"], "alice: her missed DMs");
  // A DM to alice now is not delivered to mallory (she is not in alice's rooms): the
  // marker DM to mallory is emitted after it on the same node, so it arrives after it.
  await sendDms("secret-live", 1);
  await a.next("message:received", (x) => x.content === "secret-live-0");
  const t = tempId();
  b.emit("message:send", { recipientId: mallory.id, content: "marker for mallory", tempId: t });
  await m.next("message:received", (x) => x.content === "marker for mallory");
  eq(m.received("secret").length, 0, "mallory: still none of alice's events");
  m.close();
});

a.close();
proxy.close();
finish("e2e_recovery");
