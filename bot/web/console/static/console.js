// Agent desk live updates. Customer text is only ever inserted with textContent;
// HTML comes only from the server's own (autoescaped) fragments.
(function () {
  "use strict";
  const body = document.body;
  const page = body.dataset.page;
  const conversationId = body.dataset.conversationId ? Number(body.dataset.conversationId) : null;
  const csrfMeta = document.querySelector('meta[name="csrf"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const status = document.getElementById("live-status");
  const flash = document.getElementById("flash-live");

  function showError(text) {
    if (!flash) return;
    flash.textContent = text;
    flash.hidden = false;
    setTimeout(() => { flash.hidden = true; }, 6000);
  }

  // SLA warnings and breaches stay until the agent dismisses them (a click): a missed
  // six-second toast is a missed deadline.
  const SLA_LABELS = {
    first_response_warning: "first response due soon",
    first_response_breach: "first response overdue",
    resolution_warning: "resolution due soon",
    resolution_breach: "resolution overdue",
  };
  function showSlaAlert(event) {
    const box = document.getElementById("sla-alerts");
    if (!box) return;
    const due = event.due ? " (due " + clock(event.due) + ")" : "";
    const item = el("div", "flash sla-alert" + (String(event.sla).endsWith("breach") ? " breach" : ""),
      "SLA: " + event.reference + " " + (SLA_LABELS[event.sla] || event.sla) + due + ". Click to dismiss.");
    item.setAttribute("role", "alert");
    item.addEventListener("click", () => item.remove());
    box.appendChild(item);
  }

  // The team's zone (handoff.business_hours), named, whatever zone this computer is in.
  function clock(iso) {
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
    const zone = document.body.dataset.zone;
    try {
      return new Date(iso).toLocaleTimeString([], zone ? { ...options, timeZone: zone } : options);
    } catch (error) {  // a zone this browser does not know: its own, still named
      return new Date(iso).toLocaleTimeString([], options);
    }
  }

  function localizeTimes(root) {
    for (const node of root.querySelectorAll("time[datetime]")) node.textContent = clock(node.dateTime);
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function fetchFragment(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.status === 401) { window.location.href = "/console/login"; return null; }
    if (!response.ok) return null;
    return new DOMParser().parseFromString(await response.text(), "text/html");
  }

  // --- dashboard: refetch the lists (debounced) on any desk change -------------------------
  // Responses can arrive out of order: only the newest request may replace the lists.
  let listsTimer = null;
  let listsRequest = 0;
  function refreshLists() {
    if (listsTimer) return;
    listsTimer = setTimeout(async () => {
      listsTimer = null;
      const request = ++listsRequest;
      const doc = await fetchFragment("/console/fragments/lists");
      if (request !== listsRequest) return;
      const fresh = doc && doc.getElementById("lists");
      const current = document.getElementById("lists");
      if (fresh && current) {
        const node = document.importNode(fresh, true);
        localizeTimes(node);
        current.replaceWith(node);
      }
    }, 80);
  }

  // --- conversation page --------------------------------------------------------------------
  const timeline = () => document.getElementById("timeline");
  function scrollDown() { const t = timeline(); if (t) t.scrollTop = t.scrollHeight; }

  // Live items that arrived while a fragment was being fetched: the fragment may predate
  // them, so they are put back after it replaces the page.
  let inFlight = null;

  function appendMessage(m) {
    if (inFlight) inFlight.push(["message", m]);
    const list = timeline();
    if (!list || list.querySelector('[data-id="' + Number(m.id) + '"]')) return;
    const from = m.direction === "in" ? "customer" : (m.sender === "bot" ? "bot" : "agent");
    const li = el("li", "msg msg-" + (m.direction === "in" ? "in" : "out") + " from-" + from);
    li.dataset.id = String(m.id);
    const meta = el("div", "meta");
    meta.append(el("span", "who", m.direction === "in" ? "Customer" : (m.sender === "bot" ? "Bot" : (m.agent || m.sender))));
    const time = el("time", null, clock(m.created_at));
    time.dateTime = m.created_at;
    meta.append(time);
    if (m.language) meta.append(el("span", "muted", m.language));
    li.append(meta, el("div", "text", m.text));
    if (m.guesses && m.guesses.length) {
      const nlu = el("div", "nlu");
      for (const g of m.guesses) nlu.append(el("span", null, g.name + " " + Number(g.confidence || 0).toFixed(2)));
      li.append(nlu);
    }
    list.append(li);
    scrollDown();
  }

  function appendNote(n) {
    if (inFlight) inFlight.push(["note", n]);
    const list = timeline();
    if (!list || list.querySelector('[data-note-id="' + Number(n.id) + '"]')) return;
    const li = el("li", "note");
    li.dataset.noteId = String(n.id);
    const meta = el("div", "meta");
    meta.append(el("span", "who", "Note · " + n.author));
    const time = el("time", null, clock(n.created_at));
    time.dateTime = n.created_at;
    meta.append(time);
    li.append(meta, el("div", "text", n.text));
    list.append(li);
    scrollDown();
  }

  let conversationTimer = null;
  let conversationRequest = 0;
  function refreshConversation() {
    if (conversationTimer) return;
    conversationTimer = setTimeout(async () => {
      conversationTimer = null;
      const request = ++conversationRequest;
      const arrived = [];
      inFlight = arrived;
      const doc = await fetchFragment("/console/c/" + conversationId + "/fragment");
      if (request !== conversationRequest) return;
      inFlight = null;
      const fresh = doc && doc.getElementById("conv-live");
      const current = document.getElementById("conv-live");
      if (!fresh || !current) return;
      const node = document.importNode(fresh, true);
      localizeTimes(node);
      current.replaceWith(node);
      for (const [kind, item] of arrived) (kind === "message" ? appendMessage : appendNote)(item);
      const reply = document.getElementById("reply-form");
      if (reply) reply.hidden = fresh.dataset.canReply !== "1";
      scrollDown();
    }, 60);
  }

  function onEvent(event) {
    if (event.kind === "ticket" && event.sla && event.reference) showSlaAlert(event);
    if (page === "dashboard") {
      if (["queue", "conversation", "presence", "message", "resync", "hello"].includes(event.kind)) refreshLists();
      return;
    }
    if (page !== "conversation") return;
    const mine = event.conversation_id === conversationId;
    if (event.kind === "message" && mine) appendMessage(event.message);
    else if (event.kind === "note" && mine) appendNote(event.note);
    else if ((event.kind === "conversation" && mine) || event.kind === "resync" || event.kind === "hello") refreshConversation();
  }

  // --- the socket ------------------------------------------------------------------------------
  let delay = 500;
  function connect() {
    if (!csrf || page === "login") return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/console/ws");
    let beat = null;
    socket.onopen = () => {
      delay = 500;
      beat = setInterval(() => socket.send(JSON.stringify({ type: "heartbeat" })), 25000);
    };
    socket.onmessage = (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (error) { console.error(error); return; }
      // "hello" comes once the server has subscribed us: from here on nothing is missed.
      if (event.kind === "hello" && status) { status.textContent = "live"; status.className = "live-status live"; }
      onEvent(event);
    };
    socket.onclose = (close) => {
      clearInterval(beat);
      if (status) { status.textContent = "reconnecting…"; status.className = "live-status down"; }
      if (close.code === 4401 || close.code === 1008) { window.location.href = "/console/login"; return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

  // --- forms that should not reload the page (reply, note) ------------------------------------
  function ajaxForm(id) {
    const form = document.getElementById(id);
    if (!form) return;
    const text = form.querySelector("textarea");
    form.addEventListener("submit", async (submit) => {
      submit.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const response = await fetch(form.action, {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(new FormData(form)),
        });
        const result = await response.json().catch(() => ({ ok: false, error: "Request failed (" + response.status + ")." }));
        if (result.ok) { text.value = ""; } else { showError(result.error || "Request failed."); }
      } catch (error) {
        showError("Network error: " + error);
      } finally {
        button.disabled = false;
        text.focus();
      }
    });
    text.addEventListener("keydown", (key) => {
      if (key.key === "Enter" && (key.ctrlKey || key.metaKey)) form.requestSubmit();
    });
  }

  // --- saved replies: "/id" (or its start) then Tab puts the reply, filled in, in the box ----
  function cannedReplies() {
    const form = document.getElementById("reply-form");
    if (!form) return;
    const text = form.querySelector("textarea");
    let replies = null;
    text.addEventListener("keydown", async (key) => {
      const typed = /^\/([a-z0-9_]*)$/.exec(text.value.trim());
      if (key.key !== "Tab" || !typed) return;
      key.preventDefault();
      if (replies === null) {
        const url = form.action.replace(/\/reply$/, "/canned");
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        replies = response.ok ? await response.json() : [];
      }
      const found = replies.find((r) => r.id === typed[1]) || replies.find((r) => r.id.startsWith(typed[1]));
      if (found) { text.value = found.text; return; }
      const names = replies.map((r) => "/" + r.id + " (" + r.title + ")").join(", ");
      showError("No saved reply starts with /" + typed[1] + ". Saved replies: " + (names || "none yet") + ".");
    });
  }

  const presence = document.getElementById("presence-select");
  if (presence) presence.addEventListener("change", () => presence.form.submit());
  localizeTimes(document);
  ajaxForm("reply-form");
  cannedReplies();
  ajaxForm("note-form");
  scrollDown();
  connect();
})();
