/*
 * VoltCart help desk: browser side of the web chat widget.
 *
 * Talks JSON over a WebSocket at /ws/chat (same origin). Expects the markup
 * from index.html: #chat-log, #chat-form, #chat-input, #chat-send, #chat-status.
 * All bot/user content is inserted with textContent, never as HTML.
 */
(function () {
  "use strict";

  const log = document.getElementById("chat-log");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const statusEl = document.getElementById("chat-status");
  if (!log || !form || !input) return;

  let SESSION_KEY = "helpdesk.session";
  const MAX_BACKOFF_MS = 15000;
  // Server is expected to send "history" right after the socket opens; if it
  // does not, stop waiting after this long and flush the queue anyway.
  const HISTORY_WAIT_MS = 2000;
  const TYPING_TIMEOUT_MS = 30000;

  /* ---------- ids and session ---------- */

  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    // randomUUID only exists in secure contexts, so plain-http deployments
    // (other than localhost) end up here: build an RFC 4122 v4 id by hand.
    const b = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function loadSession() {
    try {
      let id = localStorage.getItem(SESSION_KEY);
      if (!id) {
        id = uuid();
        localStorage.setItem(SESSION_KEY, id);
      }
      return id;
    } catch (e) {
      // Storage can throw (blocked cookies, some private modes): the chat
      // still works, it just won't survive a reload.
      return uuid();
    }
  }

  // In the frame the snippet (/widget.js) opens, the page's options arrive in the query:
  // the site key, a language, a greeting, a colour. None of them is trusted as markup.
  const params = new URLSearchParams(location.search);
  const site = params.get("site");
  const greeting = params.get("greeting");
  const language = params.get("lang") || navigator.language || "en";
  const HEX = /^#[0-9a-fA-F]{3,8}$/;
  if (HEX.test(params.get("accent") || "")) {
    document.documentElement.style.setProperty("--accent", params.get("accent"));
    document.documentElement.style.setProperty("--accent-strong", params.get("accent"));
  }
  if (HEX.test(params.get("on_accent") || "")) {
    document.documentElement.style.setProperty("--on-accent", params.get("on_accent"));
  }
  if (params.get("title")) {
    const title = document.getElementById("chat-title");
    if (title) title.textContent = params.get("title");
  }
  const closeButton = document.getElementById("chat-close");
  if (closeButton) {
    // Only the page around the frame can hide it; it listens to this frame alone.
    closeButton.addEventListener("click", () => window.parent.postMessage({ helpdesk: "close" }, "*"));
  }

  // Who the customer is, as the page says (the snippet puts it in the fragment, which no
  // server sees); the bot checks the shop's signature. Dropped from the address at once.
  const who = new URLSearchParams(location.hash.slice(1));
  const identify = {};
  for (const key of ["token", "user_id", "user_hash", "name", "email"]) {
    if (who.get(key)) identify[key] = who.get(key);
  }
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  const identified = Object.keys(identify).length > 0;

  // The shop's id for the customer, read (not verified: the bot does that) only to keep
  // one session per signed-in customer, so two people sharing a browser never share a chat.
  function signedId() {
    if (identify.user_id) return identify.user_id;
    try {
      const part = identify.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const sub = JSON.parse(atob(part)).sub;
      return typeof sub === "string" ? sub : null;
    } catch (e) { return null; }
  }

  // One session per site: two shops embedding the same bot are two conversations.
  if (site) SESSION_KEY = "helpdesk.session." + site;
  if (identify.token || identify.user_hash) {
    const id = signedId();
    if (id) SESSION_KEY += ".customer." + id;
  }
  const session = loadSession();
  const wsUrl =
    (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host +
    "/ws/chat?session=" + encodeURIComponent(session) +
    "&lang=" + encodeURIComponent(language) +
    (site ? "&site=" + encodeURIComponent(site) : "");
  // Files go over plain HTTP with the same session, language and site as the socket.
  const uploadUrl =
    "/webchat/upload?session=" + encodeURIComponent(session) +
    "&lang=" + encodeURIComponent(language) +
    (site ? "&site=" + encodeURIComponent(site) : "");

  /* ---------- DOM helpers ---------- */

  function el(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }

  // Typing indicator lives at the end of the log; new rows go before it.
  const typing = el("div", "typing");
  typing.hidden = true;
  for (let i = 0; i < 3; i++) typing.append(el("span", "typing-dot"));
  typing.append(el("span", "sr-only", "Support is typing…"));
  log.append(typing);
  let typingTimer = 0;

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

  // Only auto-scroll if the reader is already at the bottom (or it is their
  // own message): don't yank them away from older messages they are reading.
  function append(node, force) {
    const stick = force || nearBottom();
    log.insertBefore(node, typing);
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function showTyping() {
    const stick = nearBottom();
    typing.hidden = false;
    if (stick) log.scrollTop = log.scrollHeight;
    clearTimeout(typingTimer);
    // Safety net in case the message that should follow never arrives.
    typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT_MS);
  }

  function hideTyping() { clearTimeout(typingTimer); typing.hidden = true; }

  function setStatus(state, text) {
    if (!statusEl) return;
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  /* ---------- message rendering ---------- */

  // The customer's bubble; the "sending…"/tick meta sits outside the bubble
  // so the bubble's text is exactly what was typed.
  function customerRow(text) {
    const row = el("div", "row row-in");
    const bubble = el("div", "msg msg-in msg-sending", text);
    bubble.dir = "auto";
    row.append(bubble, el("span", "msg-meta", "sending…"));
    return row;
  }

  // A file the customer sent: its name (text, never markup), and the caption if any.
  function fileRow(files, caption) {
    const row = customerRow("");
    const bubble = row.querySelector(".msg");
    for (const f of files) bubble.append(el("div", "msg-file", String(f.name)));
    if (caption) bubble.append(el("div", "msg-caption", caption));
    return row;
  }

  function markDelivered(row) {
    const bubble = row.querySelector(".msg");
    bubble.classList.remove("msg-sending");
    bubble.classList.add("msg-delivered");
    const meta = row.querySelector(".msg-meta");
    const tick = el("span", "tick", "✓");
    tick.setAttribute("aria-hidden", "true");
    meta.replaceChildren(tick, el("span", "sr-only", "delivered"));
  }

  function botRow(m, withButtons) {
    const row = el("div", "row row-out");
    if (m.sender) row.append(el("div", "msg-sender", String(m.sender)));
    const bubble = el("div", "msg msg-out");
    bubble.dir = "auto";
    bubble.append(el("div", "msg-text", m.text == null ? "" : String(m.text)));

    const buttons = withButtons && Array.isArray(m.buttons)
      ? m.buttons.filter((b) => b && b.title != null) : [];
    if (buttons.length) {
      const group = el("div", "msg-actions");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Suggested replies");
      for (const b of buttons) {
        const btn = el("button", "msg-button", String(b.title));
        btn.type = "button";
        btn.dir = "auto";
        btn.addEventListener("click", () => {
          group.querySelectorAll("button").forEach((x) => { x.disabled = true; });
          btn.classList.add("msg-button-chosen");
          // Disabled buttons drop focus; hand it to the input for keyboard users.
          input.focus();
          const title = String(b.title);
          send({ type: "button", id: uuid(), payload: String(b.payload ?? title), title }, title);
        });
        group.append(btn);
      }
      bubble.append(group);
    }
    row.append(bubble);
    return row;
  }

  /* ---------- outgoing queue ---------- */

  // Every frame the user produced that the server has not acked yet, in send
  // order (Map keeps insertion order). Frames keep their id, so re-sending
  // after a reconnect is safe: the server deduplicates by id.
  const pending = new Map(); // id -> { frame, row }

  let ws = null;
  let ready = false; // socket open AND history received (or waited long enough)
  let attempt = 0;
  let retryTimer = 0;
  let readyTimer = 0;

  function send(frame, shownText, shownRow) {
    const row = shownRow || customerRow(shownText);
    pending.set(frame.id, { frame, row });
    if (!shownRow) append(row, true);
    // When not ready the frame just waits in `pending`; markReady() flushes it.
    if (ready && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  // Flush is delayed until the history arrives so that the re-sent messages
  // are processed after the server has snapshotted the transcript for us.
  function markReady() {
    clearTimeout(readyTimer);
    if (ready || !ws || ws.readyState !== WebSocket.OPEN) return;
    ready = true;
    for (const { frame } of pending.values()) ws.send(JSON.stringify(frame));
  }

  /* ---------- incoming frames ---------- */

  // Ids of the replies in the log. The server may send a reply again (a crash after
  // the browser got it, before it was marked sent): the same id is shown once. The
  // set is rebuilt with the log from each history, which holds every reply marked
  // sent; one not yet marked follows live, and must then be shown again, so the set
  // is not kept across page loads.
  const shownReplies = new Set();

  function renderHistory(messages) {
    hideTyping();
    log.replaceChildren(typing);
    shownReplies.clear();
    messages.forEach((m, i) => {
      if (!m || typeof m !== "object") return;
      if (m.direction === "in") {
        // History does not normally carry ids; if it ever does, use them to
        // avoid showing a message twice when only its ack was lost.
        if (m.id != null) pending.delete(m.id);
        const text = m.text == null ? "" : String(m.text);
        const row = Array.isArray(m.files) && m.files.length
          ? fileRow(m.files.filter((f) => f && f.name != null), text) : customerRow(text);
        markDelivered(row);
        log.insertBefore(row, typing);
      } else {
        if (m.id != null) shownReplies.add(String(m.id));
        // Old buttons are stale; only the last bot message keeps its choices.
        const last = i === messages.length - 1;
        log.insertBefore(botRow(m, last), typing);
      }
    });
    // The site's greeting opens an empty chat; it is the page's, not stored.
    if (!log.querySelector(".row") && greeting) {
      log.insertBefore(botRow({ text: greeting, buttons: [] }, false), typing);
    }
    // Unacked messages stay visible ("sending…") below the history.
    for (const { row } of pending.values()) log.insertBefore(row, typing);
    log.scrollTop = log.scrollHeight;
  }

  function handle(raw) {
    let m = null;
    try { m = JSON.parse(raw); } catch (e) { /* ignore malformed frames */ }
    if (!m || typeof m !== "object") return;
    switch (m.type) {
      case "history":
        renderHistory(Array.isArray(m.messages) ? m.messages : []);
        markReady();
        break;
      case "ack": {
        const p = pending.get(m.id);
        if (p) { pending.delete(m.id); markDelivered(p.row); }
        break;
      }
      case "message":
        if (m.id != null) {
          if (shownReplies.has(String(m.id))) break; // a resend of one shown already
          shownReplies.add(String(m.id));
        }
        hideTyping();
        append(botRow(m, true), false);
        break;
      case "identity":
        document.documentElement.dataset.verified = String(Boolean(m.verified));
        showLinks(m.verified && Array.isArray(m.links) ? m.links : []);
        break;
      case "link":
        showLink(m);
        break;
      case "typing":
        showTyping();
        break;
      case "error": {
        // A refused message (too long, say) is not re-sent: it would be refused again.
        const p = m.id != null ? pending.get(m.id) : null;
        if (p) {
          pending.delete(m.id);
          p.row.querySelector(".msg-meta").textContent = "not sent";
        }
        append(el("div", "notice", String(m.message || "Something went wrong.")), false);
        break;
      }
    }
  }

  /* ---------- continuing in another app (a verified customer only) ---------- */

  // The bot offers "Continue on Telegram" / "on Slack" to a customer the shop signed in;
  // a press asks for a fresh one-time code, which comes back as a "link" frame.
  let linkBar = null;
  function showLinks(links) {
    if (linkBar) linkBar.remove();
    linkBar = null;
    const offered = links.filter((l) => l && typeof l.channel === "string" && l.label);
    if (!offered.length) return;
    linkBar = el("div", "chat-links");
    for (const l of offered) {
      const b = el("button", "msg-button link-offer", String(l.label));
      b.type = "button";
      b.dataset.channel = l.channel;
      b.addEventListener("click", () => {
        if (ws && ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify({ type: "link", channel: l.channel }));
        }
      });
      linkBar.append(b);
    }
    form.before(linkBar);
  }

  function showLink(m) {
    const url = typeof m.url === "string" && /^https:\/\/t\.me\//.test(m.url) ? m.url : null;
    const note = el("div", "notice link-notice");
    if (url) {
      // A link the customer follows (a new tab or the Telegram app), never opened for them.
      const a = el("a", "link-open", String(m.message || m.url));
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      note.append(a);
    } else {
      note.textContent = String(m.message || m.text || "");
    }
    append(note, true);
  }

  /* ---------- connection with backoff ---------- */

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    ready = false;
    if (attempt === 0) setStatus("connecting", "connecting…");
    let sock;
    try { sock = new WebSocket(wsUrl); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    sock.onopen = () => {
      attempt = 0;
      // Before any message: the bot links the chat to the customer first.
      if (identified) sock.send(JSON.stringify(Object.assign({ type: "identify" }, identify)));
      setStatus("connected", "connected");
      readyTimer = setTimeout(markReady, HISTORY_WAIT_MS);
    };
    sock.onmessage = (ev) => { if (sock === ws) handle(ev.data); };
    // "error" is always followed by "close", so reconnect from close only.
    sock.onclose = () => {
      if (sock !== ws) return;
      ws = null;
      ready = false;
      clearTimeout(readyTimer);
      hideTyping();
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    const delay = Math.min(1000 * 2 ** attempt, MAX_BACKOFF_MS); // 1s, 2s, 4s … 15s
    attempt++;
    setStatus("reconnecting", "reconnecting…");
    retryTimer = setTimeout(connect, delay);
  }

  // Coming back online: don't sit out the rest of a long backoff.
  window.addEventListener("online", () => { if (!ws && retryTimer) connect(); });

  /* ---------- input ---------- */

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 160) + "px";
  }

  function submit() {
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    autosize();
    input.focus();
    send({ type: "message", id: uuid(), text }, text);
  }

  /* ---------- photos and files ---------- */

  // The file is uploaded first (the server checks its size and type and keeps it), then
  // sent as a message naming the upload, so it is acknowledged and re-sent like text.
  // Text waiting in the box goes with it as the caption.
  const fileInput = document.getElementById("chat-file");
  const attachButton = document.getElementById("chat-attach");

  async function sendFile(file) {
    const caption = input.value.trim();
    input.value = "";
    autosize();
    const row = fileRow([{ name: file.name }], caption);
    row.querySelector(".msg-meta").textContent = "uploading…";
    append(row, true);
    let answer = null;
    let status = 0;
    try {
      const res = await fetch(uploadUrl, {
        method: "POST",
        body: file,
        credentials: "omit",
        headers: {
          "Content-Type": file.type || "application/octet-stream",
          "X-File-Name": encodeURIComponent(file.name),
        },
      });
      status = res.status;
      answer = await res.json().catch(() => null);
    } catch (e) { answer = null; }
    if (status !== 201 || !answer || typeof answer.id !== "string") {
      row.querySelector(".msg-meta").textContent = "not sent";
      if (caption && !input.value) { input.value = caption; autosize(); }
      const why = answer && answer.message ? answer.message : "The file could not be sent.";
      append(el("div", "notice upload-refused", String(why)), true);
      return;
    }
    row.querySelector(".msg-meta").textContent = "sending…";
    send({ type: "message", id: uuid(), text: caption, attachment: answer.id }, null, row);
  }

  if (fileInput && attachButton) {
    attachButton.addEventListener("click", () => fileInput.click());
    fileInput.addEventListener("change", () => {
      const file = fileInput.files && fileInput.files[0];
      fileInput.value = "";
      if (!file) return;
      attachButton.disabled = true;
      sendFile(file).finally(() => { attachButton.disabled = false; });
    });
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  input.addEventListener("input", autosize);
  input.addEventListener("keydown", (e) => {
    // Enter sends, Shift+Enter inserts a newline. Never send while an IME is
    // composing (keyCode 229 covers older Safari): Indic and other input
    // methods use Enter to commit the composed text.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });

  connect();
})();
