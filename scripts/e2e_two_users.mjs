// Issue 4: two users, one scripted session with the official socket.io-client 4.
//
//   E2E_URL=http://127.0.0.1:PORT node scripts/e2e_two_users.mjs   (or scripts/e2e_run.sh)
//
// Covers: connect sequence (presence:update, socket:ready) over polling → websocket,
// message:send / message:received / message:sent with tempId, auto-accept of the
// message request (conversation:accepted), presence (user:status online/offline,
// presence:request → presence:response), receipts (message:received / message:read →
// message:status), typing, image upload + message:send with messageId, voice note
// upload with a waveform + PATCH waveform → audio:waveform, offline delivery and
// history (REST and the messages:history ack) and the authenticated download.
// Attachments come as signed links (SEC-17): a plain GET (what an <img> does) loads
// them; the bare path does not.
import { randomUUID } from "node:crypto";

import {
  api,
  call,
  connect,
  eq,
  finish,
  isIso,
  keys,
  makePng,
  makeUser,
  makeWav,
  ok,
  step,
  subset,
  tempId,
} from "./e2e_lib.mjs";

const DM_KEYS = [
  "id", "senderId", "recipientId", "senderUsername", "senderDisplayName", "senderProfileImage",
  "content", "unsent", "edited", "editedAt", "type", "status", "isRead", "readAt", "createdAt",
  "fileUrl", "fileName", "fileSize", "fileType", "waveform", "duration", "reactions", "linkPreview",
];
const SENT_KEYS = [
  "id", "senderId", "recipientId", "content", "type", "timestamp", "status", "fileUrl", "fileName",
  "fileSize", "fileType", "waveform", "duration", "conversationId", "conversationStatus",
];
const RECEIVED_KEYS = [
  "id", "senderId", "recipientId", "senderUsername", "senderDisplayName", "senderProfileImage",
  "senderIsGuest", "content", "type", "timestamp", "status", "conversationId", "conversationStatus",
];
const RECEIVED_FILE_KEYS = ["fileUrl", "fileName", "fileSize", "fileType", "waveform", "duration"];

const alice = await step("register alice (REST, test-mode bypass login)", () => makeUser("Alice"));
const bob = await step("register bob (REST, test-mode bypass login)", () => makeUser("Bob"));

let a, b;
await step("alice connects: presence:update (nobody online) then socket:ready", async () => {
  const c = await connect(alice);
  a = c.client;
  eq(c.presence.onlineUsers, [], "alice: presence:update.onlineUsers (no contacts yet)");
});
await step("bob connects: presence:update then socket:ready", async () => {
  const c = await connect(bob);
  b = c.client;
  eq(c.presence.onlineUsers, [], "bob: presence:update.onlineUsers (no contacts yet)");
});
await step("both clients started on polling and upgraded to websocket", async () => {
  await a.upgrade();
  await b.upgrade();
});

// Every message of the conversation, in the order it was sent.
const sent = [];

let conversationId;
await step("alice → bob message:send with tempId: bob gets message:received, alice message:sent", async () => {
  const t = tempId();
  a.emit("message:send", { recipientId: bob.id, content: "Hello bob", tempId: t });
  const got = await b.next("message:received", (m) => m.content === "Hello bob");
  keys(got, RECEIVED_KEYS, "bob: message:received", RECEIVED_FILE_KEYS.concat(["replyTo", "linkPreview"]));
  subset(
    got,
    {
      senderId: alice.id, recipientId: bob.id, senderUsername: alice.username,
      senderDisplayName: alice.displayName, senderIsGuest: false, type: "text",
      status: "sent", conversationStatus: "pending",
    },
    "bob: message:received (first message = pending message request)",
  );
  ok(isIso(got.timestamp), "message:received.timestamp is an ISO string", got.timestamp);
  const mine = await a.next("message:sent", (m) => m.tempId === t);
  keys(mine, SENT_KEYS.concat(["tempId"]), "alice: message:sent", ["replyTo", "linkPreview"]);
  subset(
    mine,
    {
      id: got.id, tempId: t, senderId: alice.id, recipientId: bob.id, content: "Hello bob",
      type: "text", status: "sent", conversationStatus: "pending", fileUrl: null, fileName: null,
      fileSize: null, fileType: null, waveform: null, duration: null, conversationId: got.conversationId,
    },
    "alice: message:sent",
  );
  conversationId = got.conversationId;
  sent.push({ id: got.id, senderId: alice.id, content: "Hello bob", type: "text" });
});

