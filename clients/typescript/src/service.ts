import { CONNECTION_FAILED, ClaraApiError, UNEXPECTED_RESPONSE, errorOf } from "./errors.js";
import { readEvents } from "./events.js";
import type {
  ApiKey,
  ApiKeyPage,
  DeleteResult,
  DeployOptions,
  DeployedWorkflow,
  DeploymentPage,
  ExecutionDetail,
  ExecutionPage,
  ExecutionResult,
  NewApiKey,
  PageQuery,
  RegeneratedKey,
  RunAccepted,
  RunEvent,
  RunOptions,
  StatsQuery,
  WorkflowDetails,
  WorkflowStats,
} from "./models.js";

export interface ServiceOptions {
  /** The server's address, such as `http://localhost:3000` (the default). */
  baseUrl?: string;
  /**
   * Sent to management calls (deploy, list, keys) and to any call given no key of its own. Leave it out for
   * a server that trusts this machine (no `CLARA_ADMIN_KEY` set).
   */
  adminKey?: string;
  /** A `fetch` of your own (tests, proxies); the global one by default. */
  fetch?: typeof fetch;
}

type Query = Record<string, string | number | boolean | undefined>;

interface Request {
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: Query;
  body?: unknown;
  key?: string | undefined;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/**
 * The Clara Agent Runner API, as Agent Studio's deployment service: the six methods of the seed
 * (`deployWorkflow`, `getDeployments`, `getDeploymentDetails`, `executeWorkflow`, `undeployWorkflow`,
 * `regenerateApiKey`), then streaming and asynchronous runs, run history, keys and statistics. Every
 * refusal rejects with a `ClaraApiError` carrying the server's `code`.
 */
export class AgentDeploymentService {
  private readonly baseUrl: string;
  private readonly adminKey: string | undefined;
  private readonly fetcher: typeof fetch;

