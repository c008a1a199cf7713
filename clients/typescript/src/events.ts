import type { RunEvent } from "./models.js";

/** The last event of a run's stream. */
export const FINAL_EVENTS: ReadonlySet<string> = new Set(["run.finished", "run.failed"]);

/**
 * Server-Sent Events (the `text/event-stream` format) read from a response body, as they arrive. Data is
 * JSON on this server, decoded; comments (heartbeats) are skipped. Ends after the run's last event.
 */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<RunEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let id: string | null = null;
  let event = "message";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        return;
      }
      buffered += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffered.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + (buffered.startsWith("\r\n", end) ? 2 : 1));
        if (line === "") {
          if (data.length > 0) {
            const text = data.join("\n");
            const parsed: RunEvent = { id, event, data: decode(text) };
            event = "message";
            data = [];
            yield parsed;
            if (FINAL_EVENTS.has(parsed.event)) {
              return;
            }
          }
          event = "message";
          continue;
        }
        if (line.startsWith(":")) {
          continue;
        }
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let field = colon < 0 ? "" : line.slice(colon + 1);
        if (field.startsWith(" ")) {
          field = field.slice(1);
        }
        if (name === "data") {
          data.push(field);
        } else if (name === "event") {
          event = field;
        } else if (name === "id") {
          id = field;
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

function decode(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
