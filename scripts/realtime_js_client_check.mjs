// Drives socket.io-client 4 against `python -m chatr_server.realtime.conformance`.
// Started by realtime_js_client_check.sh (which sets PYTHON and NODE_MODULES_DIR).
//
// TARGET_URL: use an already running server instead of spawning one (the restart /
// reconnection step is then skipped). CHECK_MODE=chat: the target is `chatr_server
// serve` (with CHATR_TEST_MODE=true): two users are registered over REST and exchange
// direct messages with default client options, ROUNDS times on fresh connections.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_MODULES_DIR + "/");
const { io } = require("socket.io-client");
const clientVersion = require("socket.io-client/package.json").version;

const PORT = Number(process.env.PORT || 3100);
const TARGET = process.env.TARGET_URL || "";
const URL = TARGET ? TARGET.replace(/\/$/, "") : `http://127.0.0.1:${PORT}`;
const MODE = process.env.CHECK_MODE || "conformance";
const ROUNDS = Number(process.env.ROUNDS || 10);
const TIMEOUT_MS = 5000;

let server = null;

function startServer() {
  if (TARGET) return Promise.resolve();
  server = spawn(
    process.env.PYTHON || "python3",
    ["-m", "chatr_server.realtime.conformance", "--port", String(PORT)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    server.stdout.on("data", (chunk) => {
      if (chunk.toString().includes("Running on")) resolve();
    });
    server.on("exit", (code) => reject(new Error(`server exited early (${code})`)));
  });
}

function stopServer() {
  return new Promise((resolve) => {
    server.removeAllListeners("exit");
    server.on("exit", resolve);
    server.kill("SIGTERM");
  });
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

function once(socket, event) {
  return withTimeout(new Promise((resolve) => socket.once(event, (...args) => resolve(args))), event);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
  console.log(`  ok - ${what}`);
}

async function exercise(socket, label, authEvent) {
  if (authEvent) {
    const [auth] = await authEvent;
    assertEqual(auth, { token: "abc" }, `${label}: auth echoed after connect`);
  }

  const back = once(socket, "message-back");
  socket.emit("message", 1, "two", { three: [true] });
  assertEqual(await back, [1, "two", { three: [true] }], `${label}: emit without ack`);

  const acked = await withTimeout(
    new Promise((resolve) => socket.emit("message-with-ack", 42, { a: "b" }, (...args) => resolve(args))),
    "ack",
  );
  assertEqual(acked, [42, { a: "b" }], `${label}: emit with ack`);
  const first = await socket.timeout(TIMEOUT_MS).emitWithAck("message-with-ack", "x");
  assertEqual(first, "x", `${label}: emitWithAck`);

  const binBack = once(socket, "message-back");
  socket.emit("message", Uint8Array.from([1, 2, 3]), { nested: Uint8Array.from([4, 5]) });
  const [bin, nested] = await binBack;
  assertEqual(
    [Array.from(new Uint8Array(bin)), Array.from(new Uint8Array(nested.nested))],
    [[1, 2, 3], [4, 5]],
    `${label}: binary round trip`,
  );
}

async function api(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const resp = await fetch(`${URL}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const data = await resp.json();
  if (!resp.ok) throw new Error(`${path}: ${resp.status} ${JSON.stringify(data)}`);
  return data;
}

async function makeUser() {
  const name = `js_${Math.random().toString(16).slice(2, 12)}`;
  const email = `${name}@example.com`;
  const password = "Secret!Pass1";
  await api("/api/auth/register", { email, username: name, password, firstName: "Js", lastName: "Check" });
  const login = await api("/api/auth/login", { email, password, loginVerificationCode: "000000" });
  return { id: login.user.id, token: login.token };
}

async function chatMain() {
  console.log(`socket.io-client ${clientVersion} against chatr_server at ${URL}`);
  const alice = await makeUser();
  const bob = await makeUser();
  const owners = new Set();
  for (let round = 0; round < ROUNDS; round++) {
    // Library defaults: polling first, then the websocket upgrade.
    const a = io(URL, { auth: { token: alice.token }, reconnection: false });
    const b = io(URL, { auth: { token: bob.token }, reconnection: false });
    await Promise.all([once(a, "socket:ready"), once(b, "socket:ready")]);
    for (const sock of [a, b]) {
      if (sock.io.engine.transport.name !== "websocket") {
        await withTimeout(new Promise((r) => sock.io.engine.once("upgrade", r)), "upgrade");
      }
      owners.add(sock.io.engine.id.slice(0, 8));
    }
    const received = once(b, "message:received");
    const sent = once(a, "message:sent");
    a.emit("message:send", { recipientId: bob.id, content: `round ${round}`, tempId: `r${round}` });
    const [[message], [ack]] = await Promise.all([received, sent]);
    if (message.content !== `round ${round}` || ack.tempId !== `r${round}`) {
      throw new Error(`round ${round}: got ${JSON.stringify([message, ack])}`);
    }
    a.disconnect();
    b.disconnect();
  }
  console.log(`  ok - ${ROUNDS} rounds: default options, upgraded, DM delivered and acknowledged`);
  console.log(`  ok - sessions owned by ${owners.size} process(es): ${[...owners].join(", ")}`);
  console.log("JS client check (chat): PASS");
}

async function main() {
  if (MODE === "chat") return chatMain();
  console.log(`socket.io-client ${clientVersion} against ${URL}`);
  await startServer();

  // 1. Defaults: HTTP long-polling first, then upgrade to websocket.
  const polling = io(URL, { auth: { token: "abc" }, reconnection: false });
  const pollingAuth = once(polling, "auth");
  // The manager opens its engine synchronously: observe the first transport and upgrade.
  assertEqual(polling.io.engine.transport.name, "polling", "default: starts on polling");
  const upgraded = withTimeout(
    new Promise((resolve) => polling.io.engine.once("upgrade", resolve)),
    "upgrade",
  );
  await once(polling, "connect");
  await exercise(polling, "default", pollingAuth);
  await upgraded;
  assertEqual(polling.io.engine.transport.name, "websocket", "default: upgraded to websocket");
  await exercise(polling, "default after upgrade");
  polling.disconnect();

  // 2. Websocket only, and reconnection after a server restart.
  const ws = io(URL, {
    auth: { token: "abc" },
    transports: ["websocket"],
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
  });
  const wsAuth = once(ws, "auth");
  await once(ws, "connect");
  assertEqual(ws.io.engine.transport.name, "websocket", "websocket-only: transport");
  await exercise(ws, "websocket-only", wsAuth);
  if (TARGET) {
    ws.disconnect();
    console.log("JS client check: PASS (external server: restart step skipped)");
    return;
  }

  const disconnected = once(ws, "disconnect");
  await stopServer();
  const [reason] = await disconnected;
  console.log(`  ok - disconnected on server stop (${reason})`);
  const reconnected = once(ws, "auth");
  await startServer();
  await withTimeout(reconnected, "reconnect");
  console.log("  ok - reconnected after server restart");
  const back = once(ws, "message-back");
  ws.emit("message", "after restart");
  assertEqual(await back, ["after restart"], "websocket-only: emit after reconnect");
  ws.disconnect();

  await stopServer();
  console.log("JS client check: PASS");
}

main().catch(async (error) => {
  console.error(`JS client check: FAIL: ${error.stack || error}`);
  if (server) await stopServer();
  process.exit(1);
});
