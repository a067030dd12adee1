import { describe, it, expect, afterEach } from 'vitest';
import net from 'node:net';
import crypto from 'node:crypto';
import fc from 'fast-check';
import {
  parseOne,
  parseClientPorts,
  parseAuthParams,
  reply,
  rtpPacket,
  rtcpSenderReport,
  digestCheck,
  basicCheck,
  splitAnnexB,
  groupAccessUnits,
  packetizeH264Nal,
  startQuirkServer,
  type QsRequest,
  type QuirkServer,
} from '../../helpers/quirk-server.ts';

function req(method: string, uri: string, headers: [string, string][] = [['CSeq', '3']]): QsRequest {
  const h: Record<string, string> = {};
  for (const [k, v] of headers) if (!(k.toLowerCase() in h)) h[k.toLowerCase()] = v;
  return { method, uri, headers: h, rawHeaders: headers, raw: '', body: Buffer.alloc(0), connectionId: 1 };
}

describe('parseOne', () => {
  it('parses a CRLF request with a Content-Length body', () => {
    const text = 'SET_PARAMETER rtsp://h/x RTSP/1.0\r\nCSeq: 7\r\nContent-Length: 5\r\nX-A:  b\r\n\r\nhelloNEXT';
    const r = parseOne(Buffer.from(text));
    expect(r.kind).toBe('request');
    if (r.kind !== 'request') return;
    expect(r.req.method).toBe('SET_PARAMETER');
    expect(r.req.uri).toBe('rtsp://h/x');
    expect(r.req.headers['cseq']).toBe('7');
    expect(r.req.headers['x-a']).toBe('b');
    expect(r.req.rawHeaders).toEqual([['CSeq', '7'], ['Content-Length', '5'], ['X-A', 'b']]);
    expect(r.req.body.toString()).toBe('hello');
    expect(r.consumed).toBe(text.length - 4);
  });

  it('accepts LF-only line endings and keeps the first of repeated headers', () => {
    const r = parseOne(Buffer.from('OPTIONS * RTSP/1.0\nCSeq: 1\nCSeq: 2\n\n'));
    expect(r.kind === 'request' && r.req.headers['cseq']).toBe('1');
    expect(r.kind === 'request' && r.req.rawHeaders.length).toBe(2);
  });

  it('waits for the whole body and for the whole interleaved frame', () => {
    expect(parseOne(Buffer.from('A b RTSP/1.0\r\nContent-Length: 10\r\n\r\nabc')).kind).toBe('need-more');
    expect(parseOne(Buffer.from([0x24, 1, 0, 8, 1, 2])).kind).toBe('need-more');
    const f = parseOne(Buffer.from([0x24, 1, 0, 2, 9, 8, 0x24]));
    expect(f).toMatchObject({ kind: 'interleaved', channel: 1, consumed: 6 });
    expect(f.kind === 'interleaved' && [...f.payload]).toEqual([9, 8]);
  });

  it('skips stray CRLFs between messages', () => {
    expect(parseOne(Buffer.from('\r\n\r\nOPTIONS'))).toEqual({ kind: 'skip', consumed: 4 });
  });

  it('refuses unbounded headers and bodies instead of buffering them', () => {
    expect(parseOne(Buffer.alloc(70 * 1024, 0x41)).kind).toBe('fatal');
    expect(parseOne(Buffer.from('A b RTSP/1.0\r\nContent-Length: 99999999\r\n\r\n')).kind).toBe('fatal');
  });

  it('never throws and never consumes more than it was given (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const r = parseOne(buf);
        if ('consumed' in r) {
          expect(r.consumed).toBeGreaterThan(0);
          expect(r.consumed).toBeLessThanOrEqual(buf.length);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('reply', () => {
  it('echoes CSeq, adds Content-Length in bytes, repeats array headers', () => {
    const r = reply(req('DESCRIBE', 'rtsp://h/'), 401, { 'WWW-Authenticate': ['Digest realm="r"', 'Basic realm="r"'] }, 'é');
    expect(r).toBe(
      'RTSP/1.0 401 Unauthorized\r\nCSeq: 3\r\nWWW-Authenticate: Digest realm="r"\r\nWWW-Authenticate: Basic realm="r"\r\nContent-Length: 2\r\n\r\né',
    );
  });

  it('can produce LF-only endings, no Content-Length, a custom reason and no CSeq', () => {
    const r = reply(req('OPTIONS', '*'), 200, { CSeq: [] }, 'x', { eol: '\n', reason: 'Okay', noContentLength: true });
    expect(r).toBe('RTSP/1.0 200 Okay\n\nx');
  });
});

describe('rtpPacket / rtcpSenderReport', () => {
  it('writes the RFC 3550 fixed header', () => {
    const p = rtpPacket(96, 0x1_0005, 0x1_0000_0002, 0xdeadbeef, true, Buffer.from([7]));
    expect([...p.subarray(0, 2)]).toEqual([0x80, 0x80 | 96]);
    expect(p.readUInt16BE(2)).toBe(5);
    expect(p.readUInt32BE(4)).toBe(2);
    expect(p.readUInt32BE(8)).toBe(0xdeadbeef);
    expect(p[12]).toBe(7);
  });
  it('writes an SR with NTP time from 1900', () => {
    const sr = rtcpSenderReport(1, 1000, 90000, 3, 4);
    expect(sr[1]).toBe(200);
    expect(sr.readUInt32BE(8)).toBe(2_208_988_801);
    expect(sr.readUInt32BE(16)).toBe(90000);
  });
});

describe('digestCheck / basicCheck', () => {
  // RFC 2617 §3.5 example (MD5, qop=auth).
  const rfc2617 =
    'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
    'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", ' +
    'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"';

  it('accepts the RFC 2617 qop=auth example and rejects a wrong password', () => {
    const r = req('GET', '/dir/index.html', [['Authorization', rfc2617]]);
    expect(digestCheck(r, 'Mufasa', 'Circle Of Life', 'testrealm@host.com', 'dcd98b7102dd2f0e8b11d0f600bfb0c093')).toBe(true);
    expect(digestCheck(r, 'Mufasa', 'circle of life', 'testrealm@host.com', 'dcd98b7102dd2f0e8b11d0f600bfb0c093')).toBe(false);
  });

  it('requires the uri parameter to equal the request-line URI byte for byte', () => {
    const r = req('GET', '/dir/index.html?x', [['Authorization', rfc2617]]);
    expect(digestCheck(r, 'Mufasa', 'Circle Of Life', 'testrealm@host.com', 'dcd98b7102dd2f0e8b11d0f600bfb0c093')).toBe(false);
  });

  it('accepts the RFC 7616 §3.9.1 SHA-256 example only when SHA-256 is asked for', () => {
    const h =
      'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, ' +
      'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, ' +
      'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, ' +
      'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", ' +
      'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
    const r = req('GET', '/dir/index.html', [['Authorization', h]]);
    const nonce = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
    expect(digestCheck(r, 'Mufasa', 'Circle of Life', 'http-auth@example.org', nonce, 'SHA-256')).toBe(true);
    expect(digestCheck(r, 'Mufasa', 'Circle of Life', 'http-auth@example.org', nonce, 'MD5')).toBe(false);
  });

  it('accepts the legacy no-qop form (RFC 2069), as most cameras use', () => {
    const md5 = (s: string) => crypto.createHash('md5').update(s).digest('hex');
    const ha1 = md5('admin:cam:secret');
    const ha2 = md5('DESCRIBE:rtsp://127.0.0.1:554/Streaming/Channels/101');
    const resp = md5(`${ha1}:abc:${ha2}`);
    const h = `Digest username="admin", realm="cam", nonce="abc", uri="rtsp://127.0.0.1:554/Streaming/Channels/101", response="${resp}"`;
    const r = req('DESCRIBE', 'rtsp://127.0.0.1:554/Streaming/Channels/101', [['CSeq', '2'], ['Authorization', h]]);
    expect(digestCheck(r, 'admin', 'cam', 'cam', 'abc')).toBe(false); // wrong password
    expect(digestCheck(r, 'admin', 'secret', 'cam', 'abc')).toBe(true);
    expect(digestCheck(r, 'admin', 'secret', 'cam', 'other-nonce')).toBe(false);
  });

  it('parses quoted-string escapes in auth params', () => {
    expect(parseAuthParams('Digest realm="a\\"b", nonce=xyz , qop="auth"')).toEqual({
      scheme: 'Digest',
      params: { realm: 'a"b', nonce: 'xyz', qop: 'auth' },
    });
  });

  it('checks Basic credentials', () => {
    const r = req('DESCRIBE', '/', [['Authorization', `Basic ${Buffer.from('u:p:w').toString('base64')}`]]);
    expect(basicCheck(r, 'u', 'p:w')).toBe(true);
    expect(basicCheck(r, 'u', 'p')).toBe(false);
  });
});

describe('Transport client_port', () => {
  it('parses ranges and single ports, rejects junk', () => {
    expect(parseClientPorts('RTP/AVP;unicast;client_port=5000-5001')).toEqual([5000, 5001]);
    expect(parseClientPorts('RTP/AVP;unicast; client_port = 6000')).toEqual([6000, 6001]);
    expect(parseClientPorts('RTP/AVP/TCP;interleaved=0-1')).toBeNull();
    expect(parseClientPorts('RTP/AVP;client_port=70000-70001')).toBeNull();
  });
});

describe('H.264 helpers', () => {
  it('splits Annex-B with 3- and 4-byte start codes', () => {
    const nals = splitAnnexB(Buffer.from([0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5]));
    expect(nals.map((n) => [...n])).toEqual([[0x67, 1, 2], [0x68, 3], [0x65, 4, 5]]);
  });

  it('groups NAL units into access units', () => {
    const aus = groupAccessUnits([
      Buffer.from([0x67, 0]), Buffer.from([0x68, 0]), Buffer.from([0x65, 0x88]), Buffer.from([0x65, 0x40]), // IDR, 2 slices
      Buffer.from([0x41, 0x9a]), Buffer.from([0x41, 0x9b]),
    ]);
    expect(aus.map((a) => a.length)).toEqual([4, 1, 1]);
  });

  it('FU-A fragments reassemble to the original NAL (RFC 6184 §5.8)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3000 }), fc.integer({ min: 3, max: 1400 }), (len, maxPayload) => {
        const nal = crypto.randomBytes(len);
        nal[0] = 0x65;
        const pkts = packetizeH264Nal(nal, maxPayload);
        for (const p of pkts) expect(p.length).toBeLessThanOrEqual(maxPayload);
        if (pkts.length === 1) {
          expect(pkts[0]!.equals(nal)).toBe(true);
          return;
        }
        expect(pkts[0]![1]! & 0xc0).toBe(0x80);
        expect(pkts.at(-1)![1]! & 0xc0).toBe(0x40);
        const rebuilt = Buffer.concat([Buffer.from([(pkts[0]![0]! & 0xe0) | (pkts[0]![1]! & 0x1f)]), ...pkts.map((p) => p.subarray(2))]);
        expect(rebuilt.equals(nal)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('startQuirkServer (loopback)', () => {
  let qs: QuirkServer | undefined;
  afterEach(async () => {
    await qs?.close();
    qs = undefined;
  });

  function connect(port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
  }
  function readUntil(s: net.Socket, pred: (text: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      let text = '';
      const onData = (d: Buffer) => {
        text += d.toString('latin1');
        if (pred(text)) {
          s.off('data', onData);
          resolve(text);
        }
      };
      s.on('data', onData);
      s.once('close', () => reject(new Error(`closed; got ${JSON.stringify(text)}`)));
    });
  }

  it('answers pipelined requests in order even when split byte by byte and mixed with interleaved frames', async () => {
    qs = await startQuirkServer(async (r, ctx) => {
      // An async handler that finishes late must still not overtake the next reply.
      if (r.method === 'OPTIONS') await new Promise((res) => setTimeout(res, 30));
      return reply(r, 200, { 'X-Seen': String(ctx.requests.length) });
    });
    const s = await connect(qs.port);
    const wire = Buffer.concat([
      Buffer.from('OPTIONS rtsp://127.0.0.1/ RTSP/1.0\r\nCSeq: 1\r\n\r\n'),
      Buffer.from([0x24, 1, 0, 3, 0x81, 0xc9, 0]),
      Buffer.from('GET_PARAMETER rtsp://127.0.0.1/ RTSP/1.0\nCSeq: 2\nContent-Length: 4\n\nabcd'),
    ]);
    const got = readUntil(s, (t) => t.includes('CSeq: 2') && t.endsWith('\r\n\r\n'));
    for (const b of wire) s.write(Buffer.from([b]));
    const text = await got;
    expect(text.indexOf('CSeq: 1')).toBeLessThan(text.indexOf('CSeq: 2'));
    expect(text).toContain('X-Seen: 2');
    expect(qs.requests.map((r) => r.method)).toEqual(['OPTIONS', 'GET_PARAMETER']);
    expect(qs.requests[1]!.body.toString()).toBe('abcd');
    expect(qs.connections).toBe(1);
    s.destroy();
  });

  it('turns a throwing handler into a 500 and records the error', async () => {
    qs = await startQuirkServer(() => {
      throw new Error('scenario bug');
    });
    const s = await connect(qs.port);
    const got = readUntil(s, (t) => t.endsWith('\r\n\r\n'));
    s.write('DESCRIBE rtsp://x/ RTSP/1.0\r\nCSeq: 9\r\n\r\n');
    expect(await got).toMatch(/^RTSP\/1\.0 500 .*\r\nCSeq: 9\r\n/);
    expect(qs.errors).toHaveLength(1);
    s.destroy();
  });

  it('drops a connection that sends an endless header instead of buffering it', async () => {
    qs = await startQuirkServer((r) => reply(r, 200));
    const s = await connect(qs.port);
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.on('error', () => {});
    s.write('OPTIONS * RTSP/1.0\r\nX: ' + 'a'.repeat(80 * 1024));
    await closed;
    expect(qs.requests).toHaveLength(0);
  });
});