await step("bob replies: conversation auto-accepted (alice gets conversation:accepted), delivered", async () => {
  const t = tempId();
  b.emit("message:send", { recipientId: alice.id, content: "Hi alice", tempId: t });
  const acc = await a.next("conversation:accepted");
  eq(acc, { conversationId, acceptedBy: bob.id }, "alice: conversation:accepted");
  const got = await a.next("message:received", (m) => m.content === "Hi alice");
  subset(
    got,
    { senderId: bob.id, recipientId: alice.id, conversationId, conversationStatus: "accepted", status: "delivered" },
    "alice: message:received",
  );
  const mine = await b.next("message:sent", (m) => m.tempId === t);
  subset(mine, { id: got.id, status: "delivered", conversationStatus: "accepted" }, "bob: message:sent");
  sent.push({ id: got.id, senderId: bob.id, content: "Hi alice", type: "text" });
});

await step("presence: bob leaves → alice gets user:status offline", async () => {
  b.close();
  const st = await a.next("user:status", (s) => s.userId === bob.id && s.status === "offline");
  keys(st, ["userId", "username", "status", "lastSeen"], "alice: user:status (disconnect)");
  subset(st, { username: bob.username }, "alice: user:status (disconnect)");
  ok(isIso(st.lastSeen), "user:status.lastSeen is an ISO string", st.lastSeen);
});

await step("presence: bob comes back → alice gets user:status online, bob's snapshot lists alice", async () => {
  const c = await connect(bob);
  b = c.client;
  eq(c.presence.onlineUsers, [{ userId: alice.id, status: "online" }], "bob: presence:update.onlineUsers");
  const st = await a.next("user:status", (s) => s.userId === bob.id && s.status === "online");
  keys(st, ["userId", "username", "status", "timestamp"], "alice: user:status (connect)");
  eq(st.username, bob.username, "alice: user:status.username");
  await b.upgrade();
});

await step("presence:request → presence:response (bob online, a stranger offline+hidden)", async () => {
  const stranger = randomUUID();
  a.emit("presence:request", [bob.id, stranger]);
  const resp = await a.next("presence:response");
  ok(Array.isArray(resp) && resp.length === 2, "presence:response is a bare array of 2 entries", resp);
  keys(resp[0], ["userId", "status", "lastSeen", "hidden"], "presence:response[0]");
  subset(resp[0], { userId: bob.id, status: "online", hidden: false }, "presence:response[0] (bob)");
  eq(resp[1], { userId: stranger, status: "offline", lastSeen: null, hidden: true }, "presence:response[1] (stranger)");
});

await step("receipts: bob message:received → alice message:status delivered", async () => {
  b.emit("message:received", sent[0].id);
  const st = await a.next("message:status", (s) => s.messageId === sent[0].id);
  keys(st, ["messageId", "status", "timestamp"], "alice: message:status");
  eq(st.status, "delivered", "alice: message:status.status");
});

await step("receipts: bob message:read (bare id) → alice message:status read", async () => {
  b.emit("message:read", sent[0].id);
  const st = await a.next("message:status", (s) => s.messageId === sent[0].id && s.status === "read");
  ok(isIso(st.timestamp), "message:status.timestamp is an ISO string", st);
});

await step("typing: alice typing:start / typing:stop → bob typing:status", async () => {
  a.emit("typing:start", { recipientId: bob.id });
  const on = await b.next("typing:status", (s) => s.isTyping === true);
  eq(on, { userId: alice.id, username: alice.username, isTyping: true, type: "direct" }, "bob: typing:status (start)");
  a.emit("typing:stop", { recipientId: bob.id });
  const off = await b.next("typing:status", (s) => s.isTyping === false);
  eq(off, { userId: alice.id, username: alice.username, isTyping: false, type: "direct" }, "bob: typing:status (stop)");
});

