import { scryptSync, timingSafeEqual, randomBytes, createHash, createHmac } from 'node:crypto';
import type { UserConfig } from '../config/types.ts';

/** Who made a request. `null` principal = anonymous. */
export interface Principal {
  name: string;
  role: 'admin' | 'viewer';
  /** Camera id patterns a viewer may see; undefined = every camera. */
  cameras?: string[];
}

export type AuthResult =
  | { ok: true; principal: Principal | null }
  | { ok: false; status: 401 | 403 | 429; message: string; /** With 429: seconds until the address may try again. */ retryAfterSec?: number };

/**
 * Failed sign-ins per remote address. The first FREE_FAILURES failures cost nothing (typos); each
 * further one locks the address out for twice as long as the last, up to MAX_LOCK_MS. A success
 * clears the address. Keyed by address only, never by user name: locking a name would let anyone
 * lock the real user out. Bounded: at most MAX_ENTRIES addresses, oldest forgotten first.
 */
export class LoginLimiter {
  static readonly FREE_FAILURES = 5;
  static readonly BASE_LOCK_MS = 1000;
  static readonly MAX_LOCK_MS = 60_000;
  /** An address with no failure for this long starts afresh. */
  static readonly FORGET_MS = 15 * 60_000;
  static readonly MAX_ENTRIES = 10_000;
  private readonly entries = new Map<string, { failures: number; lockedUntil: number; last: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds this address must still wait (0 = may try now). */
  blockedFor(remote: string | undefined): number {
    if (!remote) return 0;
    const e = this.entries.get(remote);
    if (!e) return 0;
    const t = this.now();
    if (t - e.last > LoginLimiter.FORGET_MS) {
      this.entries.delete(remote);
      return 0;
    }
    return Math.max(0, e.lockedUntil - t);
  }

  failure(remote: string | undefined): void {
    if (!remote) return;
    const t = this.now();
    let e = this.entries.get(remote);
    if (e && t - e.last > LoginLimiter.FORGET_MS) e = undefined;
    if (!e) {
      if (this.entries.size >= LoginLimiter.MAX_ENTRIES) this.evict(t);
      e = { failures: 0, lockedUntil: 0, last: t };
    }
    // Re-insert so Map order is least-recently-failed first (what evict() drops).
    this.entries.delete(remote);
    this.entries.set(remote, e);
    e.failures++;
    e.last = t;
    const over = e.failures - LoginLimiter.FREE_FAILURES;
    if (over > 0) e.lockedUntil = t + Math.min(LoginLimiter.MAX_LOCK_MS, LoginLimiter.BASE_LOCK_MS * 2 ** Math.min(over - 1, 16));
  }

  success(remote: string | undefined): void {
    if (remote) this.entries.delete(remote);
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(t: number): void {
    for (const [k, v] of this.entries) {
      if (t - v.last > LoginLimiter.FORGET_MS) this.entries.delete(k);
    }
    // Still full: drop the oldest tenth rather than one at a time.
    if (this.entries.size >= LoginLimiter.MAX_ENTRIES) {
      let n = Math.ceil(LoginLimiter.MAX_ENTRIES / 10);
      for (const k of this.entries.keys()) {
        if (n-- <= 0) break;
        this.entries.delete(k);
      }
    }
  }
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;
/** How long a verified username/password pair skips scrypt, and how many are remembered. */
const VERIFIED_TTL_MS = 5 * 60_000;
const MAX_VERIFIED = 1000;
/** Verified against when no user's hash was tried (see verifyPassword). */
const DUMMY_HASH = `scrypt$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

/** `scrypt$<saltB64>$<hashB64>` (N=16384, r=8, p=1, 32-byte key). */
export function hashPassword(password: string, salt = randomBytes(16)): string {
  const hash = scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function verifyPasswordHash(password: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 3 || parts[0] !== 'scrypt') return false;
  const salt = Buffer.from(parts[1]!, 'base64');
  const expected = Buffer.from(parts[2]!, 'base64');
  if (expected.length === 0) return false;
  const got = scryptSync(password, salt, expected.length, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return timingSafeEqual(got, expected);
}

/** Constant-time string comparison (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** Glob with `*` and `?` over a camera id. */
export function matchPattern(pattern: string, id: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(id);
}

/** The camera id of a stream name (`lobby/sub` → `lobby`). */
export function cameraOfStream(stream: string): string {
  return stream.endsWith('/sub') ? stream.slice(0, -4) : stream;
}

/**
 * Users and rights from the config. With no users configured everything is open (the CLI prints a
 * loud warning). Used by every surface: the API, /metrics, HLS, WHEP, the RTSP server, snapshots.
 */
export class AccessControl {
  private users: UserConfig[] = [];
  /** Recently verified username/password pairs (HMAC of both → principal); cleared when users change. */
  private readonly verified = new Map<string, { principal: Principal; at: number }>();
  private readonly cacheKey = randomBytes(32);
  /** Failed sign-ins per remote address (HTTP here; the RTSP server uses loginBlockedFor/loginResult). */
  readonly limiter: LoginLimiter;

  constructor(users: UserConfig[], opts: { now?: () => number } = {}) {
    this.limiter = new LoginLimiter(opts.now);
    this.setUsers(users);
  }

  /** Replaces the users (config reload). Principals already handed out keep their old rights until their next request. */
  setUsers(users: UserConfig[]): void {
    this.users = users.slice();
    this.verified.clear();
  }

  /** Seconds a remote address must wait before its next sign-in attempt (0 = go ahead). */
  loginBlockedFor(remote: string | undefined): number {
    return Math.ceil(this.limiter.blockedFor(remote) / 1000);
  }

  /** Record the outcome of a sign-in attempt from `remote` (for surfaces that verify credentials themselves, e.g. RTSP). */
  loginResult(remote: string | undefined, ok: boolean): void {
    if (ok) this.limiter.success(remote);
    else this.limiter.failure(remote);
  }

  /** No users configured: open access. */
  get open(): boolean {
    return this.users.length === 0;
  }

  private principal(u: UserConfig): Principal {
    return { name: u.name, role: u.role, cameras: u.role === 'viewer' ? u.cameras : undefined };
  }

  /** Username + password (Basic, RTSP Basic, the wall's sign-in). Tokens count as passwords too. */
  verifyPassword(username: string, password: string): Principal | null {
    // scrypt costs tens of milliseconds, and a browser sends Basic credentials with every request
    // (each HLS part): remember credentials that verified, keyed by an HMAC, never the password.
    const key = createHmac('sha256', this.cacheKey).update(username).update('\0').update(password).digest('base64');
    const hit = this.verified.get(key);
    if (hit && Date.now() - hit.at < VERIFIED_TTL_MS) return hit.principal;
    const found = this.verifyPasswordSlow(username, password);
    if (found) {
      if (this.verified.size >= MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(key, { principal: found, at: Date.now() });
    }
    return found;
  }

  private verifyPasswordSlow(username: string, password: string): Principal | null {
    let found: Principal | null = null;
    let hashed = false;
    for (const u of this.users) {
      // Compare against every user so the time taken doesn't reveal which names exist.
      const nameOk = safeEqual(u.name, username);
      let passOk = false;
      if (u.password !== undefined) passOk = safeEqual(u.password, password);
      else if (u.passwordHash !== undefined && nameOk) {
        hashed = true;
        passOk = verifyPasswordHash(password, u.passwordHash);
      }
      if (!passOk && u.token !== undefined) passOk = safeEqual(u.token, password);
      if (nameOk && passOk && !found) found = this.principal(u);
    }
    // scrypt takes tens of milliseconds: when some user has a hash but none was tried, spend the
    // same time so a fast "no" doesn't reveal that the name doesn't exist.
    if (!hashed && this.users.some((u) => u.passwordHash !== undefined)) verifyPasswordHash(password, DUMMY_HASH);
    return found;
  }

  /** A bearer token (`Authorization: Bearer`, `?token=`). */
  verifyToken(token: string): Principal | null {
    let found: Principal | null = null;
    for (const u of this.users) if (u.token !== undefined && safeEqual(u.token, token) && !found) found = this.principal(u);
    return found;
  }

  /**
   * The plaintext secret an RTSP Digest check needs for a user (its password, else its token);
   * undefined for users with only a passwordHash (they can use RTSP Basic).
   */
  digestSecret(username: string): string | undefined {
    const u = this.users.find((x) => x.name === username);
    return u?.password ?? u?.token;
  }

  canView(p: Principal | null, stream: string): boolean {
    if (this.open) return true;
    if (!p) return false;
    if (p.role === 'admin' || !p.cameras) return true;
    const cam = cameraOfStream(stream);
    return p.cameras.some((pat) => matchPattern(pat, cam));
  }

  isAdmin(p: Principal | null): boolean {
    return this.open || p?.role === 'admin';
  }

  /**
   * Authenticates an HTTP request from its Authorization header (Basic or Bearer) or `?token=`.
   * Returns `{ok:true, principal:null}` when open or when no credentials were given (callers
   * then decide with canView/isAdmin), and `{ok:false, 401}` for wrong credentials.
   */
  authenticateHttp(authorization: string | undefined, queryToken: string | undefined, remote?: string): AuthResult {
    if (this.open) return { ok: true, principal: null };
    let attempt: (() => Principal | null) | undefined;
    let wrong = 'invalid token';
    if (authorization) {
      const [scheme, value = ''] = authorization.trim().split(/\s+/, 2);
      if (/^basic$/i.test(scheme ?? '')) {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        attempt = () => (i < 0 ? null : this.verifyPassword(decoded.slice(0, i), decoded.slice(i + 1)));
        wrong = 'wrong username or password';
      } else if (/^bearer$/i.test(scheme ?? '')) {
        attempt = () => this.verifyToken(value);
      }
    }
    if (!attempt && queryToken) attempt = () => this.verifyToken(queryToken);
    if (!attempt) return { ok: true, principal: null };
    // Checked before verifying: a locked-out address gets no answer about its guess (and no scrypt work).
    const wait = this.loginBlockedFor(remote);
    if (wait > 0) return { ok: false, status: 429, message: `too many failed sign-ins from this address; try again in ${wait} s`, retryAfterSec: wait };
    const p = attempt();
    this.loginResult(remote, p !== null);
    return p ? { ok: true, principal: p } : { ok: false, status: 401, message: wrong };
  }
}
