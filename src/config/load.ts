/**
 * cameras.yaml → typed Config, with every problem reported as FILE:LINE:COL (ARCHITECTURE.md
 * "cameras.yaml" is the fixed schema). The yaml Document is returned alongside the Config so that
 * API edits can later be written back with the user's comments preserved.
 *
 * Validation walks the yaml AST rather than the plain JS value, because only the AST knows where
 * each key and value sits in the file. Nothing here throws on any input text.
 */
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import nodePath from 'node:path';
import { Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, Scalar } from 'yaml';
import type { YAMLMap } from 'yaml';
import { redactText, redactUrl, splitUrl } from './credentials.ts';
import { AUDIO_MODES, CAMERA_ID_RE, RESTREAM_DEFAULTS, ROLES, TRANSPORTS } from './types.ts';
import type { CameraConfig, Config, ConfigError, IceServer, RestreamConfig, UserConfig } from './types.ts';

export type ParseConfigResult =
  | { ok: true; config: Config; document: Document; warnings: ConfigError[] }
  | { ok: false; errors: ConfigError[] };

/** Listening host used for `":port"` (all IPv4 interfaces; write `"[::]:port"` for IPv6). */
export const ANY_HOST = '0.0.0.0';
/** Stop collecting after this many errors: a garbage file must not produce unbounded output. */
const MAX_ERRORS = 200;
/** A config is hand-written text; anything larger is a mistake (wrong file), not a config. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** HLS keeps segmentCount segments per stream in memory; a typo like 70000 must not be accepted. */
const MAX_SEGMENT_COUNT = 1000;

export function defaultConfig(): Config {
  return {
    server: {
      http: { host: ANY_HOST, port: 8080 },
      rtsp: { host: ANY_HOST, port: 8554 },
      webrtc: { udpPorts: { min: 8555, max: 8655 }, additionalHosts: [], iceServers: [] },
    },
    hls: { partDurationMs: 200, segmentDurationMs: 1000, segmentCount: 7, alwaysRemux: false },
    users: [],
    cameras: [],
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** '200ms', '2s', '1.5s', '1m', '1h' ⇒ milliseconds; a bare number (or numeric string) is ms. Negative, non-finite or malformed ⇒ undefined. */
export function parseDuration(s: string | number): number | undefined {
  if (typeof s === 'number') return Number.isFinite(s) && s >= 0 ? s : undefined;
  if (typeof s !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$/.exec(s);
  if (!m) return undefined;
  const v = Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms'];
  return Number.isFinite(v) ? v : undefined;
}

function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

const HOSTNAME_RE = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const IPV6_RE = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?$/;

/** `":8080"`, `"8080"`, `"0.0.0.0:8080"`, `"cam.local:8080"`, `"[::1]:8080"` ⇒ {host, port}; an error message otherwise. */
export function parseHostPort(s: string | number): { ok: true; host: string; port: number } | { ok: false; error: string } {
  const bad = (why: string) => ({ ok: false as const, error: `${why}; expected "[host]:port" such as ":8080", "0.0.0.0:8080" or "[::1]:8080"` });
  if (typeof s === 'number') s = String(s);
  if (typeof s !== 'string') return bad('not a string');
  s = s.trim();
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return bad('unclosed "[" in IPv6 address');
    host = s.slice(1, close);
    if (!IPV6_RE.test(host)) return bad(`"${host}" is not an IPv6 address`);
    if (s[close + 1] !== ':') return bad('missing ":port" after "]"');
    portText = s.slice(close + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) {
      host = '';
      portText = s;
    } else {
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
      if (host.includes(':')) return bad('IPv6 addresses must be written in brackets');
      if (host !== '' && !HOSTNAME_RE.test(host)) return bad(`"${host}" is not a valid host`);
    }
  }
  const port = parsePort(portText);
  if (port === undefined) return bad(`port "${portText}" must be a whole number from 1 to 65535`);
  return { ok: true, host: host === '' ? ANY_HOST : host, port };
}

/** `"8555-8655"` (or a single port) ⇒ {min, max} with 1 ≤ min ≤ max ≤ 65535. */
export function parsePortRange(s: string | number): { ok: true; min: number; max: number } | { ok: false; error: string } {
  const text = String(s).trim();
  const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(text);
  if (!m) return { ok: false, error: 'expected a UDP port range "min-max" such as "8555-8655"' };
  const min = parsePort(m[1]);
  const max = m[2] === undefined ? min : parsePort(m[2]);
  if (min === undefined || max === undefined) return { ok: false, error: 'ports must be whole numbers from 1 to 65535' };
  if (min > max) return { ok: false, error: `range start ${min} is above its end ${max}` };
  return { ok: true, min, max };
}

/** Why `cidr` is not an IPv4 multicast range (224.0.0.0/4) in `a.b.c.d/bits` form; undefined when it is. */
export function multicastRangeError(cidr: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) return 'expected an IPv4 multicast range such as "239.255.42.0/24"';
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 32) return 'not an IPv4 address range';
  if (octets[0]! < 224 || octets[0]! > 239) return 'not a multicast range: the addresses must lie in 224.0.0.0/4';
  if (bits < 4) return 'wider than the multicast block 224.0.0.0/4';
  return undefined;
}

