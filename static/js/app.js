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
document.addEventListener("htmx:afterSwap", function (event) {
  var invalid = event.detail.target.querySelector("[aria-invalid='true']");
  if (invalid) { invalid.focus(); }
});
