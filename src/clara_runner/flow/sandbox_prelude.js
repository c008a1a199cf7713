// Installed in every fresh isolate before the script runs (see sandbox.py): hardened globals, a
// setTimeout that needs no removed global, log capture, fetch, and the driver `__clara`.
//
// Python talks to the isolate only by evaluating short scripts, never by calling into a running one:
// each driver call returns a JSON *report*, either {"outcome": envelope} once the script has settled
// (envelope = {ok, value | error, logs}) or {"requests": [...]}, the fetch requests made since the
// last report. Python performs them and hands each answer back with `__clara.answer`.
(function install(settings) {
  "use strict";
  const g = globalThis;
  const SharedBuffer = g.SharedArrayBuffer, Int32View = g.Int32Array, waitAsync = g.Atomics.waitAsync;
  const pending = new Set();
  let nextTimer = 1;
  g.setTimeout = (callback, delay, ...args) => {
    const id = nextTimer++;
    pending.add(id);
    const wait = waitAsync(new Int32View(new SharedBuffer(4)), 0, 0, Math.max(0, Number(delay) || 0));
    Promise.resolve(wait.async ? wait.value : undefined).then(() => {
      if (pending.delete(id)) callback(...args);
    });
    return id;
  };
  g.clearTimeout = (id) => { pending.delete(id); };
  g.__timer_manager = undefined;
  for (const name of Object.getOwnPropertyNames(g)) {
    if (/^(ArrayBuffer|SharedArrayBuffer|DataView|Atomics|WebAssembly|(Big)?(Ui|I)nt\d+(Clamped)?Array|Float\d+Array)$/
        .test(name)) {
      Reflect.deleteProperty(g, name);
    }
  }

  // Captured now, so a script that replaces JSON's methods cannot break the driver's own encoding.
  const { stringify, parse } = JSON;
  const logs = [];
  const show = (value) => {
    if (typeof value === "string") return value;
    try { const text = stringify(value); return text === undefined ? String(value) : text; }
    catch (error) { return String(value); }
  };
  const record = (level) => (...args) => {
    if (logs.length < settings.maxLogEntries) logs.push([level, args.map(show).join(" ").slice(0, settings.maxLogChars)]);
  };
  const log = record("log"), warn = record("warn"), error = record("error");
  g.console = Object.freeze({ log, info: log, debug: log, warn, error });

  const describe = (problem) => {
    if (problem instanceof Error) {
      return problem.name && problem.name !== "Error" ? `${problem.name}: ${problem.message}` : problem.message;
    }
    return show(problem);
  };
  const succeeded = (value) => {
    try { return stringify({ ok: true, value: value === undefined ? null : value, logs }); }
    catch (problem) {
      return stringify({ ok: false, error: `the result cannot be converted to JSON: ${describe(problem)}`, logs });
    }
  };
  const failed = (problem) => stringify({ ok: false, error: describe(problem), logs });
  const then = Promise.prototype.then;
  const headersOf = (raw) => {
    if (!raw) return {};
    if (typeof raw.entries === "function" && !Array.isArray(raw)) return Object.fromEntries(raw.entries());
    return Array.isArray(raw) ? Object.fromEntries(raw) : { ...raw };
  };
  const responseOf = (r) => {
    const headers = r.headers;
    const get = (name) => { const value = headers[String(name).toLowerCase()]; return value === undefined ? null : value; };
    return Object.freeze({
      ok: r.status >= 200 && r.status < 300, status: r.status, statusText: r.statusText, url: r.url,
      headers: Object.freeze({ get, has: (name) => get(name) !== null, entries: () => Object.entries(headers).values() }),
      text: async () => r.body,
      json: async () => parse(r.body),
    });
  };
  const AsyncFunction = (async () => {}).constructor;

  let outcome = null;
  let fetchAllowed = false;
  let nextRequest = 1;
  const requests = [];
  const waiting = new Map();
  const report = () => stringify(outcome !== null ? { outcome } : { requests: requests.splice(0) });

  g.fetch = async (resource, init = {}) => {
    if (!fetchAllowed) throw new TypeError("fetch is not available in this sandbox");
    const body = init.body === undefined || init.body === null || typeof init.body === "string"
      ? init.body : stringify(init.body);
    const options = { method: String(init.method || "GET"), headers: headersOf(init.headers), body };
    return await new Promise((resolve, reject) => {
      const id = nextRequest++;
      waiting.set(id, { resolve, reject });
      requests.push({ id, url: String(resource), options });
    });
  };

  g.__clara = Object.freeze({
    runNode(code, argumentsJson, allowFetch) {
      fetchAllowed = allowFetch;
      const running = (async () => {
        const { inputs, properties } = parse(argumentsJson);
        const context = Object.freeze({ log, warn, error, fetch: (...args) => g.fetch(...args) });
        const body = code + "\n;if (typeof execute === 'function') { return await execute(inputs, properties, context); }"
          + "\nthrow new Error('the code must define async function execute(inputs, properties, context)');";
        return await new AsyncFunction("inputs", "properties", "context", body)(inputs, properties, context);
      })();
      then.call(running, (value) => { outcome = succeeded(value); }, (problem) => { outcome = failed(problem); });
      return report();
    },
    condition(expression, inputJson) {
      try {
        const input = parse(inputJson);
        outcome = succeeded(Boolean(new Function("input", "condition", "return " + expression)(input, input)));
      } catch (problem) {
        outcome = failed(problem);
      }
      return report();
    },
    poll: report,
    answer(id, answerJson) {
      const pending = waiting.get(id);
      if (pending !== undefined) {
        waiting.delete(id);
        const answer = parse(answerJson);
        if (answer.error !== undefined) pending.reject(new TypeError(`fetch failed: ${answer.error}`));
        else pending.resolve(responseOf(answer.response));
      }
      return report();
    },
  });
})
