/**
 * RTSP/1.0 message codec (RFC 2326 §4–§10) with no knowledge of sockets.
 *
 * The demultiplexer consumes the byte stream of a TCP control connection from its first byte and
 * separates interleaved binary frames (§10.12, `$` channel length payload), responses and
 * server-sent requests, in any order and split at any byte. It never throws: malformed input
 * becomes a `DemuxError` event followed by a resynchronisation.
 */

export class RtspHeaders {
  // Ordered list of [name as received, value]; lookups are case-insensitive because cameras spell
  // header names every which way (`Cseq`, `Content-length`; QUIRKS Q03).
  #list: [string, string][] = [];

  constructor(init?: Iterable<[string, string]> | Record<string, string | number | undefined>) {
    if (init === undefined) return;
    if (Symbol.iterator in Object(init)) {
      for (const [k, v] of init as Iterable<[string, string]>) this.#list.push([k, String(v)]);
    } else {
      for (const [k, v] of Object.entries(init as Record<string, string | number | undefined>)) {
        if (v !== undefined) this.#list.push([k, String(v)]);
      }
    }
  }

  get(name: string): string | undefined {
    const n = name.toLowerCase();
    for (const [k, v] of this.#list) if (k.toLowerCase() === n) return v;
    return undefined;
  }

  getAll(name: string): string[] {
    const n = name.toLowerCase();
    const out: string[] = [];
    for (const [k, v] of this.#list) if (k.toLowerCase() === n) out.push(v);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, value: string | number): this {
    const n = name.toLowerCase();
    const i = this.#list.findIndex(([k]) => k.toLowerCase() === n);
    if (i < 0) {
      this.#list.push([name, String(value)]);
      return this;
    }
    // Keep the position of the first occurrence so that serialisation order stays stable.
    this.#list[i] = [name, String(value)];
    this.#list = this.#list.filter(([k], j) => j === i || k.toLowerCase() !== n);
    return this;
  }

  append(name: string, value: string | number): this {
    this.#list.push([name, String(value)]);
    return this;
  }

  delete(name: string): this {
    const n = name.toLowerCase();
    this.#list = this.#list.filter(([k]) => k.toLowerCase() !== n);
    return this;
  }

  entries(): [string, string][] {
    return this.#list.map(([k, v]) => [k, v]);
  }

  get size(): number {
    return this.#list.length;
  }
}

export interface RtspRequest {
  type: 'request';
  method: string;
  uri: string;
  version: string;
  headers: RtspHeaders;
  body: Buffer;
}
export interface RtspResponse {
  type: 'response';
  version: string;
  /** 0 when the status line carries no usable 3-digit code (QUIRKS Q01: fail that request only). */
  statusCode: number;
  reason: string;
  headers: RtspHeaders;
  body: Buffer;
}
export interface InterleavedFrame {
  type: 'interleaved';
  channel: number;
  payload: Buffer;
}
export interface DemuxError {
  type: 'error';
  error: string;
  /** bytes discarded while resyncing */
  skipped: number;
}
export type DemuxEvent = RtspRequest | RtspResponse | InterleavedFrame | DemuxError;
export interface DemuxerOptions {
  maxHeaderBytes?: number /*default 64 KiB*/;
  maxBodyBytes?: number /*default 1 MiB*/;
}

/** Methods whose request line may start a message (RFC 2326 §6.1 plus RTSP 2.0 REDIRECT use). */
export const RTSP_METHODS = [
  'OPTIONS',
  'DESCRIBE',
  'SETUP',
  'PLAY',
  'PAUSE',
  'TEARDOWN',
  'GET_PARAMETER',
  'SET_PARAMETER',
  'ANNOUNCE',
  'RECORD',
  'REDIRECT',
] as const;

const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;

// Tokens that can begin a message: 'RTSP/' for responses and 'METHOD ' for requests.
const START_TOKENS: Buffer[] = [Buffer.from('RTSP/'), ...RTSP_METHODS.map((m) => Buffer.from(m + ' '))];
// First bytes of the start tokens plus '$', for a table-driven resync scan.
const SYNC_FIRST = new Uint8Array(256);
SYNC_FIRST[DOLLAR] = 1;
for (const t of START_TOKENS) SYNC_FIRST[t[0]!] = 1;

const enum Start {
  Garbage,
  Partial,
  Response,
  Request,
}

/** Does `data[pos..end)` begin a response or request line, or might it with more bytes? */
function classifyStart(data: Buffer, pos: number, end: number): Start {
  const avail = end - pos;
  let partial = false;
  for (let t = 0; t < START_TOKENS.length; t++) {
    const tok = START_TOKENS[t]!;
    const n = Math.min(tok.length, avail);
    let i = 0;
    while (i < n && data[pos + i] === tok[i]) i++;
    if (i === n) {
      if (n === tok.length) return t === 0 ? Start.Response : Start.Request;
      partial = true;
    }
  }
  return partial ? Start.Partial : Start.Garbage;
}

/** Copy out of the demuxer's own buffer (which is reused); chunk-backed views are handed out as is. */
function take(data: Buffer, start: number, end: number, copy: boolean): Buffer {
  if (!copy) return data.subarray(start, end);
  return Buffer.copyBytesFrom(data, start, end - start);
}

const EMPTY = Buffer.alloc(0);

interface PendingMessage {
  msg: RtspRequest | RtspResponse;
  headerLen: number;
  bodyLen: number;
}

const RE_HEADER_LIKE = /^[A-Za-z][A-Za-z0-9_-]*:(\s|$)/;
const RE_RESPONSE_VERSION = /^RTSP\/\d/;

/**
 * Parses a complete header block (start line and header lines, without the empty line).
 * Returns undefined when the start line is not a plausible RTSP start line.
 */
function parseHeaderBlock(text: string, kind: Start): RtspRequest | RtspResponse | undefined {
  // CRLF, LF and lone CR are all line terminators (QUIRKS Q02a: LF-only cameras; live555 getLine).
  const lines = text.split(/\r\n|\r|\n/);
  const first = lines[0] ?? '';
  const headers = new RtspHeaders();
  const list: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    const c0 = line.charCodeAt(0);
    if (c0 === SP || c0 === HT) {
      const rest = line.trim();
      // Luma x20: ' \r\n' inside the header block and ' RTP-Info: …' with a leading space; a
      // whitespace-only line is ignored and an indented "Name: value" is its own header (QUIRKS Q02c).
      if (rest.length === 0) continue;
      if (!RE_HEADER_LIKE.test(rest) && list.length > 0) {
        // obsolete line folding: continuation of the previous header value
        const prev = list[list.length - 1]!;
        prev[1] = prev[1].length > 0 ? prev[1] + ' ' + rest : rest;
        continue;
      }
      addHeaderLine(rest);
      continue;
    }
    addHeaderLine(line);
  }
  function addHeaderLine(line: string): void {
    const colon = line.indexOf(':');
    if (colon <= 0) return; // not a header; tolerated and ignored
    const name = line.slice(0, colon).trim();
    if (name.length === 0) return;
    list.push([name, line.slice(colon + 1).trim()]);
  }
  for (const [k, v] of list) headers.append(k, v);

  if (kind === Start.Response) {
    // Status-Line = RTSP-Version SP Status-Code SP Reason-Phrase; tolerate runs of SP/HT, a missing
    // or empty reason and odd reasons such as 'ClientUnAuthorized' (QUIRKS Q01).
    const m = /^(\S+)[ \t]*(\S*)[ \t]*(.*)$/.exec(first);
    if (!m) return undefined;
    const version = m[1]!;
    if (!RE_RESPONSE_VERSION.test(version)) return undefined;
    const codeText = m[2]!;
    const statusCode = /^[1-9]\d\d$/.test(codeText) ? Number(codeText) : 0;
    const reason = statusCode === 0 ? `${codeText} ${m[3]!}`.trim() : m[3]!.trim();
    return { type: 'response', version, statusCode, reason, headers, body: EMPTY };
  }
  const parts = first.trim().split(/[ \t]+/);
  if (parts.length !== 3 || !parts[2]!.startsWith('RTSP/')) return undefined;
  return { type: 'request', method: parts[0]!, uri: parts[1]!, version: parts[2]!, headers, body: EMPTY };
}

/**
 * Streaming demultiplexer from the first byte of a TCP connection: `$` frames, responses, requests,
 * any mix, any split. Never throws.
 *
 * Payloads and bodies may be views of the chunk passed to `push()` (zero-copy on the hot path), so
 * callers must not modify a chunk after pushing it.
 */
export class RtspDemuxer {
  readonly #maxHeader: number;
  readonly #maxBody: number;
  readonly #limit: number;
  #buf: Buffer = EMPTY;
  #len = 0;
  // resync state
  #skipping = false;
  #skipped = 0;
  #skipReason = '';
  // incremental header scan state, offsets relative to the message start
  #lineStart = 0;
  #firstLineOk = false;
  #pending: PendingMessage | undefined;