/** Edit distance counting an adjacent transposition as one edit ("rtps" → "rtsp"); config keys are short. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** Common mistakes that edit distance does not catch. */
const KEY_SYNONYMS: Record<string, string> = { user: 'username', pass: 'password', passwd: 'password', substream: 'sub', subStream: 'sub', on_demand: 'onDemand', ondemand: 'onDemand', disabled: 'enabled' };

function suggestKey(key: string, known: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  if (KEY_SYNONYMS[key] && known.includes(KEY_SYNONYMS[key])) return KEY_SYNONYMS[key];
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    if (k.toLowerCase() === lower) return k;
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const limit = key.length <= 4 ? 1 : key.length <= 8 ? 2 : 3;
  return bestD <= limit ? best : undefined;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** What the user wrote, for messages. Callers must not pass secret-bearing nodes. */
function describe(node: unknown): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (node.value === null) return 'nothing';
    const raw = typeof node.source === 'string' ? node.source : String(node.value);
    const shown = raw.length > 60 ? `${raw.slice(0, 57)}...` : raw;
    return JSON.stringify(redactText(shown));
  }
  return 'an unsupported value';
}

interface Entry {
  key: Scalar;
  value: unknown;
}

/** One validation pass over a yaml Document. */
class Checker {
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigError[] = [];
  private truncated = false;

  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lc: LineCounter | undefined,
  ) {}

  pos(node: unknown, fallback?: unknown): { line: number; col: number } {
    for (const n of [node, fallback]) {
      const range = (n as { range?: [number, number, number] } | null)?.range;
      // Empty plain scalars (`url:` with nothing after) have a zero-width range; the key is a better anchor.
      const empty = isScalar(n) && n.value === null && range && range[0] === range[1];
      if (range && this.lc && !empty) return this.lc.linePos(range[0]);
    }
    return { line: 1, col: 1 };
  }

  error(node: unknown, path: string, message: string, fallback?: unknown): void {
    if (this.errors.length >= MAX_ERRORS) {
      if (!this.truncated) {
        this.truncated = true;
        this.errors.push({ file: this.file, line: 1, col: 1, path: '', message: `too many errors; only the first ${MAX_ERRORS} are shown` });
      }
      return;
    }
    this.errors.push({ file: this.file, ...this.pos(node, fallback), path, message: redactText(message) });
  }

  warn(node: unknown, path: string, message: string, fallback?: unknown): void {
    if (this.warnings.length < MAX_ERRORS) this.warnings.push({ file: this.file, ...this.pos(node, fallback), path, message: redactText(message) });
  }

  /** Follow an alias to its anchored node (yaml keeps aliases as references in the AST). */
  deref(node: unknown): unknown {
    if (isAlias(node)) {
      try {
        return node.resolve(this.doc) ?? null;
      } catch {
        return null;
      }
    }
    return node;
  }

  isEmpty(node: unknown): boolean {
    return node === null || node === undefined || (isScalar(node) && node.value === null);
  }

  /** A key's text as written: `123:` is the id "123", not the number. */
  keyText(key: unknown): string | undefined {
    if (!isScalar(key)) return undefined;
    if (typeof key.value === 'string') return key.value;
    if (key.value === null) return undefined;
    return typeof key.source === 'string' ? key.source : String(key.value);
  }

  /**
   * Entries of a mapping, reporting non-scalar keys, duplicates and (when `known` is given) unknown
   * keys. An empty value (`server:`) counts as an empty mapping. Returns undefined if not a mapping.
   */
  mapping(node: unknown, path: string, known: readonly string[] | null, what = 'mapping', keyNode?: unknown): Map<string, Entry> | undefined {
    node = this.deref(node);
    const out = new Map<string, Entry>();
    if (this.isEmpty(node)) return out;
    if (!isMap(node)) {
      this.error(node, path, `must be a ${what} (got ${describe(node)})`, keyNode);
      return undefined;
    }
    for (const pair of (node as YAMLMap).items) {
      if (!isPair(pair)) continue;
      const key = this.deref(pair.key);
      const name = this.keyText(key);
      if (name === undefined || !isScalar(key)) {
        this.error(key ?? pair.value, path, 'keys must be plain strings', node);
        continue;
      }
      const childPath = path === '' ? name : `${path}.${name}`;
      const first = out.get(name);
      if (first) {
        const line = this.pos(first.key).line;
        const label = path === 'cameras' ? 'camera id' : 'key';
        this.error(key, childPath, `duplicate ${label} "${name}" (first defined at line ${line})`);
        continue;
      }
      if (known && !known.includes(name)) {
        const hint = suggestKey(name, known);
        let msg = `unknown key "${name}"` + (hint ? `; did you mean "${hint}"?` : `; expected one of ${known.join(', ')}`);
        // A camera pasted at the top level instead of under `cameras:`.
        if (path === '' && isMap(this.deref(pair.value)) && (this.deref(pair.value) as YAMLMap).has('url')) msg += ' (cameras go under "cameras:")';
        this.error(key, childPath, msg);
        continue;
      }
      out.set(name, { key, value: pair.value });
    }
    return out;
  }

  /** A list; empty value = empty list. */
  list(node: unknown, path: string, keyNode?: unknown): unknown[] | undefined {
    node = this.deref(node);
    if (this.isEmpty(node)) return [];
    if (!isSeq(node)) {
      this.error(node, path, `must be a list (got ${describe(node)})`, keyNode);
      return undefined;
    }
    return node.items.map((n) => this.deref(n));
  }

  /**
   * A string. Plain scalars that YAML would read as numbers or booleans keep their source text, so
   * `password: 0123` is "0123", not 123.
   */
  string(e: Entry | { key?: unknown; value: unknown }, path: string, opts: { secret?: boolean; nonEmpty?: boolean } = {}): string | undefined {
    const node = this.deref(e.value);
    let s: string | undefined;
    if (isScalar(node) && node.value !== null) {
      if (typeof node.value === 'string') s = node.value;
      else if (typeof node.source === 'string') s = node.source;
      else if (typeof node.value === 'number' || typeof node.value === 'boolean' || typeof node.value === 'bigint') s = String(node.value);
    }
    if (s === undefined) {
      this.error(node, path, `must be a string (got ${opts.secret && isScalar(node) && node.value !== null ? 'a non-string value' : describe(node)})`, e.key);
      return undefined;
    }
    if (opts.nonEmpty && s.trim() === '') {
      this.error(node, path, 'must not be empty', e.key);
      return undefined;
    }
    return s;
  }

  bool(e: Entry, path: string): boolean | undefined {
    const node = this.deref(e.value);
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    this.error(node, path, `must be true or false (got ${describe(node)})`, e.key);
    return undefined;
  }

  oneOf<T extends string>(e: Entry, path: string, allowed: readonly T[]): T | undefined {
    const node = this.deref(e.value);
    if (isScalar(node) && typeof node.value === 'string' && (allowed as readonly string[]).includes(node.value)) return node.value as T;
    this.error(node, path, `must be one of ${allowed.join(', ')} (got ${describe(node)})`, e.key);
    return undefined;
  }

  stringList(e: Entry, path: string): string[] | undefined {
    const items = this.list(e.value, path, e.key);
    if (!items) return undefined;
    const out: string[] = [];
    items.forEach((item, i) => {
      const s = this.string({ value: item, key: e.key }, `${path}[${i}]`, { nonEmpty: true });
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  scalarValue(e: Entry): string | number | undefined {
    const node = this.deref(e.value);
    if (isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')) return node.value;
    return undefined;
  }

  // ---- sections -------------------------------------------------------------------------------

  config(): Config {
    const cfg = defaultConfig();
    const top = this.mapping(this.doc.contents, '', ['server', 'hls', 'users', 'cameras'], 'mapping with server, hls, users and cameras');
    if (!top) return cfg;
    const server = top.get('server');
    if (server) this.server(server, cfg);
    const hls = top.get('hls');
    if (hls) this.hls(hls, cfg);
    const cameras = top.get('cameras');
    if (cameras) cfg.cameras = this.cameras(cameras);
    const users = top.get('users');
    if (users) cfg.users = this.users(users, cfg.cameras);
    return cfg;
  }

  hostPort(e: Entry, path: string): { host: string; port: number } | undefined {
    const v = this.scalarValue(e);
    if (v === undefined) {
      this.error(this.deref(e.value), path, `must be a "[host]:port" string such as ":8080" (got ${describe(this.deref(e.value))})`, e.key);
      return undefined;
    }
    const r = parseHostPort(v);
    if (!r.ok) {
      this.error(this.deref(e.value), path, `${r.error} (got ${describe(this.deref(e.value))})`, e.key);
      return undefined;
    }
    return { host: r.host, port: r.port };
  }

  server(e: Entry, cfg: Config): void {
    const m = this.mapping(e.value, 'server', ['http', 'rtsp', 'rtsps', 'webrtc', 'tls', 'restream'], 'mapping', e.key);
    if (!m) return;
    for (const name of ['http', 'rtsp', 'rtsps'] as const) {
      const x = m.get(name);
      if (!x) continue;
      const hp = this.hostPort(x, `server.${name}`);
      if (hp) cfg.server[name] = hp;
    }
    const tls = m.get('tls');
    if (tls) this.tls(tls, cfg);
    const rtsps = m.get('rtsps');
    if (rtsps && !tls) this.error(this.deref(rtsps.value), 'server.rtsps', 'server.rtsps needs server.tls (the certificate and key it serves)', rtsps.key);
    const webrtcPorts = this.webrtc(m.get('webrtc'), cfg);
    const restream = m.get('restream');
    const restreamKeys = restream ? this.restream(restream, cfg) : undefined;
    this.udpRangeOverlaps(cfg, webrtcPorts, restreamKeys);
  }

  /**
   * The UDP ranges in use (WebRTC, restream unicast, restream multicast; a default where a key is
   * absent) must not overlap: a port taken by one would be missing from the other. Reported at the
   * key written later in that list that the file sets.
   */
  udpRangeOverlaps(cfg: Config, webrtcPorts: Entry | undefined, restream: Map<string, Entry> | undefined): void {
    const r = cfg.server.restream;
    const ranges = [
      { path: 'server.webrtc.udpPorts', range: cfg.server.webrtc.udpPorts, entry: webrtcPorts, fallback: false },
      { path: 'server.restream.udpPorts', range: r?.udpPorts ?? RESTREAM_DEFAULTS.udpPorts, entry: r?.udpPorts && restream?.get('udpPorts'), fallback: !r?.udpPorts },
      { path: 'server.restream.multicastPorts', range: r?.multicastPorts ?? RESTREAM_DEFAULTS.multicastPorts, entry: r?.multicastPorts && restream?.get('multicastPorts'), fallback: !r?.multicastPorts },
    ];
    for (let j = 1; j < ranges.length; j++) {
      for (let i = 0; i < j; i++) {
        const [a, b] = [ranges[i]!, ranges[j]!];
        if (!(a.range.min <= b.range.max && b.range.min <= a.range.max)) continue;
        const [at, other] = b.entry ? [b, a] : [a, b];
        if (!at.entry) continue;
        const span = `${other.range.min}-${other.range.max}`;
        const key = other.path.slice(other.path.lastIndexOf('.') + 1);
        const what = other.fallback ? `the restream's default ${key} (${span}); move one of them (${other.path})` : `${other.path} (${span})`;
        this.error(this.deref(at.entry.value), at.path, `overlaps ${what}`, at.entry.key);
      }
    }
  }

  /** A UDP port range of at least `min` ports; undefined (and an error) otherwise. */
  portRange(e: Entry, path: string, example: string, minPorts = 1): { min: number; max: number } | undefined {
    const v = this.scalarValue(e);
    const r = v === undefined ? undefined : parsePortRange(v);
    if (!r?.ok) {
      this.error(this.deref(e.value), path, `${r ? r.error : `expected a UDP port range "min-max" such as "${example}"`} (got ${describe(this.deref(e.value))})`, e.key);
      return undefined;
    }
    if (r.max - r.min + 1 < minPorts) {
      this.error(this.deref(e.value), path, `needs at least ${minPorts} ports (got ${r.min}-${r.max})`, e.key);
      return undefined;
    }
    return { min: r.min, max: r.max };
  }

  /** server.restream: the RTSP server's UDP ports and multicast (RFC 2326 §12.39). Returns its keys. */
  restream(e: Entry, cfg: Config): Map<string, Entry> | undefined {
    const m = this.mapping(e.value, 'server.restream', ['udpPorts', 'multicastGroups', 'multicastPorts', 'multicastTtl', 'multicastInterface'], 'mapping', e.key);
    if (!m) return undefined;
    const out: RestreamConfig = {};
    const udp = m.get('udpPorts');
    // RTP goes on an even port and RTCP on the next (RFC 3550 §11): a range needs a pair.
    if (udp) out.udpPorts = this.portRange(udp, 'server.restream.udpPorts', '8000-8499', 2);
    const groups = m.get('multicastGroups');
    if (groups) {
      const v = this.string(groups, 'server.restream.multicastGroups', { nonEmpty: true });
      const err = v === undefined ? undefined : multicastRangeError(v);
      if (err) this.error(this.deref(groups.value), 'server.restream.multicastGroups', `${err} (got ${JSON.stringify(v)})`, groups.key);
      else if (v !== undefined) out.multicastGroups = v.trim();
    }
    const mports = m.get('multicastPorts');
    if (mports) out.multicastPorts = this.portRange(mports, 'server.restream.multicastPorts', '9000-9999', 2);
    const ttl = m.get('multicastTtl');
    if (ttl) {
      const v = this.scalarValue(ttl);
      const n = typeof v === 'number' ? v : v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
      if (Number.isInteger(n) && n >= 1 && n <= 255) out.multicastTtl = n;
      else this.error(this.deref(ttl.value), 'server.restream.multicastTtl', `must be a whole number from 1 to 255 (got ${describe(this.deref(ttl.value))})`, ttl.key);
    }
    const iface = m.get('multicastInterface');
    if (iface) {
      const v = this.string(iface, 'server.restream.multicastInterface', { nonEmpty: true });
      if (v !== undefined && isIPv4(v.trim())) out.multicastInterface = v.trim();
      else if (v !== undefined) this.error(this.deref(iface.value), 'server.restream.multicastInterface', `must be the IPv4 address of a local interface (got ${JSON.stringify(v)})`, iface.key);
    }
    cfg.server.restream = out;
    return m;
  }

  /** server.webrtc; returns its udpPorts key when the file sets a valid one (for the overlap check). */
  webrtc(w: Entry | undefined, cfg: Config): Entry | undefined {
    if (!w) return undefined;
    const wm = this.mapping(w.value, 'server.webrtc', ['udpPorts', 'additionalHosts', 'iceServers'], 'mapping', w.key);
    if (!wm) return undefined;
    const ports = wm.get('udpPorts');
    const range = ports && this.portRange(ports, 'server.webrtc.udpPorts', '8555-8655');
    if (range) cfg.server.webrtc.udpPorts = range;
    const hosts = wm.get('additionalHosts');
    if (hosts) {
      const list = this.stringList(hosts, 'server.webrtc.additionalHosts');
      if (list) {
        list.forEach((h, i) => {
          if (/\s/.test(h)) this.error(this.deref((this.deref(hosts.value) as { items: unknown[] }).items[i]), `server.webrtc.additionalHosts[${i}]`, `must be an IP address or host name (got ${JSON.stringify(h)})`);
        });
        cfg.server.webrtc.additionalHosts = list.filter((h) => !/\s/.test(h));
      }
    }
    const ice = wm.get('iceServers');
    if (ice) {
      const items = this.list(ice.value, 'server.webrtc.iceServers', ice.key);
      if (items) cfg.server.webrtc.iceServers = items.map((it, i) => this.iceServer(it, `server.webrtc.iceServers[${i}]`)).filter((x): x is IceServer => !!x);
    }
    return range ? ports : undefined;
  }

  /** server.tls: {cert, key}, both files that must exist (paths relative to the config file). */
  tls(e: Entry, cfg: Config): void {
    const m = this.mapping(e.value, 'server.tls', ['cert', 'key'], 'mapping with cert and key', e.key);
    if (!m) return;
    const out: { cert?: string; key?: string } = {};
    for (const name of ['cert', 'key'] as const) {
      const x = m.get(name);
      if (!x) {
        this.error(this.deref(e.value), `server.tls.${name}`, `server.tls needs ${name}: the path of a PEM file`, e.key);
        continue;
      }
      const v = this.string(x, `server.tls.${name}`, { nonEmpty: true });
      if (v === undefined) continue;
      const resolved = nodePath.resolve(nodePath.dirname(nodePath.resolve(this.file)), v);
      if (!existsSync(resolved)) this.error(this.deref(x.value), `server.tls.${name}`, `file not found: ${resolved}`, x.key);
      else out[name] = resolved;
    }
    if (out.cert && out.key) cfg.server.tls = { cert: out.cert, key: out.key };
  }

  iceServer(node: unknown, path: string): IceServer | undefined {
    const m = this.mapping(node, path, ['urls', 'username', 'credential']);
    if (!m) return undefined;
    const urlsE = m.get('urls');
    if (!urlsE) {
      this.error(node, path, 'urls is required (e.g. "stun:stun.l.google.com:19302")');
      return undefined;
    }
    const urlsNode = this.deref(urlsE.value);
    const urls = isSeq(urlsNode) ? this.stringList(urlsE, `${path}.urls`) : this.string(urlsE, `${path}.urls`, { nonEmpty: true });
    if (urls === undefined) return undefined;
    let good = true;
    (Array.isArray(urls) ? urls : [urls]).forEach((u, i) => {
      if (!/^(stun|stuns|turn|turns):\S+$/.test(u)) {
        const where = isSeq(urlsNode) ? urlsNode.items[i] : urlsNode;
        this.error(this.deref(where), Array.isArray(urls) ? `${path}.urls[${i}]` : `${path}.urls`, `must be a stun:, stuns:, turn: or turns: URI (got ${JSON.stringify(redactUrl(u))})`, urlsE.key);
        good = false;
      }
    });
    const out: IceServer = { urls };
    const user = m.get('username');
    if (user) {
      const s = this.string(user, `${path}.username`);
      if (s !== undefined) out.username = s;
    }
    const cred = m.get('credential');
    if (cred) {
      const s = this.string(cred, `${path}.credential`, { secret: true });
      if (s !== undefined) out.credential = s;
    }
    return good ? out : undefined;
  }

  hls(e: Entry, cfg: Config): void {
    const m = this.mapping(e.value, 'hls', ['partDuration', 'segmentDuration', 'segmentCount', 'alwaysRemux'], 'mapping', e.key);
    if (!m) return;
    const dur = (name: 'partDuration' | 'segmentDuration'): number | undefined => {
      const x = m.get(name);
      if (!x) return undefined;
      const v = this.scalarValue(x);
      const ms = v === undefined ? undefined : parseDuration(v);
      if (ms === undefined || ms <= 0) {
        this.error(this.deref(x.value), `hls.${name}`, `must be a positive duration such as "200ms" or "1s" (got ${describe(this.deref(x.value))})`, x.key);
        return undefined;
      }
      return ms;
    };
    const part = dur('partDuration');
    const seg = dur('segmentDuration');
    if (part !== undefined) cfg.hls.partDurationMs = part;
    if (seg !== undefined) cfg.hls.segmentDurationMs = seg;
    if ((part !== undefined || seg !== undefined) && cfg.hls.segmentDurationMs < cfg.hls.partDurationMs) {
      const at = m.get('segmentDuration') ?? m.get('partDuration')!;
      this.error(this.deref(at.value), m.get('segmentDuration') ? 'hls.segmentDuration' : 'hls.partDuration', `segmentDuration (${cfg.hls.segmentDurationMs}ms) must be at least partDuration (${cfg.hls.partDurationMs}ms): a segment is made of parts`, at.key);
    }
    const count = m.get('segmentCount');
    if (count) {
      const node = this.deref(count.value);
      const n = isScalar(node) && typeof node.value === 'number' ? node.value : NaN;
      if (!Number.isInteger(n) || n < 2 || n > MAX_SEGMENT_COUNT) {
        this.error(node, 'hls.segmentCount', `must be a whole number from 2 to ${MAX_SEGMENT_COUNT} (got ${describe(node)})`, count.key);
      } else {
        cfg.hls.segmentCount = n;
        // RFC 8216 §6.2.2: a live playlist should hold at least three target durations, or players stall.
        if (n < 3) this.warn(node, 'hls.segmentCount', `${n} segments is below the 3 that RFC 8216 recommends for live playlists; players may stall`);
      }
    }
    const remux = m.get('alwaysRemux');
    if (remux) {
      const b = this.bool(remux, 'hls.alwaysRemux');
      if (b !== undefined) cfg.hls.alwaysRemux = b;
    }
  }

  users(e: Entry, cameras: CameraConfig[]): UserConfig[] {
    const items = this.list(e.value, 'users', e.key);
    if (!items) return [];
    const out: UserConfig[] = [];
    const seen = new Map<string, unknown>();
    items.forEach((item, i) => {
      const path = `users[${i}]`;
      const m = this.mapping(item, path, ['name', 'password', 'passwordHash', 'token', 'role', 'cameras']);
      if (!m) return;
      if (this.isEmpty(item)) {
        this.error(item, path, 'empty user entry; expected name, role and one of password, passwordHash or token', e.key);
        return;
      }
      let ok = true;
      const nameE = m.get('name');
      let name: string | undefined;
      if (!nameE) {
        this.error(item, path, 'name is required');
        ok = false;
      } else {
        name = this.string(nameE, `${path}.name`, { nonEmpty: true });
        if (name === undefined) ok = false;
        else if (seen.has(name)) {
          this.error(this.deref(nameE.value), `${path}.name`, `duplicate user name "${name}" (first defined at line ${this.pos(seen.get(name)).line})`);
          ok = false;
        } else seen.set(name, this.deref(nameE.value));
      }
      const user: UserConfig = { name: name ?? '', role: 'viewer' };
      for (const k of ['password', 'passwordHash', 'token'] as const) {
        const x = m.get(k);
        if (!x) continue;
        const s = this.string(x, `${path}.${k}`, { secret: true, nonEmpty: true });
        if (s === undefined) ok = false;
        else user[k] = s;
      }
      if (!m.has('password') && !m.has('passwordHash') && !m.has('token')) {
        this.error(item, path, `user${name ? ` "${name}"` : ''} needs a credential: password, passwordHash or token`);
        ok = false;
      }
      if (m.has('password') && m.has('passwordHash')) {
        this.error(m.get('passwordHash')!.key, `${path}.passwordHash`, 'give either password or passwordHash, not both');
        ok = false;
      }
      const roleE = m.get('role');
      if (roleE) {
        const role = this.oneOf(roleE, `${path}.role`, ROLES);
        if (role === undefined) ok = false;
        else user.role = role;
      }
      const camsE = m.get('cameras');
      if (camsE) {
        const cams = this.stringList(camsE, `${path}.cameras`);
        if (cams === undefined) ok = false;
        else {
          user.cameras = cams;
          if (user.role === 'admin') this.warn(camsE.key, `${path}.cameras`, 'ignored: admins see every camera');
          else {
            const list = this.deref(camsE.value);
            cams.forEach((pattern, j) => {
              const re = globToRegExp(pattern);
              if (!cameras.some((c) => re.test(c.id))) {
                this.warn(isSeq(list) ? this.deref(list.items[j]) : list, `${path}.cameras[${j}]`, `"${pattern}" matches no configured camera`, camsE.key);
              }
            });
          }
        }
      }
      if (ok) out.push(user);
    });
    return out;
  }

  cameras(e: Entry): CameraConfig[] {
    const node = this.deref(e.value);
    // `cameras: []` is a natural way to write "none yet".
    if (isSeq(node) && node.items.length === 0) return [];
    const m = this.mapping(node, 'cameras', null, 'mapping of camera id → camera', e.key);
    if (!m) return [];
    const out: CameraConfig[] = [];
    for (const [id, entry] of m) {
      const c = this.camera(id, entry);
      if (c) out.push(c);
    }
    return out;
  }

  /** Validate `url`/`sub`: rtsp(s) with a host, or (main URL only) builtin:demo / publisher. */
  url(e: Entry, path: string, main: boolean): string | undefined {
    const raw = this.string(e, path, { nonEmpty: true });
    if (raw === undefined) return undefined;
    const problem = checkCameraUrl(raw, main);
    if (problem) {
      this.error(this.deref(e.value), path, problem, e.key);
      return undefined;
    }
    return raw;
  }

  camera(id: string, e: Entry): CameraConfig | undefined {
    const path = `cameras.${id}`;
    let ok = true;
    if (!CAMERA_ID_RE.test(id)) {
      this.error(e.key, path, `camera id "${id}" must start with a letter or digit and contain only letters, digits, "_", "." or "-" (at most 64 characters): it is used in URLs`);
      ok = false;
    }
    const m = this.mapping(e.value, path, CAMERA_KEYS, 'mapping', e.key);
    if (!m) return undefined;
    const cam: CameraConfig = { id, name: id, url: '', transport: 'auto', audio: 'auto', onDemand: false, enabled: true, tags: [] };
    const urlE = m.get('url');
    if (!urlE) {
      this.error(e.key, path, 'url is required (rtsp://…, rtsps://…, builtin:demo or publisher)');
      ok = false;
    } else {
      const u = this.url(urlE, `${path}.url`, true);
      if (u === undefined) ok = false;
      else cam.url = u;
    }
    const subE = m.get('sub');
    if (subE) {
      const u = this.url(subE, `${path}.sub`, false);
      if (u === undefined) ok = false;
      else cam.sub = u;
    }
    const nameE = m.get('name');
    if (nameE) {
      const s = this.string(nameE, `${path}.name`, { nonEmpty: true });
      if (s === undefined) ok = false;
      else cam.name = s;
    }
    for (const k of ['username', 'password'] as const) {
      const x = m.get(k);
      if (!x) continue;
      // An empty password is legitimate (Q15: `admin:@host`), so no nonEmpty here.
      const s = this.string(x, `${path}.${k}`, { secret: k === 'password' });
      if (s === undefined) ok = false;
      else cam[k] = s;
    }
    const tr = m.get('transport');
    if (tr) {
      const v = this.oneOf(tr, `${path}.transport`, TRANSPORTS);
      if (v === undefined) ok = false;
      else cam.transport = v;
    }
    const au = m.get('audio');
    if (au) {
      const v = this.oneOf(au, `${path}.audio`, AUDIO_MODES);
      if (v === undefined) ok = false;
      else cam.audio = v;
    }
    for (const k of ['onDemand', 'enabled'] as const) {
      const x = m.get(k);
      if (!x) continue;
      const b = this.bool(x, `${path}.${k}`);
      if (b === undefined) ok = false;
      else cam[k] = b;
    }
    const tags = m.get('tags');
    if (tags) {
      const t = this.stringList(tags, `${path}.tags`);
      if (t === undefined) ok = false;
      else cam.tags = t;
    }
    return ok ? cam : undefined;
  }
}

export const CAMERA_KEYS: readonly string[] = ['name', 'url', 'username', 'password', 'sub', 'transport', 'audio', 'onDemand', 'enabled', 'tags'];

/** undefined if `raw` is an acceptable camera URL, else a message (with any password redacted). */
export function checkCameraUrl(raw: string, main: boolean): string | undefined {
  const shown = JSON.stringify(redactUrl(raw));
  const expected = main ? 'rtsp://…, rtsps://…, builtin:demo or publisher' : 'rtsp://… or rtsps://…';
  if (main && (raw === 'builtin:demo' || raw === 'publisher')) return undefined;
  if (main && raw.startsWith('builtin:')) return `unknown built-in source ${shown}; the only one is builtin:demo`;
  const parts = splitUrl(raw);
  const scheme = parts?.prefix.slice(0, -3).toLowerCase();
  if (!parts || (scheme !== 'rtsp' && scheme !== 'rtsps')) return `must be ${expected} (got ${shown})`;
  const end = parts.rest.search(/[/?#]/);
  const authority = end < 0 ? parts.rest : parts.rest.slice(0, end);
  let host: string;
  let port: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    host = close < 0 ? authority : authority.slice(0, close + 1);
    if (close < 0 || !IPV6_RE.test(authority.slice(1, close))) return `invalid IPv6 host in ${shown}`;
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return `invalid host in ${shown}`;
    if (after.startsWith(':')) port = after.slice(1);
  } else {
    const colon = authority.indexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    if (colon >= 0) port = authority.slice(colon + 1);
    if (host !== '' && !HOSTNAME_RE.test(host)) return `invalid host "${host}" in ${shown}`;
  }
  if (host === '') return `${scheme}:// URL must have a host (got ${shown})`;
  if (port !== undefined && port !== '' && parsePort(port) === undefined) return `port "${port}" must be a whole number from 1 to 65535 (got ${shown})`;
  // The part after the userinfo goes on the RTSP request line, where whitespace would split it.
  if (/[\s\x00-\x1f\x7f]/.test(parts.rest)) return `must not contain spaces or control characters after the host (got ${shown}); percent-encode them as %20`;
  return undefined;
}

/** Map a yaml error offset to the dotted path of the innermost key around it (best effort). */
function pathAt(doc: Document, offset: number): string {
  let path = '';
  let node: unknown = doc.contents;
  for (let depth = 0; depth < 64 && node; depth++) {
    let next: unknown;
    if (isMap(node)) {
      for (const p of node.items) {
        const k = p.key as { range?: number[] } | null;
        const v = p.value as { range?: number[] } | null;
        const start = k?.range?.[0] ?? v?.range?.[0];
        const end = v?.range?.[2] ?? k?.range?.[2];
        if (start === undefined || end === undefined || offset < start || offset > end) continue;
        const name = isScalar(p.key) ? String(p.key.value) : '?';
        path = path === '' ? name : `${path}.${name}`;
        next = p.value;
        break;
      }
    } else if (isSeq(node)) {
      node.items.forEach((it, i) => {
        const r = (it as { range?: number[] } | null)?.range;
        if (next === undefined && r && offset >= r[0] && offset <= r[2]) {
          path = `${path}[${i}]`;
          next = it;
        }
      });
    }
    node = next;
  }
  return path;
}

/** Parse and validate cameras.yaml text. Never throws; reports every problem found. */
export function parseConfig(text: string, file: string): ParseConfigResult {
  try {
    const lineCounter = new LineCounter();
    // uniqueKeys:false — duplicates are reported by the checker with both locations and the right path.
    const document = parseDocument(typeof text === 'string' ? text : '', { lineCounter, keepSourceTokens: true, prettyErrors: false, uniqueKeys: false });
    const toErr = (e: { pos: [number, number]; message: string }): ConfigError => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      // Keep only yaml's first line: with prettyErrors off there is no source excerpt, but be sure.
      const message = redactText(String(e.message).split('\n')[0]);
      return { file, line, col, path: pathAt(document, e.pos[0]), message };
    };
    if (document.errors.length > 0) {
      // A broken document would yield misleading schema errors; report the syntax problems only.
      return { ok: false, errors: document.errors.slice(0, MAX_ERRORS).map(toErr) };
    }
    const checker = new Checker(file, document, lineCounter);
    const config = checker.config();
    const warnings = [...document.warnings.slice(0, MAX_ERRORS).map(toErr), ...checker.warnings];
    // Sections are checked in dependency order (cameras before users); report in file order.
    const byPosition = (a: ConfigError, b: ConfigError) => a.line - b.line || a.col - b.col;
    if (checker.errors.length > 0) return { ok: false, errors: [...checker.errors].sort(byPosition) };
    return { ok: true, config, document, warnings: warnings.sort(byPosition) };
  } catch (e) {
    // Defence in depth: a bug here must surface as a config error, never as a crash.
    return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: redactText(`internal error while reading config: ${(e as Error)?.message ?? e}`) }] };
  }
}

