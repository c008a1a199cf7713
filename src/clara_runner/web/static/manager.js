// The Manager's small behaviours: theme toggle, copy buttons, the deploy dialog's drop zone and file
// picker, and keeping a key shown once for this tab's test console. Everything works without it except
// copying and dropping.
(function () {
  "use strict";

  function currentTheme() {
    var set = document.documentElement.getAttribute("data-theme");
    if (set) return set;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function setupTheme() {
    var toggle = document.getElementById("theme-toggle");
    if (!toggle) return;
    var show = function () {
      var theme = currentTheme();
      toggle.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
      toggle.textContent = theme === "dark" ? "Light theme" : "Dark theme";
    };
    toggle.addEventListener("click", function () {
      var next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      try { localStorage.setItem("clara-theme", next); } catch (e) { /* private mode: this page only */ }
      show();
    });
    show();
  }

  function copyFrom(button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      selectText(source);
    }
  }

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function loadWorkflowFile(file) {
    var area = document.getElementById("workflow");
    if (!area || !file) return;
    var reader = new FileReader();
    reader.onload = function () {
      area.value = String(reader.result);
      var picker = document.getElementById("workflow-file");
      if (picker) picker.value = "";
      area.dispatchEvent(new Event("workflow-loaded", { bubbles: true }));
    };
    reader.readAsText(file);
  }

  function setupDeployDialog() {
    var zone = document.getElementById("drop-zone");
    var picker = document.getElementById("workflow-file");
    if (picker) picker.addEventListener("change", function () { loadWorkflowFile(picker.files[0]); });
    if (!zone) return;
    zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) loadWorkflowFile(event.dataTransfer.files[0]);
    });
  }

  function keepShownKeys(root) {
    (root || document).querySelectorAll("[data-key-for]").forEach(function (node) {
      try { sessionStorage.setItem("clara-key:" + node.getAttribute("data-key-for"), node.textContent.trim()); } catch (e) { /* not kept */ }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (button) copyFrom(button);
  });
  document.addEventListener("htmx:afterSwap", function (event) { keepShownKeys(event.target); });
  document.addEventListener("DOMContentLoaded", function () {
    setupTheme();
    setupDeployDialog();
    keepShownKeys(document);
  });
})();
