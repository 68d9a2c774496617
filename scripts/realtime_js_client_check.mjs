// Drives socket.io-client 4 against `python -m chatr_server.realtime.conformance`.
// Started by realtime_js_client_check.sh (which sets PYTHON and NODE_MODULES_DIR).
import { spawn } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_MODULES_DIR + "/");
const { io } = require("socket.io-client");
const clientVersion = require("socket.io-client/package.json").version;

const PORT = Number(process.env.PORT || 3100);
const URL = `http://127.0.0.1:${PORT}`;
const TIMEOUT_MS = 5000;

let server = null;

function startServer() {
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

async function main() {
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
