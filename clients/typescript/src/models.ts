/**
 * The shapes of the server's JSON answers (the management API's OpenAPI document, /api/openapi.json).
 * Times are ISO 8601 text, as sent.
 */

export type ExecutionStatus = "queued" | "running" | "success" | "error" | "timeout" | "cancelled" | "interrupted";

export interface Pagination {
  limit: number;
  offset: number;
  hasMore: boolean;
}

export interface PublicSchema {
  input: Record<string, unknown>;
  output: Record<string, unknown>;
  metadata: Record<string, unknown>;
  options: { allowUnknownFields: boolean };
}

export interface RateLimitOverride {
  enabled?: boolean;
  maxRequests?: number;
  windowMs?: number;
}

export interface Deployment {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  endpoint: string;
  docs: string;
  version: number;
  executionCount: number;
  outputSchemaMismatches: number;
  lastExecuted: string | null;
  createdAt: string;
  isActive: boolean;
  rateLimit: RateLimitOverride | null;
  maxConcurrency: number | null;
  allowCallbackUrl: boolean;
}

export interface SummaryDurations {
  p50: number | null;
  p95: number | null;
}

/** A deployment's runs over the last 24 hours, as the list shows them. */
export interface RunSummary {
  from: string;
  to: string;
  runs: number;
  successRate: number | null;
  durationMs: SummaryDurations;
  lastRunAt: string | null;
}

export interface ListedDeployment extends Deployment {
  /** The first characters of each key that works now, oldest first. */
  keyPrefixes: string[];
  stats: RunSummary;
}

export interface DeploymentPage {
  success: true;
  deployments: ListedDeployment[];
  pagination: Pagination;
}

export interface WorkflowDetails extends Deployment {
  schema: PublicSchema & { openapi: Record<string, unknown> };
  snippets: Record<string, string>;
  updatedAt: string;
}

export interface DeployOptions {
  name: string;
  description?: string;
  slug?: string;
  userId?: string;
  allowUnknownFields?: boolean;
  rateLimit?: RateLimitOverride | null;
  maxConcurrency?: number | null;
  allowCallbackUrl?: boolean;
}

export interface DeployedWorkflow {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  endpoint: string;
  /** Shown only in this answer: keep it. */
  apiKey: string;
  schema: PublicSchema;
  docs: string;
  version: number;
  warnings: string[];
  createdAt: string;
}

export interface WorkflowRef {
  id: string;
  slug: string;
}

export interface DeleteResult {
  success: true;
  message: string;
  workflow: WorkflowRef;
}

export interface RegeneratedKey extends WorkflowRef {
  apiKey: string;
  /** Until when the replaced keys keep working; null: they stopped at once. */
  previousKeysValidUntil: string | null;
}

export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface ExecutionResult {
  success: true;
  outputs: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

export interface RunAccepted {
  success: true;
  executionId: string;
  status: "running";
  version: number;
  statusUrl: string;
  eventsUrl: string;
  cancelUrl: string;
  timestamp: string;
}

export interface Execution {
  id: string;
  status: ExecutionStatus;
  version: number;
  inputs: unknown;
  outputs: unknown;
  error: string | null;
  errorCode: string | null;
  duration: string | null;
  durationMs: number | null;
  nodesExecuted: number;
  usage?: TokenCounts | null;
  trace: unknown;
  createdAt: string;
  finishedAt: string | null;
}

export interface ExecutionDetail extends Execution {
  workflowId: string;
  eventsUrl: string;
}

export interface ExecutionPage {
  success: true;
  executions: Execution[];
  pagination: Pagination;
}

/**
 * One Server-Sent Event of a run: `run.started`, `node.started`, `node.finished`, `llm.token`, ..., and last
 * `run.finished` (data: the result body) or `run.failed` (data: the error body).
 */
export interface RunEvent {
  id: string | null;
  event: string;
  data: unknown;
}

export interface Durations extends SummaryDurations {
  p99: number | null;
}

export interface RunStats {
  runs: number;
  byStatus: Record<ExecutionStatus, number>;
  successRate: number | null;
  outputSchemaMismatches: number;
  durationMs: Durations;
  tokens: TokenCounts | null;
}

export interface StatsBucket extends RunStats {
  start: string;
}

export interface WorkflowStats {
  success: true;
  workflow: WorkflowRef;
  from: string;
  to: string;
  bucket: "hour" | "day";
  totals: RunStats;
  buckets: StatsBucket[];
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  status: "active" | "revoked" | "expired";
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface ApiKeyPage {
  success: true;
  keys: ApiKey[];
  pagination: Pagination;
}

export interface NewApiKey {
  id: string;
  name: string;
  prefix: string;
  /** Shown only in this answer: keep it. */
  apiKey: string;
  createdAt: string;
  expiresAt: string | null;
}

export interface PageQuery {
  limit?: number;
  offset?: number;
}

export interface RunOptions {
  /** Run this version instead of the current one (`X-Workflow-Version`). */
  version?: number;
  /** Retrying with the same key returns the first answer instead of running again (`Idempotency-Key`). */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface StatsQuery {
  /** ISO 8601 with a zone, or a date. */
  from?: string;
  to?: string;
  bucket?: "hour" | "day";
}
