// No inline script (CSP 'self'): small behaviours live here.
// Confirm buttons: <button data-confirm="Texte">.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-confirm]");
  if (!button) { return; }
  if (!window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
    event.stopImmediatePropagation();
    return;
  }
  // Confirmed here: the server does not ask again (ep_web/confirm.py).
  var form = button.form;
  if (form && !form.querySelector("input[name='confirmed']")) {
    var flag = document.createElement("input");
    flag.type = "hidden"; flag.name = "confirmed"; flag.value = "1";
    form.appendChild(flag);
  }
}, true);
// Move focus to the first field in error after an htmx swap, for keyboard and screen-reader users.
// After an outerHTML swap the old target is detached: look in the new content
// (event.target), falling back to the target for innerHTML swaps.
// The error summary of a failed submit (templates/_forms.html) takes the focus
// first: it lists every error, each a link to its field.
function epFocusErrors(root) {
  if (!root || !root.isConnected) { return; }
  // One error: its field (where the person expects to type); several: the summary listing them.
  var invalid = root.querySelectorAll("[aria-invalid='true']");
  var summary = root.querySelector("[data-ep-error-summary]");
  var target = invalid.length === 1 ? invalid[0] : (summary || invalid[0]);
  if (target) { target.focus(); }
}
document.addEventListener("htmx:afterSwap", function (event) {
  epFocusErrors(event.target && event.target.isConnected ? event.target : event.detail.target);
});
document.addEventListener("DOMContentLoaded", function () { epFocusErrors(document.getElementById("contenu") || document.body); });
// A link of the summary focuses its field (the browser only scrolls to it).
document.addEventListener("click", function (event) {
  var link = event.target.closest("[data-ep-error-summary] a[href^='#']");
  var field = link ? document.getElementById(link.getAttribute("href").slice(1)) : null;
  if (field) { event.preventDefault(); field.focus(); field.scrollIntoView({block: "center"}); }
});
// Each message lives until the next action: a new submission clears the
// previous success notices (#flash and the rows' own) before its answer arrives.
document.addEventListener("htmx:beforeRequest", function (event) {
  var verb = (event.detail.requestConfig && event.detail.requestConfig.verb) || "get";
  if (verb === "get") { return; }
  var flash = document.getElementById("flash");
  if (flash) { flash.replaceChildren(); }
  document.querySelectorAll("[data-ep-notice]").forEach(function (node) { node.remove(); });
});
// An htmx request answered with an error (400/403/404/413/500…) swaps nothing:
// show the server's alert (templates/_alert.html) in #flash, or a message of our own.
(function () {
  var TEXTS = {
    400: "La demande n'a pas pu être comprise. Rechargez la page et recommencez.",
    403: "Cette action vous est refusée.",
    404: "Cet élément n'existe plus ou vous n'y avez pas accès.",
    413: "Le fichier envoyé dépasse la taille autorisée.",
    429: "Trop de tentatives : patientez quelques minutes avant de recommencer.",
    503: "Le service est momentanément indisponible. Réessayez plus tard."
  };
  function showAlert(node) {
    var flash = document.getElementById("flash");
    if (!flash) { return; }
    flash.replaceChildren(node);
    node.setAttribute("tabindex", "-1");
    node.focus();
  }
  function alertFrom(status, html) {
    var found = null;
    if (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      found = doc.querySelector("[data-ep-alert]");
    }
    if (found) { return document.importNode(found, true); }
    var div = document.createElement("div");
    div.className = "fr-alert fr-alert--error fr-alert--sm fr-mb-3w";
    div.setAttribute("role", "alert");
    var p = document.createElement("p");
    p.textContent = TEXTS[status] || "Une erreur inattendue est survenue. Réessayez plus tard.";
    div.appendChild(p);
    return div;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    showAlert(alertFrom(xhr.status, xhr.responseText));
  });
  document.addEventListener("htmx:sendError", function () {
    var div = alertFrom(0, "");
    div.querySelector("p").textContent = "Le serveur ne répond pas : vérifiez votre connexion puis réessayez. Votre saisie est conservée.";
    showAlert(div);
  });
})();

