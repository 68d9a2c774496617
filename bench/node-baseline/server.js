// Minimal Node baseline for bench/compare: socket.io 4 + pg, the same
// workload as chatr_server's message:send hot path and nothing else.
//
//   PORT=3201 DATABASE_URL=postgresql://... JWT_SECRET=... node server.js
//
// Handshake: auth.token must be an HS256 JWT signed with JWT_SECRET carrying
// {userId} (the tokens chatr_server issues; verified here with node:crypto),
// then one SELECT of the user row. The socket joins room user:<id> and gets
// socket:ready. message:send runs bench/send.sql (conversation lookup +
// INSERT ... ON CONFLICT (sender_id, temp_id) DO NOTHING, one round trip),
// then emits message:received to user:<recipient> and message:sent to the
// sender, with the payload fields of events.md §7.2. Presence is an
// in-memory count of sockets per user (one process, like the others).
//
// BASELINE_FULL=1 (bench/compare's "node-full") does the closest equivalent
// of chatr_server's conversation logic and connect sequence: message:send
// runs bench/send_create.sql (the conversation is created when the pair has
// none), and the handshake runs bench/contacts.sql instead of the user select
// (the user row and its contacts C with the pending-outgoing flag P, one
// round trip); on connect the socket joins user:<id>, user:status online goes
// to the rooms of the online contacts in C - P (unless the user is hidden),
// then presence:update {status, onlineUsers} and socket:ready; the last
// disconnect of a user sends user:status offline the same way and stores
// last_seen.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { Server } = require('socket.io');
const { Pool } = require('pg');

const PORT = Number(process.env.PORT || 3201);
const HOST = process.env.HOST || '127.0.0.1';
const SECRET = process.env.JWT_SECRET;
if (!SECRET) {
  console.error('JWT_SECRET is required');
  process.exit(2);
}
const FULL = process.env.BASELINE_FULL === '1';
const SEND_SQL = fs.readFileSync(
  path.join(__dirname, '..', FULL ? 'send_create.sql' : 'send.sql'),
  'utf8',
);
const CONTACTS_SQL = fs.readFileSync(path.join(__dirname, '..', 'contacts.sql'), 'utf8');
const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_SIZE || 20),
  // Keep idle connections (as asyncpg does for 5 minutes): no reconnect churn
  // mid-run, and /proc accounting sees the same backends before and after.
  idleTimeoutMillis: 0,
});

function b64url(buf) {
  return buf.toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function verifyToken(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) return null;
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
  if (header.alg !== 'HS256') return null;
  const sig = b64url(crypto.createHmac('sha256', SECRET).update(`${parts[0]}.${parts[1]}`).digest());
  const given = Buffer.from(parts[2]);
  const want = Buffer.from(sig);
  if (given.length !== want.length || !crypto.timingSafeEqual(given, want)) return null;
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return null;
  return typeof claims.userId === 'string' ? claims : null;
}

