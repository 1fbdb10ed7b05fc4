// Pieces every route module uses: JSON response entries for the OpenAPI document.
import type { z } from '@hono/zod-openapi';
import { ErrorSchema } from '../schemas.js';

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad input (validation_failed, invalid_json)',
  401: 'Missing or unknown token (unauthorized)',
  403: 'The caller lacks the role (forbidden)',
  404: 'Unknown id (not_found)',
  409: 'Conflict (conflict)',
  422: 'Invalid state change (invalid_state_change)',
  429: 'Rate limit (rate_limited)',
  503: 'Dependency down or engine not available (dependency_down, not_available)',
};

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

type ErrorEntry = ReturnType<typeof json<typeof ErrorSchema>>;

/** Error responses of a route, always including 400, 401 and 429. */
export function errors(...statuses: number[]): Record<number, ErrorEntry> {
  const out: Record<number, ErrorEntry> = {};
  for (const s of [400, 401, 429, ...statuses]) out[s] = json(ErrorSchema, ERROR_TEXT[s] ?? 'Error');
  return out;
}
