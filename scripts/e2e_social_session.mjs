// Issue 6: a social session with the official socket.io-client 4.
//
//   E2E_URL=http://127.0.0.1:PORT node scripts/e2e_social_session.mjs   (or scripts/e2e_run.sh)
//
// Covers: friendship request/accept (REST + the client's friend:notify → friend:update),
// a message request accepted over REST (conversation:accepted), reactions, edit (+ edit
// history), unsend, reply (snapshot taken from the stored message), block/unblock
// (message:blocked), group management (create/invite, accept/memberJoined, group:message
// both ways, promote, transfer ownership, leave) and the RPC acks groups:list,
// friends:list and conversations:request compared with their REST routes.
import {
  api,
  call,
  connect,
  eq,
  finish,
  isIso,
  keys,
  makeUser,
  ok,
  step,
  subset,
  tempId,
} from "./e2e_lib.mjs";

const USER_CARD = ["id", "username", "displayName", "firstName", "lastName", "profileImage", "email", "privacyOnlineStatus"];
const FRIENDSHIP_ROW = ["id", "requesterId", "addresseeId", "status", "createdAt", "updatedAt"];
const CONVERSATION_ROW = [
  "id", "participantA", "participantB", "initiatorId", "status", "createdAt", "updatedAt",
  "summary", "summaryMessageCount", "summaryGeneratedAt",
];
const GROUP_ROW = [
  "id", "name", "description", "profileImage", "coverImage", "ownerId", "createdAt", "updatedAt",
  "summary", "summaryMessageCount", "summaryGeneratedAt",
];
const MEMBER_ROW = ["id", "userId", "groupId", "role", "status", "invitedBy", "joinedAt", "user"];
const memberUser = (u) => ({ id: u.id, username: u.username, displayName: u.displayName, profileImage: null });
const fromOf = memberUser;

const alice = await step("register alice", () => makeUser("Alice"));
const bob = await step("register bob", () => makeUser("Bob"));
const carol = await step("register carol", () => makeUser("Carol"));

let a, b, c;
await step("alice, bob and carol connect (presence:update, socket:ready) and upgrade", async () => {
  a = (await connect(alice)).client;
  b = (await connect(bob)).client;
  c = (await connect(carol)).client;
  for (const x of [a, b, c]) await x.upgrade();
});

// --- friends -----------------------------------------------------------------
let friendshipId;
await step("alice POST /api/friends/request {addresseeId: bob} → 201 pending FriendshipFull", async () => {
  const body = await call("POST", "/api/friends/request", 201, { token: alice.token, json: { addresseeId: bob.id } });
  keys(body, ["friendship"], "friend request body");
  keys(body.friendship, FRIENDSHIP_ROW.concat(["requester", "addressee"]), "friendship (FriendshipFull)");
  subset(body.friendship, { requesterId: alice.id, addresseeId: bob.id, status: "pending" }, "friendship");
  keys(body.friendship.addressee, USER_CARD, "friendship.addressee (UserCard)");
  friendshipId = body.friendship.id;
});

await step("alice friend:notify request → bob (and alice) get friend:update from alice", async () => {
  a.emit("friend:notify", { type: "request", addresseeId: bob.id, friendshipId });
  const expected = { type: "request", friendshipId, from: fromOf(alice) };
  eq(await b.next("friend:update", (u) => u.type === "request"), expected, "bob: friend:update");
  eq(await a.next("friend:update", (u) => u.type === "request"), expected, "alice: friend:update (caller)");
});

await step("bob GET /api/friends/requests/incoming lists alice's request", async () => {
  const body = await call("GET", "/api/friends/requests/incoming", 200, { token: bob.token });
  eq(body.requests.map((r) => [r.friendshipId, r.user.id]), [[friendshipId, alice.id]], "incoming requests");
});