const server = http.createServer((req, res) => {
  if (req.url === '/api/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(server, { cors: { origin: '*' }, serveClient: false });
const online = new Map(); // userId -> number of sockets
const hidden = new Set(); // online users with privacy_online_status 'nobody' (full mode)

async function loadContacts(socket, userId) {
  const { rows } = await pool.query({ name: 'contacts', text: CONTACTS_SQL, values: [userId] });
  if (!rows.length) return false;
  const u = rows[0];
  socket.data.user = {
    id: u.id,
    username: u.username,
    display_name: u.display_name,
    profile_image: u.profile_image,
    is_guest: u.is_guest,
  };
  socket.data.hidden = u.privacy_online_status === 'nobody';
  // C - P: the contacts that get this user's live status and appear in its snapshot.
  socket.data.notify = rows.filter((r) => r.other_id && !r.pending_outgoing).map((r) => r.other_id);
  return true;
}

function announce(socket, status, extra) {
  const me = socket.data.user;
  if (socket.data.hidden) return;
  const rooms = socket.data.notify.filter((id) => online.has(id)).map((id) => `user:${id}`);
  if (rooms.length) {
    io.to(rooms).emit('user:status', {
      userId: me.id,
      username: me.username,
      status,
      ...extra,
      timestamp: new Date().toISOString(),
    });
  }
}

io.use(async (socket, next) => {
  try {
    const claims = verifyToken(socket.handshake.auth && socket.handshake.auth.token);
    if (!claims) return next(new Error('Authentication error: Invalid token'));
    if (FULL) {
      if (!(await loadContacts(socket, claims.userId))) {
        return next(new Error('Authentication error: User not found'));
      }
      return next();
    }
    const { rows } = await pool.query({
      name: 'socket_user',
      text: 'SELECT id, username, display_name, profile_image, is_guest FROM users WHERE id = $1',
      values: [claims.userId],
    });
    if (!rows.length) return next(new Error('Authentication error: User not found'));
    socket.data.user = rows[0];
    return next();
  } catch (err) {
    return next(new Error('Authentication error: Invalid token'));
  }
});

io.on('connection', (socket) => {
  const me = socket.data.user;
  socket.join(`user:${me.id}`);
  online.set(me.id, (online.get(me.id) || 0) + 1);
  if (FULL) {
    if (socket.data.hidden) hidden.add(me.id);
    announce(socket, 'online', {});
    const onlineUsers = socket.data.notify
      .filter((id) => online.has(id) && !hidden.has(id))
      .map((id) => ({ userId: id, status: 'online' }));
    socket.emit('presence:update', { status: 'online', onlineUsers });
  }
  socket.emit('socket:ready', { userId: me.id });

  socket.on('message:send', async (data) => {
    try {
      if (!data || typeof data.content !== 'string' || !data.content.trim()) {
        socket.emit('error', { message: 'Message content is required' });
        return;
      }
      if (!data.recipientId) {
        socket.emit('error', { message: 'Recipient ID is required' });
        return;
      }
      const recipient = String(data.recipientId);
      const tempId = data.tempId == null ? null : String(data.tempId);
      // A named (prepared) statement, as asyncpg does implicitly.
      const { rows } = await pool.query({
        name: 'send_dm',
        text: SEND_SQL,
        values: [me.id, recipient, data.content, tempId, online.has(recipient)],
      });
      if (!rows.length) return; // duplicate temp id
      const m = rows[0];
      const timestamp = m.created_at.toISOString();
      io.to(`user:${recipient}`).emit('message:received', {
        id: m.id,
        senderId: m.sender_id,
        recipientId: m.recipient_id,
        senderUsername: me.username,
        senderDisplayName: me.display_name,
        senderProfileImage: me.profile_image,
        senderIsGuest: me.is_guest,
        content: m.content,
        type: m.type,
        timestamp,
        status: m.status,
        conversationId: m.conversation_id,
        conversationStatus: m.conversation_status,
      });
      const sent = {
        id: m.id,
        senderId: m.sender_id,
        recipientId: m.recipient_id,
        content: m.content,
        type: m.type,
        timestamp,
        status: m.status,
        fileUrl: null,
        fileName: null,
        fileSize: null,
        fileType: null,
        waveform: null,
        duration: null,
        conversationId: m.conversation_id,
        conversationStatus: m.conversation_status,
      };
      if (tempId !== null) sent.tempId = tempId;
      socket.emit('message:sent', sent);
    } catch (err) {
      socket.emit('error', { message: 'Failed to send message' });
    }
  });

  socket.on('disconnect', () => {
    const n = (online.get(me.id) || 1) - 1;
    if (n > 0) {
      online.set(me.id, n);
      return;
    }
    online.delete(me.id);
    if (FULL) {
      hidden.delete(me.id);
      const lastSeen = new Date();
      announce(socket, 'offline', { lastSeen: lastSeen.toISOString() });
      pool
        .query({ name: 'last_seen', text: 'UPDATE users SET last_seen = $2 WHERE id = $1', values: [me.id, lastSeen] })
        .catch(() => {});
    }
  });
});

server.listen(PORT, HOST, () => {
  console.log(`node baseline listening on http://${HOST}:${PORT}`);
});

function stop() {
  io.close();
  pool.end().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
