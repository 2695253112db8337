// No inline script (CSP 'self'): small behaviours live here.
// Confirm buttons: <button data-confirm="Texte">.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);
// Move focus to the first field in error after an htmx swap, for keyboard and screen-reader users.
// After an outerHTML swap the old target is detached: look in the new content
// (event.target), falling back to the target for innerHTML swaps.
// The error summary of a failed submit (templates/_forms.html) takes the focus
// first: it lists every error, each a link to its field.
function epFocusErrors(root) {
  if (!root || !root.isConnected) { return; }
  var target = root.querySelector("[data-ep-error-summary]") || root.querySelector("[aria-invalid='true']");
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
