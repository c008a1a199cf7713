// The test console: reads the form generated from the input schema, checks JSON and numbers, then
// posts to the public execute endpoint in stream mode (Accept: text/event-stream) with the key typed
// in, and shows the run's events as they arrive: node progress, streamed tokens, the answer. When the
// run ends, the execution's page fragment (outputs, trace timeline) is loaded below.
(function () {
  "use strict";

  var form, statusLine, nodes, tokens, result, keyInput;

  function say(text) { statusLine.textContent = text; }

  function showProblem(name, text) {
    var slot = document.getElementById("problem-" + name);
    if (!slot) return;
    slot.textContent = text || "";
    slot.hidden = !text;
  }

  // The inputs as {body, problems}: a JSON object, or FormData when a file is picked.
  function collect() {
    var values = {};
    var files = [];
    var problems = 0;
    form.querySelectorAll("[data-field]").forEach(function (box) {
      var name = box.getAttribute("data-field");
      var kind = box.getAttribute("data-kind");
      var input = box.querySelector("input, textarea");
      showProblem(name, "");
      if (kind === "file") {
        if (input.files.length) files.push([name, input.files[0]]);
        return;
      }
      if (kind === "boolean") { values[name] = input.checked; return; }
      var text = input.value;
      if (text.trim() === "") { return; }
      if (kind === "number" || kind === "integer") {
        var number = Number(text);
        if (!isFinite(number) || (kind === "integer" && !Number.isInteger(number))) {
          showProblem(name, kind === "integer" ? "Enter a whole number." : "Enter a number.");
          problems += 1;
          return;
        }
        values[name] = number;
      } else if (kind === "json") {
        try { values[name] = JSON.parse(text); } catch (error) {
          showProblem(name, "Not valid JSON: " + error.message);
          problems += 1;
        }
      } else {
        values[name] = text;
      }
    });
    if (!files.length) return { body: JSON.stringify(values), type: "application/json", problems: problems };
    var data = new FormData();
    Object.keys(values).forEach(function (name) {
      var value = values[name];
      data.append(name, typeof value === "string" ? value : JSON.stringify(value));
    });
    files.forEach(function (pair) { data.append(pair[0], pair[1], pair[1].name); });
    return { body: data, type: null, problems: problems };
  }

  function nodeItem(data) {
    var id = "node-" + data.nodeId;
    var item = document.getElementById(id);
    if (!item) {
      item = document.createElement("li");
      item.id = id;
      nodes.appendChild(item);
    }
    return item;
  }

  function onEvent(name, data, state) {
    if (name === "run.started") {
      state.executionId = data.executionId;
      say("Running version " + data.version + "…");
    } else if (name === "node.started") {
      var started = nodeItem(data);
      started.className = "running";
      started.textContent = data.nodeId + " (" + data.type + "): running";
    } else if (name === "node.finished" || name === "node.skipped" || name === "node.failed") {
      var item = nodeItem(data);
      item.className = data.status;
      item.textContent = data.nodeId + " (" + data.type + "): " + data.status + ", " + Math.round(data.durationMs) + " ms" +
        (data.error ? " — " + data.error : "");
    } else if (name === "llm.token") {
      tokens.textContent += data.delta;
    } else if (name === "run.finished") {
      result.textContent = JSON.stringify(data.outputs, null, 2);
      state.executionId = state.executionId || (data.metadata && data.metadata.executionId);
      say("Finished in " + (data.metadata ? data.metadata.duration : "?") + ".");
    } else if (name === "run.failed") {
      result.textContent = JSON.stringify(data, null, 2);
      say("Failed: " + (data.code || "") + " " + (data.message || ""));
    }
  }

  // Reads Server-Sent Events from a fetch response body: "event:" and "data:" lines, a blank line ends one.
  async function readEvents(response, state) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      blocks.forEach(function (block) {
        var name = "message";
        var data = [];
        block.split(/\r?\n/).forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (data.length) onEvent(name, JSON.parse(data.join("\n")), state);
      });
    }
  }

  async function run(event) {
    event.preventDefault();
    var key = keyInput.value.trim();
    if (!key) { say("Enter an API key of this deployment first."); keyInput.focus(); return; }
    var inputs = collect();
    if (inputs.problems) { say("Fix the fields marked above."); return; }
    try { sessionStorage.setItem("clara-key:" + form.getAttribute("data-slug"), key); } catch (e) { /* not kept */ }
    nodes.textContent = "";
    tokens.textContent = "";
    result.textContent = "";
    document.getElementById("console-execution").textContent = "";
    say("Starting…");
    var headers = { "Authorization": "Bearer " + key, "Accept": "text/event-stream" };
    if (inputs.type) headers["Content-Type"] = inputs.type;
    var state = { executionId: null };
    var button = document.getElementById("console-run");
    button.disabled = true;
    try {
      var response = await fetch(form.getAttribute("data-endpoint"), { method: "POST", headers: headers, body: inputs.body });
      var type = response.headers.get("content-type") || "";
      if (type.indexOf("text/event-stream") === 0) {
        await readEvents(response, state);
      } else {
        var body = await response.json().catch(function () { return {}; });
        result.textContent = JSON.stringify(body, null, 2);
        var problems = body.validationErrors ? " " + body.validationErrors.join("; ") : "";
        say("Refused (" + response.status + " " + (body.code || "") + "): " + (body.message || "") + problems);
      }
    } catch (error) {
      say("The request failed: " + error.message);
    } finally {
      button.disabled = false;
    }
    if (state.executionId && window.htmx) {
      window.htmx.ajax("GET", "/manage/executions/" + state.executionId, { target: "#console-execution", swap: "innerHTML" });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("console-form");
    if (!form) return;
    statusLine = document.getElementById("console-status");
    nodes = document.getElementById("console-nodes");
    tokens = document.getElementById("console-tokens");
    result = document.getElementById("console-result");
    keyInput = document.getElementById("console-key");
    try { keyInput.value = sessionStorage.getItem("clara-key:" + form.getAttribute("data-slug")) || ""; } catch (e) { /* none */ }
    form.addEventListener("submit", run);
  });
})();
