// Bearer tokens with roles. Only a hash of a token's secret is stored; a caller is resolved from the hash. Anonymous
// callers (operator role) exist only when the operator turned anonymous access on, which serve allows on loopback only.
import { LRUCache } from 'lru-cache';
import type { ApiToken, Role, Store } from '../store/types.js';
import { hashTokenSecret } from '../store/token-secret.js';
import { ApiError } from './errors.js';

export interface Caller {
  role: Role;
  /** Who acts, for the audit log: `token:<name>` or `anonymous`. */
  actor: string;
  tokenId: string | null;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function hasRole(caller: Caller, needed: Role): boolean {
  return RANK[caller.role] >= RANK[needed];
}

/** Reads `Authorization: Bearer <secret>`; undefined when absent. A malformed header is an error, not anonymity. */
export function bearerSecret(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (m?.[1] === undefined)
    throw new ApiError('unauthorized', 'the Authorization header must be "Bearer <token>"');
  return m[1];
}

export interface AuthenticatorOptions {
  store: Store;
  anonymous: boolean;
  now: () => number;
  /** How long a looked-up token is trusted before the store is asked again (revocation delay), ms. */
  cacheTtlMs?: number;
}

export class Authenticator {
  private readonly cache: LRUCache<string, { token: ApiToken | false }>;

  constructor(private readonly o: AuthenticatorOptions) {
    this.cache = new LRUCache({ max: 10_000, ttl: o.cacheTtlMs ?? 5_000 });
  }

  get anonymousAllowed(): boolean {
    return this.o.anonymous;
  }

  /** Resolves the caller from a token secret (or its absence). Throws ApiError 401 for a bad token. */
  async resolve(secret: string | undefined): Promise<Caller> {
    if (secret === undefined) {
      if (this.o.anonymous) return { role: 'operator', actor: 'anonymous', tokenId: null };
      throw new ApiError('unauthorized', 'a bearer token is required (vigil tokens create --role viewer)');
    }
    if (secret.length > 512) throw new ApiError('unauthorized', 'unknown or revoked token');
    const hash = hashTokenSecret(secret);
    let entry = this.cache.get(hash);
    if (entry === undefined) {
      entry = { token: (await this.o.store.findTokenByHash(hash)) ?? false };
      this.cache.set(hash, entry);
      // last_used_at is refreshed when the token is looked up, i.e. at most once per cache period.
      if (entry.token !== false && entry.token.revoked_at === null)
        await this.o.store.touchToken(entry.token.id, new Date(this.o.now()).toISOString());
    }
    const token = entry.token;
    if (token === false || token.revoked_at !== null)
      throw new ApiError('unauthorized', 'unknown or revoked token');
    return { role: token.role, actor: `token:${token.name}`, tokenId: token.id };
  }
}