await step("bob POST /api/friends/:id/accept → accepted; friend:notify accepted → alice gets friend:update", async () => {
  const body = await call("POST", `/api/friends/${friendshipId}/accept`, 200, { token: bob.token });
  subset(body.friendship, { id: friendshipId, status: "accepted", requesterId: alice.id, addresseeId: bob.id }, "accepted friendship");
  b.emit("friend:notify", { type: "accepted", addresseeId: alice.id, friendshipId });
  eq(await a.next("friend:update", (u) => u.type === "accepted"), { type: "accepted", friendshipId, from: fromOf(bob) }, "alice: friend:update");
  await b.next("friend:update", (u) => u.type === "accepted");
});

await step("a friend:notify for a change that did not happen is not relayed", async () => {
  c.emit("friend:notify", { type: "accepted", addresseeId: alice.id, friendshipId });
  await a.none("friend:update", (u) => u.from && u.from.id === carol.id, 500, "forged by carol");
});

await step("friends:list ack equals GET /api/friends (both sides)", async () => {
  for (const [x, u, other] of [[a, alice, bob], [b, bob, alice]]) {
    const rest = await call("GET", "/api/friends", 200, { token: u.token });
    eq(rest.friends.map((f) => [f.friendshipId, f.user.id]), [[friendshipId, other.id]], `${u.name}: GET /api/friends`);
    keys(rest.friends[0], ["friendshipId", "since", "user"], `${u.name}: friends[0]`);
    keys(rest.friends[0].user, USER_CARD, `${u.name}: friends[0].user (UserCard)`);
    eq(await x.ack("friends:list", {}), rest, `${u.name}: friends:list ack vs REST`);
  }
});

// --- message request carol → alice --------------------------------------------------
let requestConv, requestMessage;
await step("carol → alice first message is a pending message request", async () => {
  const t = tempId();
  c.emit("message:send", { recipientId: alice.id, content: "Accept test from carol", tempId: t });
  const got = await a.next("message:received", (m) => m.senderId === carol.id);
  subset(got, { conversationStatus: "pending", status: "sent", content: "Accept test from carol" }, "alice: message:received");
  requestMessage = got;
  const mine = await c.next("message:sent", (m) => m.tempId === t);
  subset(mine, { conversationStatus: "pending", conversationId: got.conversationId }, "carol: message:sent");
  requestConv = got.conversationId;
});

await step("while pending: alice's read receipt and carol's typing are suppressed, alice's typing is not", async () => {
  a.emit("message:read", requestMessage.id);
  c.emit("typing:start", { recipientId: alice.id });
  a.emit("typing:start", { recipientId: carol.id });
  eq(
    await c.next("typing:status"),
    { userId: alice.id, username: alice.username, isTyping: true, type: "direct" },
    "carol (initiator): typing:status from the recipient",
  );
  await c.none("message:status", () => true, 300, "read receipt in a pending conversation");
  await a.none("typing:status", () => true, 0, "initiator typing in a pending conversation");
});

await step("carol (initiator) may not accept her own request (403)", async () => {
  const r = await api("POST", `/api/conversations/${requestConv}/accept`, { token: carol.token });
  eq({ status: r.status, body: r.body }, { status: 403, body: { error: "Not authorised or conversation not found" } }, "initiator accept");
});

await step("alice POST /api/conversations/:id/accept → ConversationRow accepted, carol gets conversation:accepted", async () => {
  const body = await call("POST", `/api/conversations/${requestConv}/accept`, 200, { token: alice.token });
  keys(body, ["conversation"], "accept body");
  keys(body.conversation, CONVERSATION_ROW, "conversation (ConversationRow)");
  const pair = [alice.id, carol.id].sort();
  subset(
    body.conversation,
    { id: requestConv, status: "accepted", initiatorId: carol.id, participantA: pair[0], participantB: pair[1] },
    "conversation",
  );
  eq(await c.next("conversation:accepted"), { conversationId: requestConv, acceptedBy: alice.id }, "carol: conversation:accepted");
});

await step("carol's next message arrives as accepted + delivered", async () => {
  const t = tempId();
  c.emit("message:send", { recipientId: alice.id, content: "Thanks for accepting", tempId: t });
  const got = await a.next("message:received", (m) => m.content === "Thanks for accepting");
  subset(got, { conversationStatus: "accepted", status: "delivered", conversationId: requestConv }, "alice: message:received");
});