// --- image -----------------------------------------------------------------
// Attachment URLs are signed per presentation: compare their paths, check the signature's shape.
const SIGNED = /^(\/uploads\/[^?]+)\?exp=\d+&sig=[\w-]{43}$/;
const plain = (url) => (typeof url === "string" ? url.split("?")[0] : url);
const png = makePng();
let image;
await step(`alice uploads a ${png.length}-byte PNG (POST /api/messages/upload)`, async () => {
  const form = new FormData();
  form.append("recipientId", bob.id);
  form.append("type", "image");
  form.append("file", new Blob([png], { type: "image/png" }), "e2e-image.png");
  image = await call("POST", "/api/messages/upload", 200, { token: alice.token, form });
  keys(image, ["success", "messageId", "fileUrl", "fileName", "fileSize", "fileType", "needsWaveformGeneration"], "upload (image) body", ["waveform", "duration"]);
  subset(
    image,
    { success: true, fileName: "e2e-image.png", fileSize: png.length, fileType: "image/png", needsWaveformGeneration: false },
    "upload (image) body",
  );
  ok(SIGNED.test(image.fileUrl) && /^\/uploads\/messages\/.+\.png$/.test(plain(image.fileUrl)), "image fileUrl is a signed /uploads/messages/…png", image.fileUrl);
});

await step("alice message:send with messageId → bob gets the image with fileUrl/fileType", async () => {
  const t = tempId();
  const file = { fileName: image.fileName, fileSize: image.fileSize, fileType: image.fileType };
  a.emit("message:send", { recipientId: bob.id, content: image.fileName, type: "image", messageId: image.messageId, tempId: t, fileUrl: image.fileUrl, ...file });
  const got = await b.next("message:received", (m) => m.id === image.messageId);
  subset(got, { type: "image", content: "e2e-image.png", status: "delivered", ...file }, "bob: message:received (image)");
  ok(SIGNED.test(got.fileUrl) && plain(got.fileUrl) === plain(image.fileUrl), "bob: message:received.fileUrl is the image, signed", got.fileUrl);
  const mine = await a.next("message:sent", (m) => m.tempId === t);
  subset(mine, { id: image.messageId, type: "image", ...file }, "alice: message:sent (image)");
  ok(SIGNED.test(mine.fileUrl) && plain(mine.fileUrl) === plain(image.fileUrl), "alice: message:sent.fileUrl is the image, signed", mine.fileUrl);
  image.receivedUrl = got.fileUrl;
  sent.push({ id: image.messageId, senderId: alice.id, content: "e2e-image.png", type: "image", fileType: "image/png" });
});

await step("bob's plain GET of the signed fileUrl (as an <img> tag) → the PNG, privately cached; the bare path → 404", async () => {
  const r = await api("GET", image.receivedUrl, { raw: true });
  eq(r.status, 200, "GET signed fileUrl status");
  ok(Buffer.compare(r.bytes, png) === 0, "GET signed fileUrl bytes are the PNG", r.bytes.length);
  ok(/^private, max-age=\d+$/.test(r.headers.get("cache-control")), "Cache-Control is private", r.headers.get("cache-control"));
  const bare = await api("GET", plain(image.receivedUrl));
  eq({ status: bare.status, body: bare.body }, { status: 404, body: { error: "Not found" } }, "GET bare path without a token");
});

await step("bob message:read ({messageId, senderId} object form) → alice message:status read", async () => {
  b.emit("message:read", { messageId: image.messageId, senderId: alice.id });
  const st = await a.next("message:status", (s) => s.messageId === image.messageId);
  eq(st.status, "read", "alice: message:status.status (object form)");
});

