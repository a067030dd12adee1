/**
 * RTSP authentication: HTTP Basic (RFC 7617) and Digest (RFC 7616 with MD5 and SHA-256, qop=auth,
 * and the legacy RFC 2069 form without qop), client and server side.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Credentials } from './url.ts';

export interface Challenge {
  scheme: 'Basic' | 'Digest' | string;
  params: Record<string, string> /* keys lower-cased, values unquoted */;
}

const isWs = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/**
 * Tokenise one header value into challenges (RFC 7235 §2.1), tolerantly (QUIRKS Q08): quoted-string
 * values with `\"` escapes, unquoted values (`stale=FALSE`, `Basic realm=testrealm`), no space after
 * commas, unknown vendor parameters (Hikvision `random="…"`), several challenges in one value.
 */
function tokenizeChallenges(value: string, out: Challenge[]): void {
  const s = value;
  let i = 0;
  let current: Challenge | undefined;
  const n = s.length;
  while (i < n) {
    while (i < n && (isWs(s[i]) || s[i] === ',')) i++;
    if (i >= n) break;
    const tokStart = i;
    while (i < n && !isWs(s[i]) && s[i] !== '=' && s[i] !== ',' && s[i] !== '"') i++;
    const token = s.slice(tokStart, i);
    if (token.length === 0) {
      i++; // stray '"' or '='
      continue;
    }
    let j = i;
    while (j < n && isWs(s[j])) j++;
    if (s[j] === '=' && current) {
      // auth-param
      i = j + 1;
      while (i < n && isWs(s[i])) i++;
      let v = '';
      if (s[i] === '"') {
        i++;
        while (i < n && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < n) i++;
          v += s[i];
          i++;
        }
        i++; // closing quote (or end)
        while (i < n && s[i] !== ',') i++; // junk after a quoted value
      } else {
        const vs = i;
        while (i < n && s[i] !== ',') i++;
        v = s.slice(vs, i).trim();
      }
      const key = token.toLowerCase();
      if (!(key in current.params)) current.params[key] = v;
      continue;
    }
    if (s[j] === '=') {
      // parameter before any scheme: skip it
      i = j + 1;
      while (i < n && s[i] !== ',') i++;
      continue;
    }
    const lower = token.toLowerCase();
    const scheme = lower === 'basic' ? 'Basic' : lower === 'digest' ? 'Digest' : token;
    current = { scheme, params: Object.create(null) as Record<string, string> };
    out.push(current);
  }
}

/** Q08 tolerant auth-param tokenizer; one header may hold several challenges. */
export function parseWwwAuthenticate(values: string[]): Challenge[] {
  const out: Challenge[] = [];
  if (!Array.isArray(values)) return out;
  for (const v of values) if (typeof v === 'string') tokenizeChallenges(v, out);
  // plain objects for callers (no null prototype surprises in equality checks)
  return out.map((c) => ({ scheme: c.scheme, params: { ...c.params } }));
}

export type DigestHash = 'MD5' | 'SHA-256';

/** algorithm parameter → hash and -sess flag; undefined for algorithms we do not implement (Q09). */
function digestAlgorithm(alg: string | undefined): { hash: DigestHash; sess: boolean } | undefined {
  const a = (alg ?? 'MD5').trim().toUpperCase();
  switch (a) {
    case '':
    case 'MD5':
      return { hash: 'MD5', sess: false };
    case 'MD5-SESS':
      return { hash: 'MD5', sess: true };
    case 'SHA-256':
      return { hash: 'SHA-256', sess: false };
    case 'SHA-256-SESS':
      return { hash: 'SHA-256', sess: true };
    default:
      return undefined;
  }
}

const h = (hash: DigestHash, s: string): string => createHash(hash === 'MD5' ? 'md5' : 'sha256').update(s, 'utf8').digest('hex');

/**
 * The Digest `response` value (RFC 7616 §3.4.1). Without qop this is the RFC 2069 form
 * H(HA1:nonce:HA2); with qop=auth it is H(HA1:nonce:nc:cnonce:qop:HA2).
 */