// --- DMs between friends: reactions, edit, reply, unsend ------------------------------
async function dm(from, fromClient, to, toClient, content, extra = {}) {
  const t = tempId();
  fromClient.emit("message:send", { recipientId: to.id, content, tempId: t, ...extra });
  const got = await toClient.next("message:received", (m) => m.senderId === from.id && m.content === content);
  const mine = await fromClient.next("message:sent", (m) => m.tempId === t);
  eq(mine.id, got.id, "message:sent.id = message:received.id");
  return got;
}

let first;
await step("friends' first DM: conversation created accepted (friends), delivered", async () => {
  first = await dm(alice, a, bob, b, "React to me");
  subset(first, { conversationStatus: "accepted", status: "delivered" }, "bob: message:received");
});

const reactions = (...list) => list.map(([u, emoji]) => ({ userId: u.id, username: u.username, emoji }));
await step("bob message:react 👍 → both get message:reaction with the full list", async () => {
  b.emit("message:react", { messageId: first.id, emoji: "👍" });
  const expected = { messageId: first.id, reactions: reactions([bob, "👍"]) };
  eq(await a.next("message:reaction"), expected, "alice: message:reaction");
  eq(await b.next("message:reaction"), expected, "bob: message:reaction");
});

await step("alice reacts ❤️, bob toggles 👍 off → lists [bob👍, alice❤️] then [alice❤️]", async () => {
  a.emit("message:react", { messageId: first.id, emoji: "❤️" });
  const both = await a.next("message:reaction");
  const sorted = (r) => [...r.reactions].sort((x, y) => x.userId.localeCompare(y.userId));
  eq(sorted(both), reactions([bob, "👍"], [alice, "❤️"]).sort((x, y) => x.userId.localeCompare(y.userId)), "alice: reactions after ❤️");
  await b.next("message:reaction");
  b.emit("message:react", { messageId: first.id, emoji: "👍" });
  eq(await a.next("message:reaction"), { messageId: first.id, reactions: reactions([alice, "❤️"]) }, "alice: reactions after toggle");
  await b.next("message:reaction");
});

await step("carol (not a participant) cannot react to alice↔bob's message", async () => {
  c.emit("message:react", { messageId: first.id, emoji: "😈" });
  await a.none("message:reaction", () => true, 400, "reaction by a non-participant");
});

await step("alice message:edit → both get message:edited (content trimmed)", async () => {
  a.emit("message:edit", { messageId: first.id, content: "  Edited text  ", recipientId: bob.id });
  const got = await b.next("message:edited");
  keys(got, ["messageId", "content", "editedAt"], "bob: message:edited");
  subset(got, { messageId: first.id, content: "Edited text" }, "bob: message:edited");
  ok(isIso(got.editedAt), "message:edited.editedAt is an ISO string", got.editedAt);
  eq(await a.next("message:edited"), got, "alice: message:edited");
});

await step("bob may not edit alice's message → error Not authorised to edit this message", async () => {
  b.emit("message:edit", { messageId: first.id, content: "hijack" });
  eq(await b.next("error"), { message: "Not authorised to edit this message" }, "bob: error");
});

await step("GET /api/messages/:id/edits → one edit with previousContent and editedBy", async () => {
  const body = await call("GET", `/api/messages/${first.id}/edits`, 200, { token: bob.token });
  keys(body, ["messageId", "edits"], "edits body");
  eq(body.messageId, first.id, "edits.messageId");
  eq(body.edits.length, 1, "number of edits");
  keys(body.edits[0], ["id", "previousContent", "editedAt", "editedBy"], "edits[0]");
  subset(body.edits[0], { previousContent: "React to me", editedBy: { id: alice.id, username: alice.username, displayName: alice.displayName } }, "edits[0]");
  const r = await api("GET", `/api/messages/${first.id}/edits`, { token: carol.token });
  eq({ status: r.status, body: r.body }, { status: 403, body: { error: "Forbidden" } }, "carol GET edits");
});