// --- voice note ----------------------------------------------------------------
const wav = makeWav(0.25);
const uploadWave = Array.from({ length: 20 }, (_, i) => Math.round((0.1 + 0.8 * Math.abs(Math.sin(i / 3))) * 100) / 100);
const patchedWave = Array.from({ length: 20 }, (_, i) => Math.round((0.05 + 0.04 * i) * 100) / 100);
let voice;
await step(`alice uploads a ${wav.length}-byte WAV voice note with a waveform field`, async () => {
  const form = new FormData();
  form.append("recipientId", bob.id);
  form.append("waveform", JSON.stringify(uploadWave));
  form.append("file", new Blob([wav], { type: "audio/wav" }), "e2e-voice.wav");
  voice = await call("POST", "/api/messages/upload", 200, { token: alice.token, form });
  subset(
    voice,
    { success: true, fileName: "e2e-voice.wav", fileSize: wav.length, fileType: "audio/wav", waveform: uploadWave, needsWaveformGeneration: false },
    "upload (voice) body",
  );
  ok(!("duration" in voice), "upload (voice) body has no duration key when none was sent", voice);
  ok(SIGNED.test(voice.fileUrl) && /^\/uploads\/audio\/.+\.wav$/.test(plain(voice.fileUrl)), "voice fileUrl is a signed /uploads/audio/…wav", voice.fileUrl);
});

await step("alice message:send with messageId + duration → bob gets the voice note", async () => {
  const t = tempId();
  const file = { fileName: voice.fileName, fileSize: voice.fileSize, fileType: voice.fileType };
  a.emit("message:send", {
    recipientId: bob.id, content: "Voice message", type: "audio", messageId: voice.messageId, tempId: t,
    waveform: uploadWave, duration: 0.25, fileUrl: voice.fileUrl, ...file,
  });
  const got = await b.next("message:received", (m) => m.id === voice.messageId);
  subset(got, { type: "audio", content: "Voice message", waveform: uploadWave, duration: 0.25, ...file }, "bob: message:received (voice)");
  ok(SIGNED.test(got.fileUrl) && plain(got.fileUrl) === plain(voice.fileUrl), "bob: message:received.fileUrl is the voice note, signed", got.fileUrl);
  const mine = await a.next("message:sent", (m) => m.tempId === t);
  subset(mine, { id: voice.messageId, type: "audio", waveform: uploadWave, duration: 0.25 }, "alice: message:sent (voice)");
  sent.push({ id: voice.messageId, senderId: alice.id, content: "Voice message", type: "audio", fileType: "audio/wav" });
});

await step("PATCH /api/messages/:id/waveform (no duration) → both get audio:waveform with the stored duration", async () => {
  const body = await call("PATCH", `/api/messages/${voice.messageId}/waveform`, 200, {
    token: alice.token,
    json: { waveform: patchedWave },
  });
  eq(body, { success: true }, "PATCH waveform body");
  const expected = { messageId: voice.messageId, waveform: patchedWave, duration: 0.25 };
  eq(await a.next("audio:waveform", (w) => w.messageId === voice.messageId), expected, "alice: audio:waveform");
  eq(await b.next("audio:waveform", (w) => w.messageId === voice.messageId), expected, "bob: audio:waveform");
});

await step("bob may not PATCH alice's waveform (403 Access denied)", async () => {
  const r = await api("PATCH", `/api/messages/${voice.messageId}/waveform`, { token: bob.token, json: { waveform: [0.5] } });
  eq({ status: r.status, body: r.body }, { status: 403, body: { error: "Access denied" } }, "bob PATCH waveform");
});

// --- offline delivery and history ---------------------------------------------
await step("bob disconnects (alice gets user:status offline)", async () => {
  b.close();
  await a.next("user:status", (s) => s.userId === bob.id && s.status === "offline");
});

await step("alice sends two messages while bob is offline (message:sent status sent)", async () => {
  for (const content of ["While you were away 1", "While you were away 2"]) {
    const t = tempId();
    a.emit("message:send", { recipientId: bob.id, content, tempId: t });
    const mine = await a.next("message:sent", (m) => m.tempId === t);
    subset(mine, { content, status: "sent", conversationStatus: "accepted" }, "alice: message:sent (bob offline)");
    sent.push({ id: mine.id, senderId: alice.id, content, type: "text", tempId: t, timestamp: mine.timestamp });
  }
});