// SPEC §8: the idle timeout never surprises anyone. Activity (typing, clicks)
// tells the server at most once a minute; two minutes before the timeout a
// DSFR modal offers "Rester connecté". Closing it (the button, « Fermer »,
// Escape) is an answer too: the person is there, the session is extended. A
// session that already ended says so and offers to log in again.
(function () {
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
  var url = body.getAttribute("data-keepalive-url");
  var modal = document.getElementById("idle-modal");
  if (!idle || !url || !modal) { return; }
  var left = parseInt(body.getAttribute("data-idle-left") || String(idle), 10);
  // When the server last counted activity: it writes that at most once a
  // minute, so a request answered now may count from up to a minute ago.
  var lastServer = Date.now() - (idle - (isNaN(left) ? idle : left)) * 1000;
  var lastPing = 0;
  var shown = false;
  var expired = false;
  var returnFocus = null;
  var token = (JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"]) || "";
  // true: extended; false: the session is over (the server redirects to the login page); null: no answer.
  function ping() {
    lastPing = Date.now();
    return fetch(url, {method: "POST", credentials: "same-origin", redirect: "manual", headers: {"X-CSRFToken": token}})
      .then(function (r) {
        if (r.status === 204) { lastServer = Date.now(); return true; }
        return r.type === "opaqueredirect" || r.status === 401 || r.status === 403 || r.status === 400 ? false : null;
      }, function () { return null; });
  }
  function open() {
    if (shown) { return; }
    shown = true;
    returnFocus = document.activeElement;
    if (window.dsfr) { try { window.dsfr(modal).modal.disclose(); return; } catch (e) { /* fall back */ } }
    if (modal.showModal && !modal.open) { modal.showModal(); }
  }
  function close() {
    if (window.dsfr) { try { window.dsfr(modal).modal.conceal(); return; } catch (e) { /* fall back */ } }
    if (modal.open) { modal.close(); }
  }
  function showExpired() {
    expired = true;
    modal.querySelectorAll("[data-idle-state]").forEach(function (node) {
      node.hidden = node.getAttribute("data-idle-state") !== "expired";
    });
    modal.setAttribute("aria-labelledby", "idle-modal-expired-title");
    var login = document.getElementById("idle-login");
    login.href = login.getAttribute("href").split("?")[0] + "?next=" + encodeURIComponent(location.pathname + location.search);
    shown = false;
    open();
    window.setTimeout(function () { login.focus(); }, 0);
  }
  // Whatever closed the modal, the person answered it: stay, unless it is too late.
  function closed() {
    if (!shown) { return; }
    shown = false;
    if (returnFocus && returnFocus.isConnected && returnFocus !== document.body) { returnFocus.focus(); }
    if (expired) { return; }
    ping().then(function (ok) { if (ok === false) { showExpired(); } });
  }
  modal.addEventListener("dsfr.conceal", closed);
  modal.addEventListener("close", closed);
  // Typing is activity the server cannot see: tell it, at most once a minute and
  // only when no request has reached it meanwhile (a click that loads or posts
  // something already counts).
  document.addEventListener("input", function () {
    if (!expired && Date.now() - lastServer > 60000 && Date.now() - lastPing > 60000) { ping(); }
  }, true);
  // The bell's poll is no activity (the server does not count it): only the
  // person's own requests move the timeout. A poll may learn the session ended.
  function isPoll(event) { return event.detail && event.detail.elt && event.detail.elt.id === "ep-bell"; }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (expired && isPoll(event)) { event.preventDefault(); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-EP-Session") === "ended") { if (!expired) { showExpired(); } return; }
    if (!isPoll(event)) { lastServer = Math.max(lastServer, Date.now() - 60000); }
  });
  document.getElementById("idle-stay").addEventListener("click", close);
  window.setInterval(function () {
    if (expired) { return; }
    var remaining = idle * 1000 - (Date.now() - lastServer);
    if (remaining <= 120000) { open(); }
  }, 5000);
})();

// "Imprimer" buttons (no inline script under the CSP).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