let reply;
await step("bob replies with a forged replyTo → snapshot comes from the stored message", async () => {
  reply = await dm(bob, b, alice, a, "Replying to you", {
    replyTo: { id: first.id, content: "FORGED CONTENT", senderDisplayName: "Mallory", type: "image", duration: 99 },
  });
  ok(reply.replyTo && typeof reply.replyTo === "object", "alice: message:received.replyTo present", reply);
  subset(reply.replyTo, { id: first.id, content: "Edited text", type: "text" }, "alice: message:received.replyTo");
  ok(reply.replyTo.senderDisplayName === alice.displayName, `replyTo.senderDisplayName is the quoted sender "${alice.displayName}"`, reply.replyTo);
  const hist = await call("GET", `/api/messages/${alice.id}?limit=5`, 200, { token: bob.token });
  const stored = hist.messages.find((m) => m.id === reply.id);
  eq(
    stored.replyTo,
    { id: first.id, content: "Edited text", senderDisplayName: alice.displayName, senderUsername: alice.displayName, type: "text", duration: null },
    "history replyTo (both sender fields = the one stored name)",
  );
});

let gone;
await step("alice message:unsend → both get message:unsent; history shows it blank", async () => {
  gone = await dm(alice, a, bob, b, "Unsend me please");
  b.emit("message:unsend", gone.id); // not the sender: ignored
  await a.none("message:unsent", () => true, 300, "unsend by the recipient");
  a.emit("message:unsend", gone.id);
  const expected = { messageId: gone.id, senderDisplayName: alice.displayName };
  eq(await b.next("message:unsent"), expected, "bob: message:unsent");
  eq(await a.next("message:unsent"), expected, "alice: message:unsent");
  const hist = await call("GET", `/api/messages/${alice.id}?limit=5`, 200, { token: bob.token });
  subset(hist.messages.find((m) => m.id === gone.id), { unsent: true, content: "", type: "text", edited: false }, "history: unsent message");
});

// --- block / unblock ------------------------------------------------------------------
await step("alice POST /api/friends/:bobId/block → blocked row", async () => {
  const body = await call("POST", `/api/friends/${bob.id}/block`, 200, { token: alice.token });
  keys(body, ["friendship"], "block body");
  keys(body.friendship, FRIENDSHIP_ROW.concat(["addressee"]), "block friendship");
  subset(body.friendship, { requesterId: alice.id, addresseeId: bob.id, status: "blocked" }, "block friendship");
  eq(await call("GET", `/api/friends/${alice.id}/block-status`, 200, { token: bob.token }), { blocked: true, blockedByMe: false }, "bob: block-status");
});

await step("while blocked: both directions answer message:blocked, nothing is delivered", async () => {
  const t1 = tempId();
  a.emit("message:send", { recipientId: bob.id, content: "Should fail (blocker)", tempId: t1 });
  eq(await a.next("message:blocked"), { recipientId: bob.id, tempId: t1, reason: "You have blocked this user" }, "alice: message:blocked");
  const t2 = tempId();
  b.emit("message:send", { recipientId: alice.id, content: "Should fail (blocked)", tempId: t2 });
  eq(await b.next("message:blocked"), { recipientId: alice.id, tempId: t2, reason: "Could not deliver — you're blocked" }, "bob: message:blocked");
  await b.none("message:received", (m) => m.content.startsWith("Should fail"), 300);
  await a.none("message:received", (m) => m.content.startsWith("Should fail"), 0);
});

await step("alice POST /api/friends/:bobId/unblock → sending works again", async () => {
  eq(await call("POST", `/api/friends/${bob.id}/unblock`, 200, { token: alice.token }), { success: true }, "unblock body");
  const got = await dm(alice, a, bob, b, "Unblocked now");
  subset(got, { conversationStatus: "accepted" }, "bob: message:received after unblock");
});