await step("alice replays the last send with the same tempId (client resend) → same message:sent, no new row", async () => {
  const last = sent[sent.length - 1];
  a.emit("message:send", { recipientId: bob.id, content: last.content, tempId: last.tempId });
  const again = await a.next("message:sent", (m) => m.tempId === last.tempId);
  eq([again.id, again.timestamp], [last.id, last.timestamp], "replayed message:sent [id, timestamp]");
});

await step("bob reconnects: alice in his presence snapshot, alice gets user:status online", async () => {
  const c = await connect(bob);
  b = c.client;
  eq(c.presence.onlineUsers, [{ userId: alice.id, status: "online" }], "bob: presence:update.onlineUsers");
  await a.next("user:status", (s) => s.userId === bob.id && s.status === "online");
});

function checkHistory(messages, what) {
  ok(Array.isArray(messages), `${what}: messages is an array`, messages);
  eq(
    messages.map((m) => [m.id, m.senderId, m.content, m.type]),
    sent.map((m) => [m.id, m.senderId, m.content, m.type]),
    `${what}: every message, in order ([id, senderId, content, type])`,
  );
  for (const m of messages) keys(m, DM_KEYS, `${what}: DMMessage ${m.content}`, ["replyTo"]);
  const img = messages.find((m) => m.id === image.messageId);
  subset(img, { fileName: "e2e-image.png", fileSize: png.length, fileType: "image/png", status: "read" }, `${what}: image`);
  ok(SIGNED.test(img.fileUrl) && plain(img.fileUrl) === plain(image.fileUrl), `${what}: image fileUrl, signed`, img.fileUrl);
  const vn = messages.find((m) => m.id === voice.messageId);
  subset(vn, { fileType: "audio/wav", waveform: patchedWave, duration: 0.25 }, `${what}: voice note`);
  ok(SIGNED.test(vn.fileUrl) && plain(vn.fileUrl) === plain(voice.fileUrl), `${what}: voice fileUrl, signed`, vn.fileUrl);
  subset(messages[0], { status: "read", unsent: false, edited: false, reactions: [] }, `${what}: first message`);
  ok(messages.every((m, i) => i === 0 || Date.parse(m.createdAt) >= Date.parse(messages[i - 1].createdAt)), `${what}: createdAt ascending`, messages.map((m) => m.createdAt));
}

await step(`bob loads history over REST (GET /api/messages/:aliceId): all ${sent.length} messages in order`, async () => {
  const body = await call("GET", `/api/messages/${alice.id}`, 200, { token: bob.token });
  keys(body, ["messages", "hasMore"], "GET history body");
  eq(body.hasMore, false, "GET history hasMore");
  checkHistory(body.messages, "REST history");
});

await step("bob loads history over the socket (messages:history ack): same messages in order", async () => {
  const body = await b.ack("messages:history", { recipientId: alice.id });
  keys(body, ["messages", "hasMore"], "messages:history ack");
  eq(body.hasMore, false, "messages:history hasMore");
  checkHistory(body.messages, "messages:history");
});

for (const [label, msg, bytes, type] of [
  ["PNG", () => image, png, "image/png"],
  ["WAV", () => voice, wav, "audio/wav"],
]) {
  await step(`bob downloads the ${label} (GET /api/messages/download/:id, Bearer): same bytes`, async () => {
    const { messageId, fileName } = msg();
    const r = await api("GET", `/api/messages/download/${messageId}`, { token: bob.token, raw: true });
    eq(r.status, 200, `download ${label} status`);
    eq(r.headers.get("content-type"), type, `download ${label} Content-Type`);
    ok((r.headers.get("content-disposition") || "").includes(`attachment; filename="${fileName}"`), `download ${label} Content-Disposition names ${fileName}`, r.headers.get("content-disposition"));
    ok(Buffer.compare(r.bytes, bytes) === 0, `download ${label}: bytes differ from the upload (got ${r.bytes.length} bytes, sent ${bytes.length})`);
  });
}

await step("download without the Bearer header is refused (401)", async () => {
  const r = await api("GET", `/api/messages/download/${image.messageId}`, { raw: true });
  eq(r.status, 401, "download without auth status");
});

finish("e2e_two_users");