  constructor(options: ServiceOptions = {}) {
    this.baseUrl = (options.baseUrl ?? "http://localhost:3000").replace(/\/+$/, "");
    this.adminKey = options.adminKey;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Deploy an Agent Studio export (or a `{nodes, connections}` document); the API key is in this answer only. */
  async deployWorkflow(workflow: unknown, options: DeployOptions): Promise<DeployedWorkflow> {
    const body = await this.json<{ deployment: DeployedWorkflow }>({
      method: "POST",
      path: "/api/deploy",
      body: { ...options, workflow },
    });
    return body.deployment;
  }

  getDeployments(query: PageQuery & { userId?: string } = {}): Promise<DeploymentPage> {
    return this.json({ method: "GET", path: "/api/deployments", query: { ...query } });
  }

  async getDeploymentDetails(slug: string): Promise<WorkflowDetails> {
    return (await this.json<{ workflow: WorkflowDetails }>({ method: "GET", path: `/api/workflows/${segment(slug)}` }))
      .workflow;
  }

  executeWorkflow(
    slug: string,
    inputs: Record<string, unknown>,
    apiKey: string,
    options: RunOptions = {},
  ): Promise<ExecutionResult> {
    return this.json(this.run(slug, inputs, apiKey, options));
  }

  /** Delete the deployment: its endpoint answers 404 and its keys stop working. */
  undeployWorkflow(id: string, apiKey?: string): Promise<DeleteResult> {
    return this.json({ method: "DELETE", path: `/api/workflows/${segment(id)}`, key: apiKey });
  }

  /** A new key; the old ones stop working at once, or after `overlapSeconds`. */
  async regenerateApiKey(id: string, oldKey?: string, options: { overlapSeconds?: number } = {}): Promise<RegeneratedKey> {
    const body = await this.json<{ workflow: RegeneratedKey }>({
      method: "POST",
      path: `/api/workflows/${segment(id)}/regenerate-key`,
      key: oldKey,
      body: options.overlapSeconds === undefined ? undefined : { overlapSeconds: options.overlapSeconds },
    });
    return body.workflow;
  }

  /** Run and yield its events as they happen, `run.finished` (or `run.failed`) last. */
  streamWorkflow(
    slug: string,
    inputs: Record<string, unknown>,
    apiKey: string,
    options: RunOptions = {},
  ): AsyncGenerator<RunEvent> {
    const request = this.run(slug, inputs, apiKey, options);
    return this.events({ ...request, headers: { ...request.headers, Accept: "text/event-stream" } });
  }

  /** Start a run without waiting for it (async mode): follow it with `getExecution` or `executionEvents`. */
  startWorkflow(
    slug: string,
    inputs: Record<string, unknown>,
    apiKey: string,
    options: RunOptions = {},
  ): Promise<RunAccepted> {
    const request = this.run(slug, inputs, apiKey, options);
    return this.json({ ...request, headers: { ...request.headers, Prefer: "respond-async" } });
  }

  getExecutions(
    slug: string,
    apiKey?: string,
    query: PageQuery & { status?: string } = {},
  ): Promise<ExecutionPage> {
    return this.json({ method: "GET", path: `/api/workflows/${segment(slug)}/executions`, key: apiKey, query: { ...query } });
  }

  async getExecution(executionId: string, apiKey?: string): Promise<ExecutionDetail> {
    const path = `/api/executions/${segment(executionId)}`;
    return (await this.json<{ execution: ExecutionDetail }>({ method: "GET", path, key: apiKey })).execution;
  }

  async cancelExecution(executionId: string, apiKey?: string): Promise<ExecutionDetail> {
    const path = `/api/executions/${segment(executionId)}/cancel`;
    return (await this.json<{ execution: ExecutionDetail }>({ method: "POST", path, key: apiKey })).execution;
  }

  /** A run's events from the start (or after `lastEventId`), then live until its last one. */
  executionEvents(
    executionId: string,
    apiKey?: string,
    options: { lastEventId?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<RunEvent> {
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (options.lastEventId !== undefined) {
      headers["Last-Event-ID"] = options.lastEventId;
    }
    const path = `/api/executions/${segment(executionId)}/events`;
    return this.events({ method: "GET", path, key: apiKey, headers, signal: options.signal });
  }

  /** Statistics of the runs started in [from, to), per hour or day. */
  getStats(slug: string, apiKey?: string, query: StatsQuery = {}): Promise<WorkflowStats> {
    return this.json({ method: "GET", path: `/api/workflows/${segment(slug)}/stats`, key: apiKey, query: { ...query } });
  }

  /** A new named key (admin); the key is in this answer only. */
  async createKey(slug: string, key: { name: string; expiresAt?: string }): Promise<NewApiKey> {
    const path = `/api/workflows/${segment(slug)}/keys`;
    return (await this.json<{ key: NewApiKey }>({ method: "POST", path, body: key })).key;
  }

  listKeys(slug: string, query: PageQuery = {}): Promise<ApiKeyPage> {
    return this.json({ method: "GET", path: `/api/workflows/${segment(slug)}/keys`, query: { ...query } });
  }

  async revokeKey(slug: string, keyId: string): Promise<ApiKey> {
    const path = `/api/workflows/${segment(slug)}/keys/${segment(keyId)}`;
    return (await this.json<{ key: ApiKey }>({ method: "DELETE", path })).key;
  }

  private run(slug: string, inputs: Record<string, unknown>, apiKey: string, options: RunOptions): Request {
    const headers: Record<string, string> = {};
    if (options.version !== undefined) {
      headers["X-Workflow-Version"] = String(options.version);
    }
    if (options.idempotencyKey !== undefined) {
      headers["Idempotency-Key"] = options.idempotencyKey;
    }
    const path = `/api/workflows/${segment(slug)}/execute`;
    return { method: "POST", path, body: inputs, key: apiKey, headers, signal: options.signal };
  }

  private async json<T>(request: Request): Promise<T> {
    const response = await this.send(request);
    if (!response.ok) {
      throw await errorOf(response);
    }
    try {
      return (await response.json()) as T;
    } catch (error) {
      throw new ClaraApiError(UNEXPECTED_RESPONSE, `The server answered ${response.status} without its JSON`, {
        status: response.status,
        cause: error,
      });
    }
  }

  private async *events(request: Request): AsyncGenerator<RunEvent> {
    const response = await this.send(request);
    if (!response.ok) {
      throw await errorOf(response);
    }
    if (response.body === null || !(response.headers.get("content-type") ?? "").includes("text/event-stream")) {
      throw new ClaraApiError(UNEXPECTED_RESPONSE, `The server answered ${response.status} without an event stream`, {
        status: response.status,
      });
    }
    try {
      yield* readEvents(response.body);
    } catch (error) {
      throw error instanceof ClaraApiError ? error : connectionFailed(error);
    }
  }

  private async send(request: Request): Promise<Response> {
    const url = new URL(this.baseUrl + request.path);
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) {
        url.searchParams.set(name, String(value));
      }
    }
    const headers: Record<string, string> = { ...request.headers };
    const key = request.key ?? this.adminKey;
    if (key !== undefined) {
      headers["Authorization"] = `Bearer ${key}`;
    }
    const init: RequestInit = { method: request.method, headers };
    if (request.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(request.body);
    }
    if (request.signal !== undefined) {
      init.signal = request.signal;
    }
    try {
      return await this.fetcher(url, init);
    } catch (error) {
      throw connectionFailed(error);
    }
  }
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function connectionFailed(error: unknown): ClaraApiError {
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new ClaraApiError(CONNECTION_FAILED, reason, { cause: error });
}
