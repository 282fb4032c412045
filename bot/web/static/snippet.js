/*
 * The embed snippet, served at /widget.js:
 *
 *   <script src="https://BOT/widget.js" data-site-key="KEY" async></script>
 *
 * Adds a launcher bubble to the page and opens the chat in a frame on the bot's own
 * origin (/embed?site=KEY), so the chat's code, storage and socket stay the bot's and
 * the page's styles cannot reach it. Options are the script tag's data attributes
 * (docs/webchat.md): data-position, data-color, data-text-color, data-language,
 * data-greeting, data-title, data-open; who the customer is: data-identity-token (a JWT),
 * or data-user-id with data-user-hash (an HMAC), and data-user-name, data-user-email.
 * Everything this file adds lives under one element, #helpdesk-widget.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || document.getElementById("helpdesk-widget")) return; // once per page
  var options = script.dataset;
  if (!options.siteKey) {
    console.warn("helpdesk widget: the script tag needs data-site-key");
    return;
  }
  var bot = new URL(script.src, location.href).origin;
  var HEX = /^#[0-9a-fA-F]{3,8}$/;
  var color = HEX.test(options.color || "") ? options.color : "#3d3ad6";
  var textColor = HEX.test(options.textColor || "") ? options.textColor : "#ffffff";
  var side = options.position === "left" ? "left" : "right";
  var MOBILE = window.matchMedia("(max-width: 480px)");

  var query = new URLSearchParams({ site: options.siteKey, accent: color, on_accent: textColor });
  if (options.language) query.set("lang", options.language);
  if (options.greeting) query.set("greeting", options.greeting);
  if (options.title) query.set("title", options.title);
  // Who the customer is goes in the fragment: browsers never send it to a server, so it
  // stays out of access logs and Referer headers. The frame passes it to the bot, which
  // checks the shop's signature (a token, or the HMAC of the user id).
  var who = new URLSearchParams();
  var fields = { identityToken: "token", userId: "user_id", userHash: "user_hash",
    userName: "name", userEmail: "email" };
  for (var attribute in fields) {
    if (options[attribute]) who.set(fields[attribute], options[attribute]);
  }
  var frameUrl = bot + "/embed?" + query.toString() + (who.toString() ? "#" + who.toString() : "");

  function styled(node, rules) {
    for (var name in rules) node.style.setProperty(name, rules[name]);
    return node;
  }

  var root = styled(document.createElement("div"), { all: "initial" });
  root.id = "helpdesk-widget";

  var launcher = styled(document.createElement("button"), {
    position: "fixed", bottom: "20px", width: "60px", height: "60px", padding: "0",
    border: "0", "border-radius": "50%", background: color, color: textColor,
    cursor: "pointer", "box-shadow": "0 6px 20px rgba(0,0,0,.25)", "z-index": "2147483000",
    display: "grid", "place-items": "center"
  });
  launcher.style.setProperty(side, "20px");
  launcher.type = "button";
  launcher.className = "helpdesk-launcher";
  launcher.setAttribute("aria-label", options.title ? "Chat: " + options.title : "Chat with support");
  launcher.setAttribute("aria-expanded", "false");
  var icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", "28");
  icon.setAttribute("height", "28");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-4 4V5a2 2 0 0 1 2-2Zm3 6v2h10V9H7Zm0 4v2h7v-2H7Z");
  icon.append(path);
  launcher.append(icon);

  var panel = styled(document.createElement("div"), {
    position: "fixed", "z-index": "2147483001", display: "none", overflow: "hidden",
    background: "#fff", "box-shadow": "0 18px 50px rgba(0,0,0,.3)"
  });
  panel.className = "helpdesk-panel";
  var frame = null; // made on first open: a page that never opens the chat opens no socket

  function layout() {
    if (MOBILE.matches) {
      // A phone: the chat takes the whole screen, its own close button brings the page back.
      styled(panel, { top: "0", bottom: "0", left: "0", right: "0", width: "100%",
        height: "100%", "border-radius": "0" });
    } else {
      styled(panel, { top: "auto", bottom: "92px", width: "380px",
        height: "min(640px, calc(100vh - 120px))", "border-radius": "16px" });
      panel.style.setProperty(side, "20px");
      panel.style.setProperty(side === "right" ? "left" : "right", "auto");
    }
    var open = panel.style.display !== "none";
    launcher.style.setProperty("display", open && MOBILE.matches ? "none" : "grid");
  }

  function setOpen(open) {
    if (open && !frame) {
      frame = styled(document.createElement("iframe"), {
        width: "100%", height: "100%", border: "0", display: "block"
      });
      frame.title = options.title || "Support chat";
      frame.src = frameUrl;
      frame.setAttribute("referrerpolicy", "origin");
      panel.append(frame);
    }
    panel.style.setProperty("display", open ? "block" : "none");
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", open ? "Close chat" : "Chat with support");
    layout();
    if (!open) launcher.focus();
  }

  launcher.addEventListener("click", function () {
    setOpen(panel.style.display === "none");
  });
  window.addEventListener("message", function (event) {
    // The frame's close button; messages from anything but our frame are not ours.
    if (frame && event.source === frame.contentWindow && event.origin === bot &&
        event.data && event.data.helpdesk === "close") setOpen(false);
  });
  if (MOBILE.addEventListener) MOBILE.addEventListener("change", layout);

  root.append(panel, launcher);
  (document.body || document.documentElement).append(root);
  layout();
  if (options.open === "true" && !MOBILE.matches) setOpen(true);
})();
