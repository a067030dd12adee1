/** Property tests: nothing from the wire can make the RTSP layer throw or grow without bound. */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { RtspDemuxer, RtspHeaders, encodeInterleaved, serializeRequest, serializeResponse, type DemuxEvent } from '../../../src/rtsp/message.ts';
import { parseTransport } from '../../../src/rtsp/headers/transport.ts';
import { parseSession } from '../../../src/rtsp/headers/session.ts';
import { parseRtpInfo } from '../../../src/rtsp/headers/rtpinfo.ts';
import { parseRange } from '../../../src/rtsp/headers/range.ts';
import { parsePublic } from '../../../src/rtsp/headers/public.ts';
import { parseWwwAuthenticate, ClientAuthenticator, ServerAuthenticator } from '../../../src/rtsp/auth.ts';
import { parseRtspUrl, joinControl, resolveBaseUrl } from '../../../src/rtsp/url.ts';
import { redactSecrets } from '../../../src/util/redact.ts';

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

/** Plausible RTSP text fragments to steer random input towards interesting parser states. */
const fragments = fc.constantFrom(
  '$',
  'RTSP/1.0 200 OK\r\n',
  'RTSP/',
  'OPTIONS * RTSP/1.0\r\n',
  'SETUP ',
  'Content-Length: 5\r\n',
  'Content-Length: 99999999\r\n',
  'Content-length: -1\r\n',
  '\r\n',
  '\n',
  '\r',
  ' \r\n',
  'CSeq: 1\r\n',
  '\x24\x00\xff\xff',
  '\x24\x01\x00\x04abcd',
);
const wireish = fc
  .array(fc.oneof(bytes(64), fragments.map((s) => Buffer.from(s, 'latin1'))), { maxLength: 40 })
  .map((parts) => Buffer.concat(parts));

function feed(d: RtspDemuxer, input: Buffer, cuts: number[]): DemuxEvent[] {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const out: DemuxEvent[] = [];
  let prev = 0;
  for (const p of [...points, input.length]) {
    out.push(...d.push(input.subarray(prev, p)));
    expect(d.buffered).toBeLessThanOrEqual(d.bufferLimit);
    prev = p;
  }
  return out;
}