/** Read and parse a config file; read errors become a ConfigError at 1:1. */
export async function loadConfigFile(file: string): Promise<ParseConfigResult> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: 'not a regular file' }] };
    if (st.size > MAX_CONFIG_BYTES) return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `file is ${st.size} bytes; a config larger than ${MAX_CONFIG_BYTES} bytes is surely the wrong file` }] };
    const text = await readFile(file, 'utf8');
    return parseConfig(text, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : `cannot read file (${code ?? (e as Error)?.message ?? 'unknown error'})`;
    return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: why }] };
  }
}

/** `${file}:${line}:${col}: ${path}: ${message}`, with URL passwords redacted. */
export function formatConfigError(e: ConfigError): string {
  const path = redactText(e.path);
  const message = redactText(e.message);
  return `${e.file}:${e.line}:${e.col}: ${path ? `${path}: ` : ''}${message}`;
}

/**
 * Validate one camera given as plain data (the API's POST/PUT body), with the same rules as the file.
 * Errors carry path `cameras.<id>.<field>` and position 1:1 (there is no file).
 */
export function validateCamera(id: string, body: unknown, file = '<request>'): { ok: true; camera: CameraConfig } | { ok: false; errors: ConfigError[] } {
  try {
    const doc = new Document({ cameras: { [String(id)]: body ?? null } });
    const checker = new Checker(file, doc, undefined);
    const cfg = checker.config();
    if (checker.errors.length > 0 || cfg.cameras.length !== 1) {
      return { ok: false, errors: checker.errors.length > 0 ? checker.errors : [{ file, line: 1, col: 1, path: `cameras.${id}`, message: 'invalid camera' }] };
    }
    return { ok: true, camera: cfg.cameras[0] };
  } catch (e) {
    return { ok: false, errors: [{ file, line: 1, col: 1, path: `cameras.${id}`, message: redactText(`invalid camera: ${(e as Error)?.message ?? e}`) }] };
  }
}
