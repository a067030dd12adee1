import { describe, it, expect } from 'vitest';
import {
  RtspDemuxer,
  RtspHeaders,
  encodeInterleaved,
  serializeRequest,
  serializeResponse,
  statusText,
  type DemuxEvent,
  type RtspRequest,
  type RtspResponse,
} from '../../../src/rtsp/message.ts';
import { parseSession } from '../../../src/rtsp/headers/session.ts';
import { parseRtpInfo } from '../../../src/rtsp/headers/rtpinfo.ts';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const demux = (input: Buffer | string, opts?: ConstructorParameters<typeof RtspDemuxer>[0]): DemuxEvent[] =>
  new RtspDemuxer(opts).push(typeof input === 'string' ? B(input) : input);
/** Every split point: the events must not depend on how TCP cut the stream. */
function demuxEverySplit(input: Buffer, opts?: ConstructorParameters<typeof RtspDemuxer>[0]): DemuxEvent[] {
  const whole = new RtspDemuxer(opts).push(input);
  for (let cut = 1; cut < input.length; cut++) {
    const d = new RtspDemuxer(opts);
    const ev = [...d.push(input.subarray(0, cut)), ...d.push(input.subarray(cut))];
    expect(summary(ev), `cut at ${cut}`).toEqual(summary(whole));
  }
  return whole;
}
function summary(ev: DemuxEvent[]): unknown[] {
  return ev.map((e) =>
    e.type === 'interleaved'
      ? ['$', e.channel, e.payload.toString('hex')]
      : e.type === 'error'
        ? ['error', e.skipped]
        : e.type === 'response'
          ? ['res', e.statusCode, e.reason, e.headers.entries(), e.body.toString('latin1')]
          : ['req', e.method, e.uri, e.headers.entries(), e.body.toString('latin1')],
  );
}
const res = (e: DemuxEvent | undefined): RtspResponse => {
  expect(e?.type).toBe('response');
  return e as RtspResponse;
};
const req = (e: DemuxEvent | undefined): RtspRequest => {
  expect(e?.type).toBe('request');
  return e as RtspRequest;
};

describe('RtspHeaders', () => {
  it('is ordered, case-insensitive and keeps duplicates', () => {
    const h = new RtspHeaders([
      ['WWW-Authenticate', 'Digest a'],
      ['CSeq', '1'],
      ['www-authenticate', 'Basic b'],
    ]);
    expect(h.get('cseq')).toBe('1');
    expect(h.getAll('WWW-AUTHENTICATE')).toEqual(['Digest a', 'Basic b']);
    h.set('Www-Authenticate', 'x');
    expect(h.entries()).toEqual([
      ['Www-Authenticate', 'x'],
      ['CSeq', '1'],
    ]);
    h.append('Cseq', 2).delete('www-authenticate');
    expect(h.entries()).toEqual([
      ['CSeq', '1'],
      ['Cseq', '2'],
    ]);
    expect(h.has('CSEQ')).toBe(true);
    expect(new RtspHeaders({ CSeq: 3, Session: undefined, 'User-Agent': 'camgate' }).entries()).toEqual([
      ['CSeq', '3'],
      ['User-Agent', 'camgate'],
    ]);
  });
});

describe('Q01 status line oddities', () => {
  it.each([
    ['RTSP/1.0 200\r\nCSeq: 1\r\n\r\n', 200, ''],
    ['RTSP/1.0 200 \r\nCSeq: 1\r\n\r\n', 200, ''],
    ['RTSP/1.0 401 ClientUnAuthorized\r\nCSeq: 1\r\n\r\n', 401, 'ClientUnAuthorized'],
    ['RTSP/1.0  200  OK\r\nCSeq: 1\r\n\r\n', 200, 'OK'],
    ['RTSP/1.0\t404\tStream Not Found\r\nCSeq: 1\r\n\r\n', 404, 'Stream Not Found'],
  ])('%j', (text, code, reason) => {
    const ev = demuxEverySplit(B(text));
    expect(ev).toHaveLength(1);
    const r = res(ev[0]);
    expect(r.statusCode).toBe(code);
    expect(r.reason).toBe(reason);
    expect(r.headers.get('cseq')).toBe('1');
  });

  it('garbage status code becomes statusCode 0 (that request fails, the connection lives)', () => {
    const ev = demux('RTSP/1.0 2x0 Weird\r\nCSeq: 4\r\n\r\n' + 'RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n');
    expect(ev.map((e) => (e.type === 'response' ? [e.statusCode, e.headers.get('cseq')] : e.type))).toEqual([
      [0, '4'],
      [200, '5'],
    ]);
  });
});

