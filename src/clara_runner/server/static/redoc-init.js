// Starts ReDoc on the document named by the page; kept out of the HTML so the page needs no inline script.
(function () {
  var root = document.getElementById("redoc");
  // untrustedSpec: names and descriptions come from whoever deployed the workflow, so ReDoc sanitises their markdown.
  Redoc.init(root.dataset.openapiUrl, { expandResponses: "200", untrustedSpec: true }, root);
})();