describe('RtspDemuxer properties', () => {
  it('arbitrary bytes, arbitrary splits: never throws, buffer stays bounded', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(4000), wireish), fc.array(fc.nat(), { maxLength: 20 }), (input, cuts) => {
        const d = new RtspDemuxer({ maxHeaderBytes: 512, maxBodyBytes: 1024 });
        expect(() => feed(d, input, cuts)).not.toThrow();
        expect(d.buffered).toBeLessThanOrEqual(512 + 1024 + 65536 + 64);
      }),
      { numRuns: 400 },
    );
  });

  it('a long stream of junk with small limits never holds more than the bound', () => {
    const d = new RtspDemuxer({ maxHeaderBytes: 256, maxBodyBytes: 256 });
    fc.assert(
      fc.property(wireish, (chunk) => {
        d.push(chunk);
        expect(d.buffered).toBeLessThanOrEqual(d.bufferLimit);
        expect(d.bufferLimit).toBe(256 + 256 + 65536 + 64);
      }),
      { numRuns: 500 },
    );
  });

  // Valid messages separated by garbage. The garbage contains no '$' and no letters, so it cannot
  // spell a method name or 'RTSP/'; a '$' in garbage would be read as a frame header by design.
  const garbage = fc.uint8Array({ minLength: 1, maxLength: 50 }).map((a) => Buffer.from(Array.from(a, (b) => (b === 0x24 || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ? 0x00 : b))));
  const message = fc.oneof(
    fc.record({ cseq: fc.nat(99999), body: fc.string({ maxLength: 40 }) }).map(({ cseq, body }) => ({
      kind: 'response' as const,
      cseq,
      wire: serializeResponse({ statusCode: 200, headers: new RtspHeaders({ CSeq: cseq }), body: Buffer.from(body) }),
    })),
    fc.record({ cseq: fc.nat(99999), m: fc.constantFrom('OPTIONS', 'ANNOUNCE', 'GET_PARAMETER') }).map(({ cseq, m }) => ({
      kind: 'request' as const,
      cseq,
      wire: serializeRequest({ method: m, uri: 'rtsp://cam/x', headers: new RtspHeaders({ CSeq: cseq }) }),
    })),
    fc.record({ ch: fc.nat(255), n: fc.nat(300) }).map(({ ch, n }) => ({ kind: 'interleaved' as const, cseq: ch, wire: encodeInterleaved(ch, Buffer.alloc(n, ch)) })),
  );

  it('valid messages after garbage are still recovered, however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.option(garbage, { nil: undefined }), message), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (items, cuts) => {
          const input = Buffer.concat(items.flatMap(([g, m]) => (g ? [g, m.wire] : [m.wire])));
          const ev = feed(new RtspDemuxer(), input, cuts);
          const got = ev
            .filter((e) => e.type !== 'error')
            .map((e) => (e.type === 'interleaved' ? ['interleaved', e.channel, e.payload.length] : [e.type, Number(e.headers.get('cseq'))]));
          const want = items.map(([, m]) => (m.kind === 'interleaved' ? ['interleaved', m.cseq, m.wire.length - 4] : [m.kind, m.cseq]));
          expect(got).toEqual(want);
          // never more skipped than garbage sent; every run with a non-CR/LF byte is reported
          const errors = ev.filter((e) => e.type === 'error');
          const skipped = errors.reduce((n, e) => n + (e.type === 'error' ? e.skipped : 0), 0);
          const garbageBytes = items.reduce((n, [g]) => n + (g ? g.length : 0), 0);
          expect(skipped).toBeLessThanOrEqual(garbageBytes);
          const dirtyRuns = items.filter(([g]) => g && g.some((b) => b !== 0x0d && b !== 0x0a)).length;
          expect(errors).toHaveLength(dirtyRuns);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('header parsers never throw', () => {
  const anyString = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc
      .array(fc.constantFrom('RTP/AVP', '/TCP', ';', ',', '=', '-', 'ssrc', 'interleaved', 'client_port', ' ', '"', 'url', 'seq', 'rtptime', 'timeout', 'npt', 'Digest', 'Basic', 'realm', 'nonce', '\\', '@', ':', '%', 'rtsp://', '/', '?', '#', '[', ']', '0', '65536', 'ffffffffff'), { maxLength: 40 })
      .map((a) => a.join('')),
  );
  it('parseTransport/parseSession/parseRtpInfo/parseRange/parsePublic/parseWwwAuthenticate/parseRtspUrl', () => {
    fc.assert(
      fc.property(anyString, anyString, (s, t) => {
        for (const f of [parseTransport, parseSession, parseRtpInfo, parseRange, parseRtspUrl]) {
          const r = f(s) as { ok: boolean };
          expect(typeof r.ok).toBe('boolean');
        }
        expect(parsePublic(s)).toBeInstanceOf(Set);
        expect(Array.isArray(parseWwwAuthenticate([s, t]))).toBe(true);
        expect(typeof joinControl('rtsp://h/a', s, { host: 'h', port: 554 })).toBe('string');
        expect(typeof resolveBaseUrl({ requestUrl: 'rtsp://u:p@h/a', contentBase: s, contentLocation: t, sessionControl: t })).toBe('string');
        expect(typeof redactSecrets(s, [t])).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('authenticators never throw on arbitrary challenges and Authorization headers', () => {
    const server = new ServerAuthenticator({ realm: 'r', methods: ['basic', 'digest-md5', 'digest-sha256'] });
    fc.assert(
      fc.property(anyString, anyString, (s, t) => {
        const c = new ClientAuthenticator({ username: 'u', password: 'p' });
        c.handleChallenge([s, t]);
        c.authorize('DESCRIBE', 'rtsp://h/');
        expect(server.verify('DESCRIBE', s, () => 'p').ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('parsed URLs never carry userinfo in href', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), fc.constantFrom('cam', '10.0.0.1', '[::1]', 'cam.lan:8554'), (user, pass, host) => {
        const r = parseRtspUrl(`rtsp://${user}:${pass}@${host}/live`);
        if (r.ok) {
          expect(r.value.href.startsWith(`rtsp://${host}`) || r.value.href.startsWith('rtsp://')).toBe(true);
          expect(r.value.href).not.toContain('@');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