await step("conversations:request ack equals GET /api/users/conversations", async () => {
  const byId = (x) => [...x.conversations].sort((p, q) => p.id.localeCompare(q.id));
  const rest = await call("GET", "/api/users/conversations", 200, { token: alice.token });
  eq(rest.conversations.map((x) => x.id).sort(), [bob.id, carol.id].sort(), "alice's conversation partners");
  const ack = await a.ack("conversations:request", {});
  keys(ack, ["conversations"], "conversations:request ack");
  eq(byId(ack), byId(rest), "conversations:request ack vs REST (sorted by partner id)");
  const withBob = rest.conversations.find((x) => x.id === bob.id);
  subset(withBob, { isFriend: false, isBlocked: false, blockedByMe: false, conversationStatus: "accepted" }, "entry for bob (friendship ended by the block)");
  eq(withBob.lastMessage && withBob.lastMessage.content, "Unblocked now", "entry for bob: lastMessage.content");
});

// --- groups ---------------------------------------------------------------------------
let group;
const groupName = `E2E Group ${Date.now()}`;
await step("alice POST /api/groups with bob → group:created to alice, group:invite to bob", async () => {
  const body = await call("POST", "/api/groups", 200, {
    token: alice.token,
    json: { name: `  ${groupName}  `, description: "e2e social session", memberIds: [bob.id, bob.id] },
  });
  keys(body, ["group"], "create group body");
  keys(body.group, GROUP_ROW.concat(["members"]), "group");
  subset(body.group, { name: groupName, description: "e2e social session", ownerId: alice.id }, "group");
  eq(body.group.members.map((m) => [m.userId, m.role, m.status]), [[alice.id, "owner", "accepted"]], "group.members (accepted only)");
  keys(body.group.members[0], MEMBER_ROW, "group.members[0] (GroupMemberRow)");
  group = body.group;
  const created = await a.next("group:created", (g) => g.group && g.group.id === group.id);
  eq(created.group.id, group.id, "alice: group:created.group.id");
  eq(
    await b.next("group:invite"),
    { groupId: group.id, groupName, memberCount: 1, invitedBy: alice.displayName },
    "bob: group:invite",
  );
});

await step("bob POST /api/groups/:id/accept → alice gets group:memberJoined (+ inviteAccepted, system message)", async () => {
  const body = await call("POST", `/api/groups/${group.id}/accept`, 200, { token: bob.token });
  eq(body.group.members.map((m) => m.userId).sort(), [alice.id, bob.id].sort(), "accept: group.members");
  const joined = await a.next("group:memberJoined");
  keys(joined, ["groupId", "userId", "member"], "alice: group:memberJoined");
  subset(joined, { groupId: group.id, userId: bob.id }, "alice: group:memberJoined");
  keys(joined.member, ["id", "userId", "role", "user"], "group:memberJoined.member");
  subset(joined.member, { userId: bob.id, role: "member", user: memberUser(bob) }, "group:memberJoined.member");
  eq(await a.next("group:inviteAccepted"), { groupId: group.id, groupName, acceptedBy: bob.displayName }, "alice: group:inviteAccepted");
  const created = await b.next("group:created", (g) => g.group && g.group.id === group.id);
  eq(created.group.members.length, 2, "bob: group:created.group.members (accepted)");
  for (const [x, who] of [[a, "alice"], [b, "bob"]]) {
    const sys = await x.next("group:message", (m) => m.type === "system");
    eq(
      { ...sys, id: "?", createdAt: "?" },
      { id: "?", groupId: group.id, senderId: alice.id, content: `${bob.displayName} joined the group`, type: "system", createdAt: "?", sender: null },
      `${who}: system group:message`,
    );
  }
});

