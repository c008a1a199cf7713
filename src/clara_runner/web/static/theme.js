// Applies the theme chosen with the toggle before the page paints (no flash); without a choice the
// stylesheet follows prefers-color-scheme.
(function () {
  var chosen = null;
  try { chosen = localStorage.getItem("clara-theme"); } catch (e) { chosen = null; }
  if (chosen === "light" || chosen === "dark") document.documentElement.setAttribute("data-theme", chosen);
})();
