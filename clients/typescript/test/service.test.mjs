// The client against a live server whose address is in CLARA_BASE_URL (tests/e2e/test_typescript_client.py
// starts `clara-runner serve` and runs these with Node's test runner).
import assert from "node:assert/strict";
import { test } from "node:test";

import { AgentDeploymentService, ClaraApiError, CONNECTION_FAILED } from "../dist/index.js";

const baseUrl = process.env.CLARA_BASE_URL;
assert.ok(baseUrl, "CLARA_BASE_URL names the server under test");

const HELLO_WORLD = {
  nodes: [
    { id: "input-1", type: "input", data: { label: "Name" } },
    { id: "output-1", type: "output", data: { outputLabel: "Greeting" } },
  ],
  connections: [{ source: "input-1", target: "output-1", sourceHandle: "output", targetHandle: "input" }],
};

async function refusal(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClaraApiError, `a ClaraApiError, not ${error}`);
    return error;
  }
  assert.fail("the call was expected to fail");
}

test("the seed's six methods", async () => {
  const service = new AgentDeploymentService({ baseUrl });
  const deployed = await service.deployWorkflow(HELLO_WORLD, { name: "TS Seed", description: "From TypeScript" });
  assert.equal(deployed.slug, "ts-seed");
  assert.match(deployed.apiKey, /^clara_sk_/);

  const page = await service.getDeployments({ limit: 1000 });
  const listed = page.deployments.find((item) => item.slug === "ts-seed");
  assert.ok(listed);
  assert.equal(listed.stats.runs, 0);
  assert.deepEqual(listed.keyPrefixes, [deployed.apiKey.slice(0, listed.keyPrefixes[0].length)]);

  const details = await service.getDeploymentDetails("ts-seed");
  assert.deepEqual(details.schema.input.required, ["name"]);

  const result = await service.executeWorkflow("ts-seed", { name: "Ada" }, deployed.apiKey);
  assert.deepEqual(result.outputs, { greeting: "Ada" });

  const regenerated = await service.regenerateApiKey(deployed.id, deployed.apiKey);
  assert.equal(regenerated.previousKeysValidUntil, null);
  const revoked = await refusal(service.executeWorkflow("ts-seed", { name: "Ada" }, deployed.apiKey));
  assert.equal(revoked.status, 401);
  assert.equal(revoked.code, "api_key_revoked");

  const deleted = await service.undeployWorkflow(deployed.id, regenerated.apiKey);
  assert.equal(deleted.workflow.slug, "ts-seed");
  const gone = await refusal(service.getDeploymentDetails("ts-seed"));
  assert.equal(gone.code, "workflow_not_found");
  assert.equal(gone.status, 404);
});

test("streamed, asynchronous and listed runs, statistics and keys", async () => {
  const service = new AgentDeploymentService({ baseUrl });
  const deployed = await service.deployWorkflow(HELLO_WORLD, { name: "TS Runs" });
  const key = deployed.apiKey;

  const events = [];
  for await (const event of service.streamWorkflow("ts-runs", { name: "Ada" }, key)) {
    events.push(event);
  }
  assert.equal(events[0].event, "run.started");
  assert.equal(events.at(-1).event, "run.finished");
  assert.deepEqual(events.at(-1).data.outputs, { greeting: "Ada" });

  const accepted = await service.startWorkflow("ts-runs", { name: "Bo" }, key);
  assert.equal(accepted.status, "running");
  const followed = [];
  for await (const event of service.executionEvents(accepted.executionId, key)) {
    followed.push(event);
  }
  assert.equal(followed.at(-1).event, "run.finished");
  const replayed = [];
  for await (const event of service.executionEvents(accepted.executionId, key, { lastEventId: followed[0].id })) {
    replayed.push(event);
  }
  assert.deepEqual(replayed, followed.slice(1));
  const execution = await service.getExecution(accepted.executionId, key);
  assert.deepEqual([execution.status, execution.outputs], ["success", { greeting: "Bo" }]);
  const conflict = await refusal(service.cancelExecution(accepted.executionId, key));
  assert.equal(conflict.status, 409);

  const history = await service.getExecutions("ts-runs", key, { limit: 10, status: "success" });
  assert.equal(history.executions.length, 2);
  const stats = await service.getStats("ts-runs", key, { bucket: "day" });
  assert.equal(stats.bucket, "day");
  assert.equal(stats.totals.runs, 2);
  assert.equal(stats.totals.byStatus.success, 2);
  assert.equal(stats.totals.successRate, 1);

  const created = await service.createKey("ts-runs", { name: "ci", expiresAt: "2999-01-01T00:00:00Z" });
  assert.equal(created.name, "ci");
  assert.deepEqual((await service.executeWorkflow("ts-runs", { name: "Cy" }, created.apiKey)).outputs, { greeting: "Cy" });
  const keys = await service.listKeys("ts-runs");
  assert.deepEqual(
    keys.keys.map((item) => [item.name, item.status]),
    [["ci", "active"], ["default", "active"]],
  );
  assert.equal((await service.revokeKey("ts-runs", created.id)).status, "revoked");
  const refused = await refusal(service.executeWorkflow("ts-runs", { name: "Cy" }, created.apiKey));
  assert.equal(refused.code, "api_key_revoked");
});

test("errors carry the server's code and its details", async () => {
  const service = new AgentDeploymentService({ baseUrl });
  const deployed = await service.deployWorkflow(HELLO_WORLD, { name: "TS Errors" });
  const invalid = await refusal(service.executeWorkflow("ts-errors", { nickname: "x" }, deployed.apiKey));
  assert.equal(invalid.status, 400);
  assert.equal(invalid.code, "input_validation_failed");
  assert.ok(invalid.validationErrors.length > 0);
  const badKey = await refusal(service.createKey("ts-errors", { name: "" }));
  assert.equal(badKey.code, "validation_failed");
  const streamRefused = service.streamWorkflow("ts-errors", { name: "x" }, "clara_sk_nope");
  const malformed = await refusal(streamRefused.next());
  assert.equal(malformed.code, "invalid_api_key_format");
});

test("an unreachable server is a connection_failed error", async () => {
  const service = new AgentDeploymentService({ baseUrl: "http://127.0.0.1:9" });
  const failed = await refusal(service.getDeployments());
  assert.equal(failed.code, CONNECTION_FAILED);
  assert.equal(failed.status, null);
});