export function computeDigestResponse(p: {
  hash: DigestHash;
  sess?: boolean;
  username: string;
  realm: string;
  password: string;
  method: string;
  uri: string;
  nonce: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
}): string {
  let ha1 = h(p.hash, `${p.username}:${p.realm}:${p.password}`);
  if (p.sess) ha1 = h(p.hash, `${ha1}:${p.nonce}:${p.cnonce ?? ''}`);
  const ha2 = h(p.hash, `${p.method}:${p.uri}`);
  if (p.qop) return h(p.hash, `${ha1}:${p.nonce}:${p.nc ?? ''}:${p.cnonce ?? ''}:${p.qop}:${ha2}`);
  return h(p.hash, `${ha1}:${p.nonce}:${ha2}`);
}

const quote = (s: string): string => `"${s.replace(/[\\"]/g, (c) => '\\' + c).replace(/[\r\n]/g, ' ')}"`;

interface Selected {
  kind: 'Basic' | 'Digest';
  hash?: DigestHash;
  sess?: boolean;
  params: Record<string, string>;
  /** identifies the credential attempt: scheme, algorithm and realm (not the nonce) */
  family: string;
  key: string;
  rank: number;
}

function usable(c: Challenge): Selected | undefined {
  if (c.scheme === 'Basic') {
    const realm = c.params.realm ?? '';
    return { kind: 'Basic', params: c.params, family: `Basic\0${realm}`, key: `Basic\0${realm}`, rank: 1 };
  }
  if (c.scheme !== 'Digest') return undefined;
  const nonce = c.params.nonce;
  if (nonce === undefined) return undefined;
  const alg = digestAlgorithm(c.params.algorithm);
  if (!alg) return undefined; // TP-Link offers algorithms we do not know; skip, don't fail (Q09)
  const qop = c.params.qop;
  if (qop !== undefined && qop.trim() !== '') {
    const opts = qop.split(',').map((q) => q.trim().toLowerCase());
    if (!opts.includes('auth')) return undefined; // auth-int only: not implemented
  }
  const realm = c.params.realm ?? '';
  const family = `Digest\0${alg.hash}\0${alg.sess}\0${realm}`;
  return {
    kind: 'Digest',
    hash: alg.hash,
    sess: alg.sess,
    params: c.params,
    family,
    key: `${family}\0${nonce}`,
    rank: alg.hash === 'SHA-256' ? 3 : 2,
  };
}

export interface ClientAuthenticatorOptions {
  /** cnonce generator; tests inject fixed values to check RFC 7616 vectors */
  cnonce?: () => string;
}

export class ClientAuthenticator {
  readonly #creds: Credentials;
  readonly #makeCnonce: () => string;
  #sel: Selected | undefined;
  #nc = 0;
  #cnonce = '';
  /** authorize() calls made with the current challenge */
  #uses = 0;
  readonly #failed = new Set<string>();

  constructor(creds: Credentials, opts: ClientAuthenticatorOptions = {}) {
    this.#creds = { username: creds.username ?? '', password: creds.password ?? '' };
    this.#makeCnonce = opts.cnonce ?? (() => randomBytes(16).toString('hex'));
  }

  get scheme(): 'Basic' | 'Digest' | undefined {
    return this.#sel?.kind;
  }

