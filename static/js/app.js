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
document.addEventListener("htmx:afterSwap", function (event) {
  var root = event.target && event.target.isConnected ? event.target : event.detail.target;
  var invalid = root && root.isConnected ? root.querySelector("[aria-invalid='true']") : null;
  if (invalid) { invalid.focus(); }
});