  constructor(opts: DemuxerOptions = {}) {
    const h = opts.maxHeaderBytes ?? 64 * 1024;
    const b = opts.maxBodyBytes ?? 1024 * 1024;
    this.#maxHeader = Number.isFinite(h) && h >= 64 ? Math.floor(h) : 64 * 1024;
    this.#maxBody = Number.isFinite(b) && b >= 0 ? Math.floor(b) : 1024 * 1024;
    // A complete element is at most a header block plus body, or a 65539-byte interleaved frame.
    this.#limit = this.#maxHeader + this.#maxBody + 65536 + 64;
  }

  /** bytes buffered */
  get buffered(): number {
    return this.#len;
  }

  /** The bound `buffered` never exceeds. */
  get bufferLimit(): number {
    return this.#limit;
  }

  push(chunk: Buffer): DemuxEvent[] {
    const events: DemuxEvent[] = [];
    try {
      this.#push(chunk, events);
    } catch (e) {
      // Defensive: a bug here must not take down the socket handler. Drop state and resync.
      this.#reset();
      events.push({ type: 'error', error: `demuxer internal error: ${String(e)}`, skipped: 0 });
    }
    return events;
  }

  #reset(): void {
    this.#len = 0;
    this.#skipping = false;
    this.#skipped = 0;
    this.#lineStart = 0;
    this.#firstLineOk = false;
    this.#pending = undefined;
  }