  /**
   * Feed all WWW-Authenticate values of a 401. Picks Digest SHA-256 > Digest MD5 > Basic, skips
   * unknown algorithms (Q09). Returns false if no usable challenge, or if the same challenge already
   * failed (so the caller reports 'wrong credentials' instead of looping) — except `stale=true`,
   * which is always retried.
   */
  handleChallenge(values: string[]): boolean {
    const cands = parseWwwAuthenticate(values)
      .map(usable)
      .filter((c): c is Selected => c !== undefined);
    const isStale = (c: Selected): boolean => c.kind === 'Digest' && (c.params.stale ?? '').toLowerCase() === 'true';

    const cur = this.#sel;
    if (cur && this.#uses > 0) {
      const staleRetry = cands.some((c) => isStale(c) && c.family === cur.family);
      // A 401 to the first request made with these credentials means they were refused. Once
      // several requests went through, a new 401 is a nonce expiry or a new connection (Q13).
      if (!staleRetry && this.#uses === 1) {
        this.#failed.add(cur.key);
        this.#failed.add(cur.family); // servers that rotate the nonce on every 401 must not loop
      }
    }
    let best: Selected | undefined;
    for (const c of cands) {
      const stale = isStale(c);
      if (!stale && (this.#failed.has(c.key) || this.#failed.has(c.family))) continue;
      if (!best || c.rank > best.rank) best = c;
    }
    if (!best) return false;
    const sameNonce = cur !== undefined && cur.key === best.key;
    this.#sel = best;
    this.#uses = 0;
    if (!sameNonce) {
      this.#nc = 0;
      this.#cnonce = this.#makeCnonce();
    }
    return true;
  }

  /**
   * The Authorization header for this request, or undefined before any challenge. `uri` is put in
   * the digest exactly as given (must equal the request-line URI, Q11). qop/nc/algorithm unquoted,
   * nc increments per nonce, opaque echoed (Q10).
   */
  authorize(method: string, uri: string): string | undefined {
    const sel = this.#sel;
    if (!sel) return undefined;
    this.#uses++;
    const { username, password } = this.#creds;
    if (sel.kind === 'Basic') {
      return 'Basic ' + Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
    }
    const p = sel.params;
    const realm = p.realm ?? '';
    const nonce = p.nonce ?? '';
    const useQop = p.qop !== undefined && p.qop.trim() !== '';
    this.#nc++;
    const nc = this.#nc.toString(16).padStart(8, '0');
    const response = computeDigestResponse({
      hash: sel.hash!,
      sess: sel.sess ?? false,
      username,
      realm,
      password,
      method,
      uri,
      nonce,
      ...(useQop ? { qop: 'auth', nc, cnonce: this.#cnonce } : sel.sess ? { cnonce: this.#cnonce } : {}),
    });
    const parts = [
      `username=${quote(username)}`,
      `realm=${quote(realm)}`,
      `nonce=${quote(nonce)}`,
      `uri=${quote(uri)}`,
      `response=${quote(response)}`,
    ];
    // Echo the algorithm token as the server spelled it, unquoted (RFC 7616 §3.4; Amcrest rejects
    // quoted algorithm/qop/nc, QUIRKS Q10).
    if (p.algorithm !== undefined && p.algorithm.trim() !== '') parts.push(`algorithm=${p.algorithm.trim()}`);
    if (p.opaque !== undefined) parts.push(`opaque=${quote(p.opaque)}`); // Dahua needs it echoed (Q10)
    if (useQop) parts.push('qop=auth', `nc=${nc}`, `cnonce=${quote(this.#cnonce)}`);
    else if (sel.sess) parts.push(`cnonce=${quote(this.#cnonce)}`);
    return 'Digest ' + parts.join(', ');
  }
}

// ───────────────────────── server side ─────────────────────────

export type ServerAuthMethod = 'basic' | 'digest-md5' | 'digest-sha256';

const NONCE_RAW = 8 + 8 + 16; // time (ms), random, HMAC tag

/** Constant-time string equality (hashing first so unequal lengths don't short-circuit). */
function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

export class ServerAuthenticator {
  readonly #realm: string;
  readonly #methods: Set<ServerAuthMethod>;
  readonly #ttl: number;
  readonly #secret = randomBytes(32);
  readonly #now: () => number;

  constructor(opts: { realm: string; methods?: ServerAuthMethod[]; nonceTtlMs?: number; now?: () => number }) {
    this.#realm = opts.realm;
    this.#methods = new Set(opts.methods ?? ['digest-md5', 'digest-sha256']);
    this.#ttl = opts.nonceTtlMs ?? 5 * 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Stateless nonce: issue time + random + HMAC, so verification needs no per-client memory and a
   * flood of 401s cannot grow state.
   */
  #makeNonce(): string {
    const raw = Buffer.alloc(NONCE_RAW);
    raw.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(this.#now()))), 0);
    randomBytes(8).copy(raw, 8);
    createHmac('sha256', this.#secret).update(raw.subarray(0, 16)).digest().copy(raw, 16, 0, 16);
    return raw.toString('base64url');
  }

  /** 'ok' | 'stale' | 'invalid' */
  #checkNonce(nonce: string): 'ok' | 'stale' | 'invalid' {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(nonce)) return 'invalid';
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_RAW) return 'invalid';
    const tag = createHmac('sha256', this.#secret).update(raw.subarray(0, 16)).digest().subarray(0, 16);
    if (!timingSafeEqual(tag, raw.subarray(16))) return 'invalid';
    const issued = Number(raw.readBigUInt64BE(0));
    const age = this.#now() - issued;
    return age >= 0 && age <= this.#ttl ? 'ok' : 'stale';
  }

  /**
   * WWW-Authenticate values to send with a 401 (fresh nonces). SHA-256 first per RFC 7616 §3.7; MD5
   * after it because FFmpeg keeps the last Digest challenge it sees; Basic last.
   */
  challenge(stale = false): string[] {
    const out: string[] = [];
    const realm = quote(this.#realm);
    const st = stale ? ', stale=TRUE' : '';
    if (this.#methods.has('digest-sha256')) out.push(`Digest realm=${realm}, nonce="${this.#makeNonce()}", algorithm=SHA-256, qop="auth"${st}`);
    if (this.#methods.has('digest-md5')) out.push(`Digest realm=${realm}, nonce="${this.#makeNonce()}", algorithm=MD5, qop="auth"${st}`);
    if (this.#methods.has('basic')) out.push(`Basic realm=${realm}`);
    return out;
  }

  /**
   * Verify an Authorization header against a password lookup. Constant-time compare. Returns the
   * username on success; 'stale' when the nonce expired.
   */
  verify(
    method: string,
    authorization: string | undefined,
    lookup: (username: string) => string | undefined,
  ): { ok: true; username: string } | { ok: false; stale?: boolean } {
    if (typeof authorization !== 'string') return { ok: false };
    const a = authorization.trim();
    const sp = a.indexOf(' ');
    const scheme = (sp < 0 ? a : a.slice(0, sp)).toLowerCase();
    if (scheme === 'basic') {
      if (!this.#methods.has('basic')) return { ok: false };
      const decoded = Buffer.from(a.slice(sp + 1).trim(), 'base64').toString('utf8');
      const c = decoded.indexOf(':');
      if (c < 0) return { ok: false };
      const username = decoded.slice(0, c);
      const expected = lookup(username);
      if (expected === undefined) return { ok: false };
      return safeEqual(decoded.slice(c + 1), expected) ? { ok: true, username } : { ok: false };
    }
    if (scheme !== 'digest') return { ok: false };
    const ch = parseWwwAuthenticate([a])[0];
    if (!ch) return { ok: false };
    const p = ch.params;
    const { username, nonce, uri, response } = p;
    if (username === undefined || nonce === undefined || uri === undefined || response === undefined) return { ok: false };
    if (p.realm !== this.#realm) return { ok: false };
    const alg = digestAlgorithm(p.algorithm);
    if (!alg || alg.sess) return { ok: false };
    if (alg.hash === 'MD5' && !this.#methods.has('digest-md5')) return { ok: false };
    if (alg.hash === 'SHA-256' && !this.#methods.has('digest-sha256')) return { ok: false };
    const nonceState = this.#checkNonce(nonce);
    if (nonceState === 'invalid') return { ok: false };
    const password = lookup(username);
    if (password === undefined) return { ok: false };
    const qop = p.qop?.toLowerCase();
    if (qop !== undefined && qop !== 'auth') return { ok: false };
    if (qop === 'auth' && (p.nc === undefined || p.cnonce === undefined)) return { ok: false };
    const expected = computeDigestResponse({
      hash: alg.hash,
      username,
      realm: this.#realm,
      password,
      method,
      uri,
      nonce,
      ...(qop === 'auth' ? { qop, nc: p.nc!, cnonce: p.cnonce! } : {}),
    });
    if (!safeEqual(response.toLowerCase(), expected)) return { ok: false };
    // RFC 7616 §3.3: stale only when the digest was right but the nonce is too old.
    if (nonceState === 'stale') return { ok: false, stale: true };
    return { ok: true, username };
  }
}
