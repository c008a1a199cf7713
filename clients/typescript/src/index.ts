/**
 * A typed client of the Clara Agent Runner API, for Agent Studio's Deploy button and for applications:
 *
 *     const service = new AgentDeploymentService({ baseUrl: "http://localhost:3000", adminKey });
 *     const deployed = await service.deployWorkflow(exported, { name: "Hello World" });
 *     const result = await service.executeWorkflow(deployed.slug, { name: "Ada" }, deployed.apiKey);
 */
export { AgentDeploymentService } from "./service.js";
export type { ServiceOptions } from "./service.js";
export { CONNECTION_FAILED, ClaraApiError, UNEXPECTED_RESPONSE } from "./errors.js";
export { FINAL_EVENTS } from "./events.js";
export type * from "./models.js";