describe('Q02 line endings and continuation lines', () => {
  it('LF-only headers and body', () => {
    const sdp = 'v=0\no=- 1 1 IN IP4 0.0.0.0\n';
    const ev = demuxEverySplit(B(`RTSP/1.0 200 OK\nCSeq: 2\nContent-Length: ${sdp.length}\n\n${sdp}`));
    const r = res(ev[0]);
    expect(ev).toHaveLength(1);
    expect(r.headers.get('CSeq')).toBe('2');
    expect(r.body.toString()).toBe(sdp);
  });

  it('CR-only line endings', () => {
    const ev = demuxEverySplit(B('RTSP/1.0 200 OK\rCSeq: 3\rContent-Length: 4\r\rv=0\n'));
    expect(ev).toHaveLength(1);
    expect(res(ev[0]).headers.get('cseq')).toBe('3');
    expect(res(ev[0]).body.toString()).toBe('v=0\n');
  });

  it('CR-only response without body is delivered without waiting for another byte', () => {
    const ev = demux('RTSP/1.0 200 OK\rCSeq: 3\r\r');
    expect(ev).toHaveLength(1);
    expect(res(ev[0]).headers.get('cseq')).toBe('3');
  });

  it('mixed CRLF/LF endings (YUAN encoder WWW-Authenticate lines)', () => {
    const ev = demux('RTSP/1.0 401 Unauthorized\r\nCSeq: 2\nWWW-Authenticate: Digest realm="a", nonce="b"\nWWW-Authenticate: Basic realm="a"\r\n\n');
    const r = res(ev[0]);
    expect(ev).toHaveLength(1);
    expect(r.headers.getAll('www-authenticate')).toHaveLength(2);
  });

  it('Luma x20: " \\r\\n" inside headers does not end them, and an RTCP frame follows', () => {
    const rtcp = Buffer.from([0x80, 0xc8, 0x00, 0x06, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const input = Buffer.concat([
      B('RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: 1234\r\n \r\nRTP-Info: url=trackID=1;seq=1;rtptime=0\r\n\r\n'),
      encodeInterleaved(1, rtcp),
    ]);
    const ev = demuxEverySplit(input);
    expect(ev.map((e) => e.type)).toEqual(['response', 'interleaved']);
    const r = res(ev[0]);
    expect(r.headers.get('session')).toBe('1234');
    expect(parseRtpInfo(r.headers.get('rtp-info')!)).toEqual({ ok: true, value: [{ url: 'trackID=1', seq: 1, rtptime: 0 }] });
    expect(ev[1]).toMatchObject({ channel: 1 });
  });

  it('Luma x20 as captured by scrypted: " RTP-Info: …" with a leading space is its own header', () => {
    const ev = demux('RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: 1234\r\n \r\n RTP-Info: url=trackID=1;seq=9;rtptime=0\r\n\r\n');
    const r = res(ev[0]);
    expect(parseSession(r.headers.get('session')!)).toEqual({ ok: true, value: { id: '1234' } });
    expect(r.headers.get('rtp-info')).toBe('url=trackID=1;seq=9;rtptime=0');
  });

  it('obsolete line folding continues the previous header value', () => {
    const ev = demux('RTSP/1.0 401 Unauthorized\r\nCSeq: 5\r\nWWW-Authenticate: Digest realm="x",\r\n\tnonce="y"\r\n\r\n');
    expect(res(ev[0]).headers.get('www-authenticate')).toBe('Digest realm="x", nonce="y"');
  });
});

describe('Q03 Content-Length', () => {
  it('lower-case "Content-length" (Hipcam)', () => {
    const ev = demuxEverySplit(B('RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-length: 5\r\n\r\nv=0\r\n'));
    expect(res(ev[0]).body.toString()).toBe('v=0\r\n');
  });

  it('no Content-Length means no body: a $ frame right after is a frame (not body)', () => {
    const input = Buffer.concat([B('RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n'), encodeInterleaved(0, Buffer.from('rtp!'))]);
    const ev = demuxEverySplit(input);
    expect(summary(ev)).toEqual([
      ['res', 200, 'OK', [['CSeq', '1']], ''],
      ['$', 0, Buffer.from('rtp!').toString('hex')],
    ]);
  });

  it.each(['-1', 'abc', '12x', ''])('Content-Length %j is an error, the next message still parses', (cl) => {
    const ev = demux(`RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: ${cl}\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n`);
    expect(ev.map((e) => e.type)).toEqual(['error', 'response']);
    expect(res(ev[1]).headers.get('cseq')).toBe('2');
  });

  it('Content-Length over maxBodyBytes is an error; the body bytes are resynced over', () => {
    const body = 'x'.repeat(200);
    const ev = demux(`RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 200\r\n\r\n${body}RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n`, { maxBodyBytes: 100 });
    expect(ev.map((e) => e.type)).toEqual(['error', 'error', 'response']);
    expect(ev[1]).toMatchObject({ skipped: 200 });
    expect(res(ev[2]).headers.get('cseq')).toBe('2');
  });

  it('a 100 KB SDP is accepted (4K cameras) and split reads reassemble it', () => {
    const sdp = 'v=0\r\n' + 'a=x-pad:' + 'p'.repeat(100_000) + '\r\n';
    const input = B(`RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Type: application/sdp; charset=utf-8\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`);
    const d = new RtspDemuxer();
    const ev: DemuxEvent[] = [];
    for (let i = 0; i < input.length; i += 1400) ev.push(...d.push(input.subarray(i, i + 1400)));
    expect(ev).toHaveLength(1);
    expect(res(ev[0]).body.length).toBe(sdp.length);
    expect(res(ev[0]).body.toString()).toBe(sdp);
  });
});

describe('Q05 interleaved frames mixed with responses', () => {
  it('RTCP SR and RTP before the PLAY response, all in one write and split anywhere', () => {
    const sr = Buffer.from('80c80006aabbccdd' + '00'.repeat(20), 'hex');
    const rtp = Buffer.concat([Buffer.from('80600001000000005566778899', 'hex'), Buffer.alloc(30, 7)]);
    const input = Buffer.concat([
      encodeInterleaved(1, sr),
      encodeInterleaved(0, rtp),
      B('RTSP/1.0 200 OK\r\nCSeq: 5\r\nSession: F8F8E425\r\nRTP-Info: url=trackID=1;seq=1;rtptime=0\r\n\r\n'),
      encodeInterleaved(0, rtp),
    ]);
    const ev = demuxEverySplit(input);
    expect(ev.map((e) => (e.type === 'interleaved' ? `$${e.channel}:${e.payload.length}` : e.type))).toEqual([
      '$1:28',
      '$0:43',
      'response',
      '$0:43',
    ]);
    expect(res(ev[2]).headers.get('cseq')).toBe('5');
  });

  it('max-size (65535 byte) frames and empty frames', () => {
    const big = Buffer.alloc(65535, 0xab);
    const input = Buffer.concat([encodeInterleaved(2, Buffer.alloc(0)), encodeInterleaved(3, big), encodeInterleaved(255, Buffer.from([1]))]);
    for (const cut of [0, 1, 3, 4, 5, 7, 8, 9, 1000, 65540, 65542, 65543, 65544, input.length - 1]) {
      const d = new RtspDemuxer();
      const ev = cut === 0 ? d.push(input) : [...d.push(input.subarray(0, cut)), ...d.push(input.subarray(cut))];
      expect(ev.map((e) => (e.type === 'interleaved' ? [e.channel, e.payload.length, e.payload[0]] : e.type)), `cut ${cut}`).toEqual([
        [2, 0, undefined],
        [3, 65535, 0xab],
        [255, 1, 1],
      ]);
      expect(d.buffered).toBe(0);
    }
  });

  it('payloads handed out from the internal buffer are not overwritten by later pushes', () => {
    const d = new RtspDemuxer();
    const f1 = encodeInterleaved(0, Buffer.alloc(100, 1));
    const f2 = encodeInterleaved(0, Buffer.alloc(100, 2));
    const ev = [...d.push(f1.subarray(0, 50)), ...d.push(Buffer.concat([f1.subarray(50), f2.subarray(0, 10)])), ...d.push(f2.subarray(10))];
    expect(ev).toHaveLength(2);
    expect(ev.every((e) => e.type === 'interleaved')).toBe(true);
    const p = ev.map((e) => (e.type === 'interleaved' ? e.payload : Buffer.alloc(0)));
    expect(p[0]!.every((b) => b === 1)).toBe(true);
    expect(p[1]!.every((b) => b === 2)).toBe(true);
  });
});

describe('Q06 garbage and resync', () => {
  it('37 garbage bytes between frames: one error with the skipped count, then recovery', () => {
    const garbage = Buffer.from(Array.from({ length: 37 }, (_, i) => (i * 7 + 0x41) & 0x7f).map((b) => (b === 0x24 ? 0x25 : b)));
    const input = Buffer.concat([
      encodeInterleaved(0, Buffer.alloc(20, 1)),
      encodeInterleaved(4, Buffer.alloc(20, 4)),
      garbage,
      encodeInterleaved(0, Buffer.alloc(8000, 9)),
      B('RTSP/1.0 200 OK\r\nCSeq: 9\r\n\r\n'),
    ]);
    const ev = demux(input);
    expect(ev.map((e) => (e.type === 'interleaved' ? `$${e.channel}:${e.payload.length}` : e.type === 'error' ? `err${e.skipped}` : e.type))).toEqual([
      '$0:20',
      '$4:20',
      'err37',
      '$0:8000',
      'response',
    ]);
    // Same result one byte at a time (the error is reported once, not per byte)
    const d = new RtspDemuxer();
    const ev1: DemuxEvent[] = [];
    for (const b of input) ev1.push(...d.push(Buffer.from([b])));
    expect(summary(ev1)).toEqual(summary(ev));
  });

  it('resyncs on a request method name and on RTSP/', () => {
    const ev = demux('\x00\x01garbage OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nzzzRTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n');
    expect(ev.map((e) => (e.type === 'error' ? `err${e.skipped}` : e.type))).toEqual(['err10', 'request', 'err3', 'response']);
  });

  it('a method name in garbage that is not a request line does not swallow what follows', () => {
    const ev = demux('xxPLAY fooRTSP/1.0 200 OK\r\nCSeq: 7\r\n\r\n');
    const r = ev.find((e) => e.type === 'response');
    expect(r && res(r).headers.get('cseq')).toBe('7');
  });

  it('a header block over maxHeaderBytes is an error and the stream resyncs', () => {
    const huge = 'RTSP/1.0 200 OK\r\nX-Pad: ' + 'a'.repeat(5000) + '\r\n\r\n';
    const ev = demux(huge + 'RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n', { maxHeaderBytes: 1024 });
    expect(ev.map((e) => e.type)).toEqual(['error', 'response']);
    expect(res(ev[1]).headers.get('cseq')).toBe('2');
    // streamed in pieces: the buffer never holds the oversized block
    const d = new RtspDemuxer({ maxHeaderBytes: 1024 });
    const evs: DemuxEvent[] = [];
    const input = B(huge + 'RTSP/1.0 200 OK\r\nCSeq: 3\r\n\r\n');
    for (let i = 0; i < input.length; i += 100) {
      evs.push(...d.push(input.subarray(i, i + 100)));
      expect(d.buffered).toBeLessThanOrEqual(1024 + 100);
    }
    expect(evs.map((e) => e.type)).toEqual(['error', 'response']);
  });

  it('stray CRLF between messages is not an error', () => {
    const ev = demux('RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 3\r\n\r\nabc\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n');
    expect(ev.map((e) => e.type)).toEqual(['response', 'response']);
  });
});

describe('Q07 server-sent requests in the stream', () => {
  it('OPTIONS *, ANNOUNCE with SDP, SET_PARAMETER between frames and responses', () => {
    const sdp = 'v=0\r\ns=changed\r\n';
    const input = Buffer.concat([
      encodeInterleaved(0, Buffer.alloc(12)),
      B('OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n'),
      B('RTSP/1.0 200 OK\r\nCSeq: 12\r\n\r\n'),
      encodeInterleaved(1, Buffer.alloc(8)),
      B(`ANNOUNCE rtsp://10.0.0.1/media.sdp RTSP/1.0\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`),
      B('SET_PARAMETER rtsp://10.0.0.1/media.sdp RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 0\r\n\r\n'),
      B('GET_PARAMETER rtsp://10.0.0.1/ RTSP/1.0\nCSeq: 4\n\n'),
      B('REDIRECT rtsp://10.0.0.1/ RTSP/1.0\r\nCSeq: 5\r\nLocation: rtsp://10.0.0.2/\r\n\r\n'),
    ]);
    const ev = demuxEverySplit(input);
    expect(ev.map((e) => e.type)).toEqual(['interleaved', 'request', 'response', 'interleaved', 'request', 'request', 'request', 'request']);
    const o = req(ev[1]);
    expect([o.method, o.uri, o.version, o.headers.get('cseq')]).toEqual(['OPTIONS', '*', 'RTSP/1.0', '1']);
    const a = req(ev[4]);
    expect([a.method, a.uri, a.body.toString()]).toEqual(['ANNOUNCE', 'rtsp://10.0.0.1/media.sdp', sdp]);
    expect(req(ev[5]).method).toBe('SET_PARAMETER');
    expect(req(ev[6]).headers.get('cseq')).toBe('4');
    expect(req(ev[7]).headers.get('location')).toBe('rtsp://10.0.0.2/');
  });
});

describe('serialization', () => {
  it('serializeRequest adds Content-Length only with a body and round-trips through the demuxer', () => {
    const h = new RtspHeaders({ CSeq: 3, 'User-Agent': 'camgate' });
    const plain = serializeRequest({ method: 'OPTIONS', uri: 'rtsp://h/a', headers: h });
    expect(plain.toString()).toBe('OPTIONS rtsp://h/a RTSP/1.0\r\nCSeq: 3\r\nUser-Agent: camgate\r\n\r\n');
    const body = Buffer.from('position\r\n');
    const wire = serializeRequest({ method: 'SET_PARAMETER', uri: 'rtsp://h/a', headers: new RtspHeaders({ CSeq: 4, 'Content-Length': 99 }), body });
    const ev = demux(wire);
    const r = req(ev[0]);
    expect(r.headers.getAll('content-length')).toEqual([String(body.length)]);
    expect(r.body.equals(body)).toBe(true);
  });

  it('serializeResponse uses the status table and strips CR/LF from values', () => {
    const wire = serializeResponse({ statusCode: 454, headers: new RtspHeaders({ CSeq: 7, Session: 'a\r\nX-Evil: 1' }) });
    expect(wire.toString()).toBe('RTSP/1.0 454 Session Not Found\r\nCSeq: 7\r\nSession: a X-Evil: 1\r\n\r\n');
    const r = res(demux(wire)[0]);
    expect([r.statusCode, r.reason, r.headers.has('x-evil')]).toEqual([454, 'Session Not Found', false]);
    expect(statusText(200)).toBe('OK');
    expect(statusText(461)).toBe('Unsupported transport');
    expect(statusText(299)).toBe('Unknown');
  });

  it('encodeInterleaved writes $ channel length and rejects impossible frames', () => {
    expect(encodeInterleaved(1, Buffer.from([9, 8])).toString('hex')).toBe('2401000209' + '08');
    expect(() => encodeInterleaved(256, Buffer.alloc(1))).toThrow(RangeError);
    expect(() => encodeInterleaved(0, Buffer.alloc(65536))).toThrow(RangeError);
  });
});
