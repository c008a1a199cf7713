// Starts ReDoc on the document named by the page; kept out of the HTML so the page needs no inline script.
(function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapiUrl, { expandResponses: "200", hideDownloadButton: false }, root);
})();