  #push(chunk: Buffer, events: DemuxEvent[]): void {
    let off = 0;
    const total = chunk.length;
    while (off < total) {
      if (this.#len === 0) {
        // Fast path: parse straight from the caller's chunk; keep only an incomplete tail.
        const pos = this.#parse(chunk, off, total, false, events);
        const rest = total - pos;
        if (rest > 0) {
          this.#ensure(rest);
          chunk.copy(this.#buf, 0, pos, total);
          this.#len = rest;
        }
        return;
      }
      // Slow path: complete the element at the head of our buffer. When its size is known, copy
      // only what it needs so the rest of the chunk can go back to the zero-copy path.
      const hint = this.#needHint();
      const room = this.#limit - this.#len;
      const n = Math.min(total - off, hint > 0 ? hint : room);
      if (n > 0) {
        this.#ensure(this.#len + n);
        chunk.copy(this.#buf, this.#len, off, off + n);
        this.#len += n;
        off += n;
      }
      const pos = this.#parse(this.#buf, 0, this.#len, true, events);
      if (pos > 0) {
        this.#buf.copy(this.#buf, 0, pos, this.#len);
        this.#len -= pos;
        // A 1 MiB SDP should not pin 1 MiB per idle connection for the rest of its life.
        if (this.#len === 0 && this.#buf.length > 256 * 1024) this.#buf = EMPTY;
      } else if (n === 0) {
        // Cannot happen given the limits; never spin.
        events.push({ type: 'error', error: 'demuxer buffer full', skipped: this.#len });
        this.#reset();
      }
    }
  }

  #ensure(size: number): void {
    if (this.#buf.length >= size) return;
    let cap = Math.max(4096, this.#buf.length);
    while (cap < size) cap *= 2;
    cap = Math.min(Math.max(cap, size), this.#limit);
    const nb = Buffer.allocUnsafe(cap);
    this.#buf.copy(nb, 0, 0, this.#len);
    this.#buf = nb;
  }

  /** Bytes still needed to complete the element at the head of the internal buffer, 0 if unknown. */
  #needHint(): number {
    if (this.#skipping || this.#len === 0) return 0;
    if (this.#buf[0] === DOLLAR) {
      if (this.#len < 4) return 4 - this.#len;
      return 4 + this.#buf.readUInt16BE(2) - this.#len;
    }
    if (this.#pending) return this.#pending.headerLen + this.#pending.bodyLen - this.#len;
    return 0;
  }

  #fail(error: string, skipped: number, events: DemuxEvent[]): void {
    events.push({ type: 'error', error, skipped });
  }

  #startSkipping(reason: string, skipped: number): void {
    this.#skipping = true;
    this.#skipReason = reason;
    this.#skipped = skipped;
    this.#lineStart = 0;
    this.#firstLineOk = false;
    this.#pending = undefined;
  }

  /** Parse `data[pos..end)`; returns the offset of the first byte not consumed. */
  #parse(data: Buffer, pos: number, end: number, copy: boolean, events: DemuxEvent[]): number {
    while (pos < end) {
      if (this.#skipping) {
        // Garbage: scan for '$', 'RTSP/' or 'METHOD ' (QUIRKS Q06 resync).
        let p = pos;
        let found = -1;
        let partialAt = -1;
        for (; p < end; p++) {
          if (SYNC_FIRST[data[p]!] === 0) continue;
          if (data[p] === DOLLAR) {
            found = p;
            break;
          }
          const k = classifyStart(data, p, end);
          if (k === Start.Response || k === Start.Request) {
            found = p;
            break;
          }
          if (k === Start.Partial) {
            partialAt = p;
            break;
          }
        }
        if (found < 0) {
          const stop = partialAt >= 0 ? partialAt : end;
          this.#skipped += stop - pos;
          return stop;
        }
        this.#skipped += found - pos;
        pos = found;
        this.#skipping = false;
        this.#fail(this.#skipReason, this.#skipped, events);
        this.#skipped = 0;
        continue;
      }

      const b0 = data[pos]!;
      if (b0 === CR || b0 === LF) {
        // Stray line ends between messages (an extra CRLF after a body, the LF of a CR-only block).
        pos++;
        continue;
      }
      if (b0 === DOLLAR) {
        if (end - pos < 4) return pos;
        const len = data.readUInt16BE(pos + 2);
        if (end - pos < 4 + len) return pos;
        events.push({ type: 'interleaved', channel: data[pos + 1]!, payload: take(data, pos + 4, pos + 4 + len, copy) });
        pos += 4 + len;
        continue;
      }

      const pending = this.#pending;
      if (pending) {
        if (end - pos < pending.headerLen + pending.bodyLen) return pos;
        const bodyStart = pos + pending.headerLen;
        pending.msg.body = pending.bodyLen > 0 ? take(data, bodyStart, bodyStart + pending.bodyLen, copy) : EMPTY;
        events.push(pending.msg);
        pos = bodyStart + pending.bodyLen;
        this.#pending = undefined;
        this.#lineStart = 0;
        this.#firstLineOk = false;
        continue;
      }

      const kind = classifyStart(data, pos, end);
      if (kind === Start.Partial) return pos;
      if (kind === Start.Garbage) {
        this.#startSkipping('unexpected bytes on the RTSP connection', 1);
        pos++;
        continue;
      }

      // Find the empty line that ends the header block. A line starting with SP/HT is not empty
      // (QUIRKS Q02c Luma ' \r\n'); only a line with no characters at all ends the headers.
      let i = pos + this.#lineStart;
      let headerEnd = -1;
      let crAtEnd = false;
      let needMore = false;
      while (i < end) {
        // find the next CR or LF
        let t = i;
        while (t < end && data[t] !== CR && data[t] !== LF) t++;
        if (t >= end) {
          needMore = true;
          break;
        }
        let after = t + 1;
        let ambiguous = false;
        if (data[t] === CR) {
          if (after < end) {
            if (data[after] === LF) after++;
          } else {
            ambiguous = true; // CR is the last byte: CRLF or a lone CR?
          }
        }
        if (!this.#firstLineOk) {
          // Validate the start line as soon as it is complete so that a method name inside garbage
          // does not swallow the messages that follow it.
          const line = data.toString('latin1', pos, t);
          if (parseHeaderBlock(line, kind) === undefined) {
            this.#startSkipping('malformed RTSP start line', 1);
            pos++;
            break;
          }
          this.#firstLineOk = true;
        }
        if (t === i && i > pos) {
          headerEnd = after;
          crAtEnd = ambiguous;
          break;
        }
        if (ambiguous) {
          needMore = true;
          break;
        }
        i = after;
        this.#lineStart = i - pos;
      }
      if (this.#skipping) continue;
      if (headerEnd < 0) {
        if (needMore || i >= end) {
          if (end - pos > this.#maxHeader) {
            // One error, reported with the total skipped once the stream resynchronises.
            this.#startSkipping(`RTSP header block exceeds ${this.#maxHeader} bytes`, end - pos);
            return end;
          }
          return pos;
        }
        continue;
      }
      const headerLen = headerEnd - pos;
      if (headerLen > this.#maxHeader) {
        this.#fail(`RTSP header block exceeds ${this.#maxHeader} bytes`, headerLen, events);
        pos = headerEnd;
        this.#lineStart = 0;
        this.#firstLineOk = false;
        continue;
      }
      const text = data.toString('utf8', pos, headerEnd);
      const msg = parseHeaderBlock(text, kind);
      if (!msg) {
        this.#startSkipping('malformed RTSP start line', 1);
        pos++;
        continue;
      }
      // RFC 2326 §4.4 / QUIRKS Q03: no Content-Length means no body (the next bytes may be '$'
      // frames); the name is matched case-insensitively (Hipcam 'Content-length').
      const cl = msg.headers.get('content-length');
      let bodyLen = 0;
      if (cl !== undefined) {
        const v = cl.trim();
        if (!/^\d{1,10}$/.test(v)) {
          this.#fail(`invalid Content-Length ${JSON.stringify(v.slice(0, 32))}`, headerLen, events);
          pos = headerEnd;
          this.#lineStart = 0;
          this.#firstLineOk = false;
          continue;
        }
        bodyLen = Number(v);
        if (bodyLen > this.#maxBody) {
          this.#fail(`Content-Length ${bodyLen} exceeds ${this.#maxBody} bytes`, headerLen, events);
          pos = headerEnd;
          this.#lineStart = 0;
          this.#firstLineOk = false;
          continue;
        }
      }
      if (crAtEnd && bodyLen > 0) return pos; // wait for the byte after the final CR
      this.#lineStart = 0;
      this.#firstLineOk = false;
      if (bodyLen === 0) {
        events.push(msg);
        pos = headerEnd;
        continue;
      }
      this.#pending = { msg, headerLen, bodyLen };
      // loop: the pending branch emits it once the body is here
    }
    return pos;
  }
}

const STATUS_TEXT: Record<number, string> = {
  100: 'Continue',
  200: 'OK',
  201: 'Created',
  250: 'Low on Storage Space',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Time-out',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Large',
  415: 'Unsupported Media Type',
  451: 'Parameter Not Understood',
  452: 'Conference Not Found',
  453: 'Not Enough Bandwidth',
  454: 'Session Not Found',
  455: 'Method Not Valid in This State',
  456: 'Header Field Not Valid for Resource',
  457: 'Invalid Range',
  458: 'Parameter Is Read-Only',
  459: 'Aggregate operation not allowed',
  460: 'Only aggregate operation allowed',
  461: 'Unsupported transport',
  462: 'Destination unreachable',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Time-out',
  505: 'RTSP Version not supported',
  551: 'Option not supported',
};

/** Reason phrase for a status code (RFC 2326 §7.1.1); 'Unknown' for codes not in the table. */
export function statusText(code: number): string {
  return STATUS_TEXT[code] ?? 'Unknown';
}

function serializeHeaders(lines: string[], headers: RtspHeaders, body: Buffer | undefined): Buffer {
  const hasBody = body !== undefined && body.length > 0;
  for (const [k, v] of headers.entries()) {
    if (hasBody && k.toLowerCase() === 'content-length') continue;
    // A CR or LF inside a value would let a caller-supplied string inject headers.
    lines.push(`${k}: ${v.replace(/[\r\n]+/g, ' ')}`);
  }
  if (hasBody) lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8');
  return hasBody ? Buffer.concat([head, body]) : head;
}

export function serializeRequest(req: { method: string; uri: string; headers: RtspHeaders; body?: Buffer }): Buffer {
  return serializeHeaders([`${req.method} ${req.uri} RTSP/1.0`], req.headers, req.body);
}

export function serializeResponse(res: {
  statusCode: number;
  reason?: string;
  headers: RtspHeaders;
  body?: Buffer;
}): Buffer {
  const reason = (res.reason ?? statusText(res.statusCode)).replace(/[\r\n]+/g, ' ');
  return serializeHeaders([`RTSP/1.0 ${res.statusCode} ${reason}`], res.headers, res.body);
}

/** `$` channel length payload (RFC 2326 §10.12). Throws RangeError on arguments no peer could receive. */
export function encodeInterleaved(channel: number, payload: Buffer): Buffer {
  if (!Number.isInteger(channel) || channel < 0 || channel > 255) throw new RangeError(`bad interleaved channel ${channel}`);
  if (payload.length > 0xffff) throw new RangeError(`interleaved payload too large: ${payload.length}`);
  const out = Buffer.allocUnsafe(4 + payload.length);
  out[0] = DOLLAR;
  out[1] = channel;
  out.writeUInt16BE(payload.length, 2);
  payload.copy(out, 4);
  return out;
}