const groupMessages = [];
for (const [u, x, others, text] of [
  [() => alice, () => a, () => [b], "Group msg from alice"],
  [() => bob, () => b, () => [a], "Group msg from bob"],
]) {
  await step(`${text.split(" ").pop()} group:message with tempId → every member gets group:message`, async () => {
    const t = tempId();
    x().emit("group:message", { groupId: group.id, content: text, tempId: t });
    const mine = await x().next("group:message", (m) => m.tempId === t);
    subset(mine, { groupId: group.id, senderId: u().id, content: text, type: "text", sender: memberUser(u()), tempId: t }, "sender: group:message");
    for (const k of ["fileUrl", "fileName", "fileSize", "fileType", "linkPreview", "deletedAt", "createdAt", "waveform", "duration"]) {
      ok(k in mine, `group:message has key ${k}`, mine);
    }
    for (const o of others()) {
      const got = await o.next("group:message", (m) => m.id === mine.id);
      eq(got.content, text, "other member: group:message.content");
    }
    groupMessages.push(mine.id);
  });
}

await step("GET /api/groups/:id/messages has system + both messages in order", async () => {
  const body = await call("GET", `/api/groups/${group.id}/messages`, 200, { token: bob.token });
  eq(
    body.messages.map((m) => [m.type, m.content]),
    [["system", `${bob.displayName} joined the group`], ["text", "Group msg from alice"], ["text", "Group msg from bob"]],
    "group history",
  );
});

await step("groups:list ack equals GET /api/groups", async () => {
  const rest = await call("GET", "/api/groups", 200, { token: bob.token });
  eq(rest.groups.map((g) => g.id), [group.id], "bob: GET /api/groups ids");
  subset(rest.groups[0].lastMessage, { id: groupMessages[1], content: "Group msg from bob" }, "groups[0].lastMessage");
  eq(await b.ack("groups:list", {}), rest, "bob: groups:list ack vs REST");
});

await step("alice promotes bob (PATCH …/promote) → both get group:memberPromoted", async () => {
  eq(await call("PATCH", `/api/groups/${group.id}/members/${bob.id}/promote`, 200, { token: alice.token }), { success: true }, "promote body");
  const expected = { groupId: group.id, memberId: bob.id, promotedBy: alice.id };
  eq(await a.next("group:memberPromoted"), expected, "alice: group:memberPromoted");
  eq(await b.next("group:memberPromoted"), expected, "bob: group:memberPromoted");
});

await step("alice transfers ownership to bob → both get group:ownershipTransferred", async () => {
  eq(await call("POST", `/api/groups/${group.id}/transfer-ownership`, 200, { token: alice.token, json: { newOwnerId: bob.id } }), { success: true }, "transfer body");
  const expected = { groupId: group.id, newOwnerId: bob.id };
  eq(await a.next("group:ownershipTransferred"), expected, "alice: group:ownershipTransferred");
  eq(await b.next("group:ownershipTransferred"), expected, "bob: group:ownershipTransferred");
  const detail = await call("GET", `/api/groups/${group.id}`, 200, { token: bob.token });
  eq(
    detail.group.members.map((m) => [m.userId, m.role]).sort(),
    [[alice.id, "owner"], [bob.id, "owner"]].sort(),
    "roles after transfer (the caller stays owner)",
  );
});

await step("alice leaves → bob gets group:memberLeft, alice group:removed", async () => {
  eq(await call("POST", `/api/groups/${group.id}/leave`, 200, { token: alice.token }), { success: true, deleted: false }, "leave body");
  eq(await b.next("group:memberLeft"), { groupId: group.id, memberId: alice.id }, "bob: group:memberLeft");
  eq(await a.next("group:removed"), { groupId: group.id }, "alice: group:removed");
  const sys = await b.next("group:message", (m) => m.type === "system" && m.content.includes("left"));
  eq(sys.content, `${alice.displayName} left the group`, "bob: system message");
  await a.none("group:ownerChanged", () => true, 0, "bob already owns the group");
});

await step("after leaving: groups:list acks equal GET /api/groups for both", async () => {
  for (const [x, u, ids] of [[a, alice, []], [b, bob, [group.id]]]) {
    const rest = await call("GET", "/api/groups", 200, { token: u.token });
    eq(rest.groups.map((g) => g.id), ids, `${u.name}: GET /api/groups ids`);
    eq(await x.ack("groups:list", {}), rest, `${u.name}: groups:list ack vs REST`);
  }
});

finish("e2e_social_session");
