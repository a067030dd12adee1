import { scryptSync, timingSafeEqual, randomBytes, createHash } from 'node:crypto';
import type { UserConfig } from '../config/types.ts';

/** Who made a request. `null` principal = anonymous. */
export interface Principal {
  name: string;
  role: 'admin' | 'viewer';
  /** Camera id patterns a viewer may see; undefined = every camera. */
  cameras?: string[];
}

export type AuthResult = { ok: true; principal: Principal | null } | { ok: false; status: 401 | 403 | 429; message: string };

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;

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

  constructor(users: UserConfig[]) {
    this.setUsers(users);
  }

  setUsers(users: UserConfig[]): void {
    this.users = users.slice();
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
    let found: Principal | null = null;
    for (const u of this.users) {
      // Compare against every user so the time taken doesn't reveal which names exist.
      const nameOk = safeEqual(u.name, username);
      let passOk = false;
      if (u.password !== undefined) passOk = safeEqual(u.password, password);
      else if (u.passwordHash !== undefined) passOk = nameOk && verifyPasswordHash(password, u.passwordHash);
      if (!passOk && u.token !== undefined) passOk = safeEqual(u.token, password);
      if (nameOk && passOk && !found) found = this.principal(u);
    }
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
  authenticateHttp(authorization: string | undefined, queryToken: string | undefined): AuthResult {
    if (this.open) return { ok: true, principal: null };
    if (authorization) {
      const [scheme, value = ''] = authorization.split(/\s+/, 2);
      if (/^basic$/i.test(scheme ?? '')) {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        const p = i < 0 ? null : this.verifyPassword(decoded.slice(0, i), decoded.slice(i + 1));
        return p ? { ok: true, principal: p } : { ok: false, status: 401, message: 'wrong username or password' };
      }
      if (/^bearer$/i.test(scheme ?? '')) {
        const p = this.verifyToken(value);
        return p ? { ok: true, principal: p } : { ok: false, status: 401, message: 'invalid token' };
      }
    }
    if (queryToken) {
      const p = this.verifyToken(queryToken);
      return p ? { ok: true, principal: p } : { ok: false, status: 401, message: 'invalid token' };
    }
    return { ok: true, principal: null };
  }
}
