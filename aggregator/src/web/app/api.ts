// REST calls to this server's API: JSON in and out, the session's token as Bearer, the error shape turned into an
// ApiError that pages show as-is.
import type { ApiErrorBody } from '@vigil/shared/api';

const TOKEN_KEY = 'vigil.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The error's `details` as the API sent them (empty when the answer had none). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null || token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

let onUnauthorized: (message: string) => void = () => undefined;

/** Called when the API answers 401 (no token, or a token it does not accept). */
export function whenUnauthorized(listener: (message: string) => void): void {
  onUnauthorized = listener;
}

function isErrorBody(x: unknown): x is ApiErrorBody {
  return typeof x === 'object' && x !== null && 'error' in x && typeof x.error === 'object';
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const token = getToken();
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'unreachable', `the server is unreachable (${String(err)})`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'bad_response', `unexpected answer from ${path} (HTTP ${res.status})`);
  }
  if (!res.ok) {
    const error = isErrorBody(parsed)
      ? parsed.error
      : { code: 'http_error', message: `HTTP ${res.status}`, details: {} };
    if (res.status === 401) onUnauthorized(error.message);
    throw new ApiError(res.status, error.code, error.message, error.details);
  }
  return parsed as T;
}

export function get<T>(path: string): Promise<T> {
  return call<T>('GET', path);
}

export function put<T>(path: string, body: unknown): Promise<T> {
  return call<T>('PUT', path, body);
}

export function post<T>(path: string, body: unknown = {}): Promise<T> {
  return call<T>('POST', path, body);
}

/** The value, or null when the API says 404 (e.g. no prediction yet); other errors propagate. */
export async function getOrNull<T>(path: string): Promise<T | null> {
  try {
    return await get<T>(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}
