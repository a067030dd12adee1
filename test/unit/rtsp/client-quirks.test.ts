// RtspClient against scripted camera servers on loopback: one scenario per QUIRKS A–E (+ Q48).
// Assertions are on what the server saw (request lines, headers) and on RTP delivered.
import dgram from 'node:dgram';
import { describe, it, expect, afterEach } from 'vitest';
import { RtspClient, RtspError } from '../../../src/rtsp/client.ts';
import type { RtspClientOptions, RtspSessionInfo } from '../../../src/rtsp/client.ts';
import {
  startServer,
  camera,
  reply,
  rtpPacket,
  rtcpSr,
  sdpH264Pcmu,
  digestCheck,
  basicCheck,
  parseAuthParams,
  recordingLogger,
  sleep,
  until,
  startPump,
} from './client-harness.ts';
import type { TestServer, SeenRequest, ConnCtx, TrackWire } from './client-harness.ts';

const servers: TestServer[] = [];
const clients: RtspClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(h: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(h);
  servers.push(s);
  return s;
}

interface Started {
  client: RtspClient;
  info: RtspSessionInfo;
  rtp: { track: number; pkt: Buffer }[];
  rtcp: { track: number; pkt: Buffer }[];
  quirkEvents: string[];
  closes: (RtspError | undefined)[];
  logs: string[];
}

async function startClient(opts: Partial<RtspClientOptions> & { url: string }): Promise<Started> {
  const { lines, logger } = recordingLogger();
  const client = new RtspClient({ transport: 'tcp', logger, ...opts });
  clients.push(client);
  const rtp: Started['rtp'] = [];
  const rtcp: Started['rtcp'] = [];
  const quirkEvents: string[] = [];
  const closes: Started['closes'] = [];
  client.on('rtp', (track: number, pkt: Buffer) => rtp.push({ track, pkt }));
  client.on('rtcp', (track: number, pkt: Buffer) => rtcp.push({ track, pkt }));
  client.on('quirk', (q: string) => quirkEvents.push(q));
  client.on('close', (e?: RtspError) => closes.push(e));
  const info = await client.start();
  return { client, info, rtp, rtcp, quirkEvents, closes, logs: lines };
}

async function startFails(opts: Partial<RtspClientOptions> & { url: string }): Promise<{ error: RtspError; logs: string[] }> {
  const { lines, logger } = recordingLogger();
  const client = new RtspClient({ transport: 'tcp', logger, requestTimeoutMs: 3000, ...opts });
  clients.push(client);
  const e = await client.start().then(
    () => new Error('start() resolved but should have failed'),
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(RtspError);
  return { error: e as RtspError, logs: lines };
}

const lines = (s: TestServer, method?: string) => s.requests.filter((r) => !method || r.method === method).map((r) => `${r.method} ${r.uri}`);
const tracksSeen = (rtp: Started['rtp']) => new Set(rtp.map((r) => r.track));

// ---------------------------------------------------------------------------------------------
describe('A. framing and syntax', () => {
  it('baseline: OPTIONS/DESCRIBE/SETUP×2/PLAY over TCP with Range and no mode= (Q48), RTP on both tracks', async () => {
    const s = await server(camera());
    const c = await startClient({ url: s.url('/live'), userAgent: 'camgate-test/1' });
    await until(() => tracksSeen(c.rtp).size === 2 && c.rtp.length > 6, 3000, 'rtp');
    expect(lines(s)).toEqual([
      `OPTIONS ${s.url('/live')}`,
      `DESCRIBE ${s.url('/live')}`,
      `SETUP ${s.url('/live')}/trackID=0`,
      `SETUP ${s.url('/live')}/trackID=1`,
      `PLAY ${s.url('/live')}`,
    ]);
    const setups = s.requests.filter((r) => r.method === 'SETUP');
    expect(setups.map((r) => r.headers.get('Transport'))).toEqual(['RTP/AVP/TCP;unicast;interleaved=0-1', 'RTP/AVP/TCP;unicast;interleaved=2-3']);
    expect(setups[1]!.headers.get('Session')).toBe('12345678');
    const play = s.requests.find((r) => r.method === 'PLAY')!;
    expect(play.headers.get('Range')).toBe('npt=0.000-');
    expect(play.headers.get('Session')).toBe('12345678');
    expect(s.requests.every((r) => r.headers.get('User-Agent') === 'camgate-test/1')).toBe(true);
    expect(s.requests.some((r) => /mode=/i.test(r.headers.get('Transport') ?? ''))).toBe(false);
    expect(s.requests.find((r) => r.method === 'DESCRIBE')!.headers.get('Accept')).toBe('application/sdp');
    expect(c.info.tracks.map((t) => t.media.encoding)).toEqual(['H264', 'PCMU']);
    expect(c.info.sessionId).toBe('12345678');
    expect(c.info.timeoutSec).toBe(60);
    expect(c.info.keepaliveMethod).toBe('GET_PARAMETER');
    expect(c.rtp.every((r) => (r.pkt[1]! & 0x7f) === (r.track === 0 ? 96 : 0))).toBe(true);
    await c.client.stop();
    expect(lines(s).at(-1)).toBe(`TEARDOWN ${s.url('/live')}`);
    expect(c.closes).toEqual([]); // stop() never emits 'close'
  });

  it('Q01: status lines without reason phrase, odd reasons and double spaces', async () => {
    const s = await server(
      camera({
        gate: (req) => (req.method === 'OPTIONS' ? `RTSP/1.0 200\r\nCSeq: ${req.headers.get('CSeq')}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY\r\n\r\n` : null),
        setup: (req) => reply(req, 200, { Transport: `RTP/AVP/TCP;unicast;${/interleaved=\d+-\d+/.exec(req.headers.get('Transport') ?? '')![0]}`, Session: 'abc' }, '', { reason: '' }),
        play: (req) => `RTSP/1.0  200  OK\r\nCSeq: ${req.headers.get('CSeq')}\r\nSession: abc\r\n\r\n`,
      }),
    );
    const c = await startClient({ url: s.url('/media/video2') });
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(c.info.quirks).toContain('status line without reason phrase');
    expect(c.info.keepaliveMethod).toBe('OPTIONS'); // Public did not list GET_PARAMETER
  });

  it('Q02: LF-only responses, LF-only SDP with a whitespace line, continuation line before RTP-Info then a $ frame', async () => {
    const sdp = sdpH264Pcmu(undefined, '\n').replace('a=control:trackID=0', '      \na=control:trackID=0');
    const s = await server(
      camera({
        eol: '\n',
        sdp,
        play: (req, ctx) => {
          ctx.write(`RTSP/1.0 200 OK\r\nCSeq: ${req.headers.get('CSeq')}\r\nSession: 12345678\r\n \r\nRTP-Info: url=trackID=0;seq=7;rtptime=0\r\n\r\n`);
          ctx.interleaved(1, rtcpSr(0x1000));
          return null;
        },
      }),
    );
    const c = await startClient({ url: s.url('/luma') });
    await until(() => c.rtp.length > 2 && c.rtcp.length > 0, 3000, 'rtp+rtcp');
    expect(c.info.quirks).toContain('LF-only line endings');
    expect(lines(s, 'SETUP')).toEqual([`SETUP ${s.url('/luma')}/trackID=0`, `SETUP ${s.url('/luma')}/trackID=1`]);
    expect(c.rtcp[0]!.track).toBe(0);
    expect(c.info.tracks[0]!.rtpInfo?.seq).toBe(7); // the continuation line did not end the headers
  });

  it('Q03: OPTIONS without Content-Length followed by a $ frame, Content-length, DESCRIBE without Content-Type, Cseq', async () => {
    const sdp = sdpH264Pcmu();
    const s = await server(
      camera({
        gate: (req, ctx) => {
          if (req.method === 'OPTIONS' && !req.headers.has('Session')) {
            // a $ frame right after a bodiless response: must not be read as its body
            ctx.write(`RTSP/1.0 200 OK\r\nCseq: ${req.headers.get('CSeq')}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n`);
            ctx.interleaved(6, rtpPacket(96, 1, 1, 1));
            return null;
          }
          if (req.method === 'DESCRIBE') return reply(req, 200, {}, sdp, { contentLengthName: 'Content-length' });
          return null;
        },
      }),
    );
    const c = await startClient({ url: s.url('/hipcam') });
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(c.info.quirks).toContain('DESCRIBE without Content-Type');
    expect(c.info.tracks).toHaveLength(2);
    expect(c.client.stats.unknownChannelFrames).toBe(1);
  });

  it('Q05: RTCP SR + RTP before the PLAY response, in one write, response split across writes', async () => {
    const s = await server(
      camera({
        play: (req, ctx) => {
          const tracks = ctx.state.tracks as TrackWire[];
          const resp = Buffer.from(reply(req, 200, { Session: '12345678', 'RTP-Info': 'url=trackID=0;seq=4242;rtptime=0' }));
          const early = Buffer.concat([encode(tracks[0]!.channels![1], rtcpSr(0x1000)), encode(tracks[0]!.channels![0], rtpPacket(96, 4242, 0, 0x1000)), resp.subarray(0, 10)]);
          ctx.write(early);
          setTimeout(() => ctx.write(resp.subarray(10, 30)), 20);
          setTimeout(() => {
            ctx.write(resp.subarray(30));
            startPump(ctx, tracks); // frames only ever start at message boundaries
          }, 40);
          return null;
        },
        pump: false,
      }),
    );
    const c = await startClient({ url: s.url('/reolink') });
    // the packet that came before the PLAY response was delivered first
    expect(c.rtp[0]?.pkt.readUInt16BE(2)).toBe(4242);
    expect(c.rtcp[0]?.track).toBe(0);
    expect(c.info.quirks).toContain('interleaved data before the PLAY response');
    expect(c.info.tracks[0]!.rtpInfo).toEqual({ seq: 4242, rtptime: 0 });
  });

  it('Q06: garbage, unknown channel and a large frame in the interleaved stream', async () => {
    const s = await server(
      camera({
        pump: false,
        play: (req, ctx) => {
          const tracks = ctx.state.tracks as TrackWire[];
          ctx.write(reply(req, 200, { Session: '12345678' }));
          ctx.interleaved(tracks[0]!.channels![0], rtpPacket(96, 1, 0, 1));
          ctx.interleaved(4, rtpPacket(96, 2, 0, 1)); // never set up
          ctx.write(Buffer.alloc(37, 0x5a)); // framing slip
          ctx.interleaved(tracks[0]!.channels![0], rtpPacket(96, 3, 0, 1, Buffer.alloc(8000, 1)));
          startPump(ctx, tracks);
          return null;
        },
      }),
    );
    const c = await startClient({ url: s.url('/x') });
    await until(() => c.rtp.some((r) => r.pkt.length === 8012) && c.rtp.length > 5, 3000, 'large frame');
    expect(c.rtp[0]!.pkt.readUInt16BE(2)).toBe(1);
    expect(c.client.stats.unknownChannelFrames).toBe(1);
    expect(c.client.stats.garbageBytes).toBeGreaterThanOrEqual(37);
    expect(c.closes).toEqual([]);
  });

  it('Q07: server-sent OPTIONS, ANNOUNCE and SET_PARAMETER mid-stream are answered; media continues', async () => {
    const s = await server(
      camera({
        play: (req, ctx) => {
          ctx.write(reply(req, 200, { Session: '12345678' }));
          const sdp = sdpH264Pcmu();
          setTimeout(() => ctx.write('OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n'), 50);
          setTimeout(() => ctx.write(`ANNOUNCE ${s.url('/media.sdp')} RTSP/1.0\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`), 100);
          setTimeout(() => ctx.write(`SET_PARAMETER ${s.url('/media.sdp')} RTSP/1.0\r\nCSeq: 3\r\nSession: 12345678\r\nContent-Length: 0\r\n\r\n`), 150);
          return null;
        },
      }),
    );
    const c = await startClient({ url: s.url('/media.sdp') });
    await until(() => s.clientResponses.length === 3, 3000, 'client replies');
    expect(s.clientResponses.map((r) => [r.statusCode, r.headers.get('CSeq')])).toEqual([
      [200, '1'],
      [501, '2'],
      [501, '3'],
    ]);
    expect(s.clientResponses[2]!.headers.get('Session')).toBe('12345678');
    const before = c.rtp.length;
    await until(() => c.rtp.length > before + 4, 3000, 'media after server requests');
    expect(c.closes).toEqual([]);
    expect(c.client.stats.serverRequests).toBe(3);
  });
});

// ---------------------------------------------------------------------------------------------
describe('B. authentication', () => {
  const USER = 'admin';
  const PASS = 'hunter2';

  /** gate that requires a valid digest on every request (Q11) and records which requests passed */
  function digestCamera(challenges: string[], realm: string, nonce: string, alg = 'MD5', extra: (req: SeenRequest) => boolean = () => true) {
    const valid: string[] = [];
    const handler = camera({
      sessionHeader: '12345678;timeout=4',
      gate: (req) => {
        if (digestCheck(req, USER, PASS, realm, nonce, alg) && extra(req)) {
          valid.push(req.method);
          return null;
        }
        return reply(req, 401, challenges.map((c) => ['WWW-Authenticate', c] as [string, string]), '', { reason: 'ClientUnAuthorized' });
      },
    });
    return { handler, valid };
  }

  const variants: { name: string; challenges: string[]; realm: string; nonce: string; alg?: string; scheme: string }[] = [
    {
      name: 'Q08 Hikvision-style: unquoted stale, no space after comma, extra param, colon in nonce, parentheses in realm',
      challenges: ['Digest realm="IP Camera(C1214)", nonce="a0f8:1685",stale=FALSE, random="1234"'],
      realm: 'IP Camera(C1214)',
      nonce: 'a0f8:1685',
      scheme: 'Digest',
    },
    {
      name: 'Q09 Digest + Basic offered (Basic first), only Digest accepted',
      challenges: ['Basic realm="cam"', 'Digest realm="cam", nonce="n42"'],
      realm: 'cam',
      nonce: 'n42',
      scheme: 'Digest',
    },
    {
      name: 'Q09 SHA-256 and MD5 offered, only SHA-256 accepted',
      challenges: ['Digest realm="IP Camera(AB705)", nonce="s1", algorithm=MD5', 'Digest realm="IP Camera(AB705)", nonce="s1", algorithm=SHA-256'],
      realm: 'IP Camera(AB705)',
      nonce: 's1',
      alg: 'SHA-256',
      scheme: 'Digest',
    },
  ];
  for (const v of variants) {
    it(v.name, async () => {
      const { handler, valid } = digestCamera(v.challenges, v.realm, v.nonce, v.alg);
      const s = await server(handler);
      const c = await startClient({ url: s.url('/Streaming/Channels/101'), credentials: { username: USER, password: PASS } });
      await until(() => c.rtp.length > 2, 3000, 'rtp');
      expect(valid).toEqual(['OPTIONS', 'DESCRIBE', 'SETUP', 'SETUP', 'PLAY']);
      expect(s.requests.filter((r) => !r.headers.has('Authorization')).map((r) => r.method)).toEqual(['OPTIONS']);
      expect(c.info.quirks.some((q) => /digest/i.test(q))).toBe(true);
      await c.client.stop();
      expect(valid.at(-1)).toBe('TEARDOWN'); // Authorization on TEARDOWN too (Q11)
    });
  }

  it('Q10 qop=auth with opaque: unquoted qop/nc, nc increments, opaque echoed; keepalives carry auth (Q11)', async () => {
    const ncs: string[] = [];
    const { handler, valid } = digestCamera(['Digest realm="Login to X", nonce="n1", qop="auth", opaque="o1"'], 'Login to X', 'n1', 'MD5', (req) => {
      const a = parseAuthParams(req.headers.get('Authorization') ?? '');
      // strict variant (Amcrest): quoted qop/nc/algorithm are rejected
      if (/qop="/.test(a.raw) || /nc="/.test(a.raw) || /algorithm="/.test(a.raw)) return false;
      if (a.params.opaque !== 'o1' || !a.params.cnonce) return false;
      ncs.push(a.params.nc!);
      return true;
    });
    const s = await server(handler);
    const c = await startClient({ url: s.url('/live'), credentials: { username: USER, password: PASS } });
    await until(() => valid.includes('GET_PARAMETER'), 4000, 'authenticated keepalive');
    expect(ncs.slice(0, 3)).toEqual(['00000001', '00000002', '00000003']);
    expect(c.closes).toEqual([]);
  });

  it('Q13: DESCRIBE open, 401 only on SETUP', async () => {
    const s = await server(
      camera({
        gate: (req) =>
          req.method === 'SETUP' && !digestCheck(req, USER, PASS, 'hik', 'only-setup')
            ? reply(req, 401, { 'WWW-Authenticate': 'Digest realm="hik", nonce="only-setup"' })
            : null,
      }),
    );
    const c = await startClient({ url: s.url('/h'), credentials: { username: USER, password: PASS } });
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(lines(s, 'SETUP')).toEqual([`SETUP ${s.url('/h')}/trackID=0`, `SETUP ${s.url('/h')}/trackID=0`, `SETUP ${s.url('/h')}/trackID=1`]);
    // later requests keep sending Authorization
    expect(s.requests.find((r) => r.method === 'PLAY')!.headers.has('Authorization')).toBe(true);
  });

  it('Q14: Basic-only camera that also rejects requests without User-Agent', async () => {
    const s = await server(
      camera({
        gate: (req) =>
          !req.headers.has('User-Agent') || !basicCheck(req, USER, 'pä55') ? reply(req, 401, { 'WWW-Authenticate': 'Basic realm="TP-Link IP-Camera"' }) : null,
      }),
    );
    const c = await startClient({ url: s.url('/stream1'), credentials: { username: USER, password: 'pä55' } });
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(s.requests.filter((r) => !r.headers.has('Authorization'))).toHaveLength(1);
    expect(c.info.quirks.some((q) => /basic/i.test(q))).toBe(true);
  });

  it('Q15: password p@ss#w%rd:/!^ percent-encoded in the URL; no userinfo on the wire, never in logs', async () => {
    const pass = 'p@ss#w%rd:/!^';
    const s = await server(
      camera({
        gate: (req) => (digestCheck(req, 'adm@n', pass, 'r', 'n') ? null : reply(req, 401, { 'WWW-Authenticate': 'Digest realm="r", nonce="n"' })),
      }),
    );
    const userinfo = `${encodeURIComponent('adm@n')}:${encodeURIComponent(pass)}`;
    const c = await startClient({ url: s.url('/cam', userinfo) });
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(s.requests.every((r) => !r.uri.includes('@'))).toBe(true);
    expect(c.info.url).toBe(`rtsp://***@127.0.0.1:${s.port}/cam`);
    await c.client.stop();
    const all = c.logs.join('\n') + JSON.stringify(c.info);
    expect(all).not.toContain(pass);
    expect(all).not.toContain(encodeURIComponent(pass));
  });

  it('wrong password ⇒ RtspError auth 401 "wrong credentials", redacted message and logs', async () => {
    const pass = 'n0t-the-p@ss';
    const s = await server(camera({ gate: (req) => (digestCheck(req, USER, PASS, 'r', 'n') ? null : reply(req, 401, { 'WWW-Authenticate': 'Digest realm="r", nonce="n"' })) }));
    const { error, logs } = await startFails({ url: s.url('/cam', `${USER}:${encodeURIComponent(pass)}`) });
    expect(error.kind).toBe('auth');
    expect(error.statusCode).toBe(401);
    expect(error.message).toBe(`401 Unauthorized: wrong credentials for rtsp://***@127.0.0.1:${s.port}/cam`);
    expect(logs.join('\n')).not.toContain(pass);
    expect(s.requests).toHaveLength(2); // one challenge, one retry, then give up
  });

  it('401 without configured credentials ⇒ RtspError auth', async () => {
    const s = await server(camera({ gate: (req) => reply(req, 401, { 'WWW-Authenticate': 'Basic realm="x"' }) }));
    const { error } = await startFails({ url: s.url('/cam') });
    expect(error.kind).toBe('auth');
    expect(error.statusCode).toBe(401);
  });
});

// ---------------------------------------------------------------------------------------------
describe('C. URLs, Content-Base, control', () => {
  const withPort = (text: string, port: number) => text.replaceAll('PORT', String(port));
  const cases: { name: string; path: string; sdp: (port: number) => string; headers?: (port: number) => [string, string][]; expect: (port: number) => string[]; play?: (port: number) => string }[] = [
    {
      name: 'Q16 VStarcam: base without trailing slash + "track0" appends, no RFC 3986 resolution',
      path: '/tcp/av0_0',
      sdp: () => sdpH264Pcmu(['track0', 'track1']),
      expect: (p) => [`rtsp://127.0.0.1:${p}/tcp/av0_0/track0`, `rtsp://127.0.0.1:${p}/tcp/av0_0/track1`],
    },
    {
      name: 'Q16 Dahua: control appended after the query string',
      path: '/cam/realmonitor?channel=1&subtype=0',
      sdp: () => sdpH264Pcmu(['trackID=0', 'trackID=1']),
      expect: (p) => [`rtsp://127.0.0.1:${p}/cam/realmonitor?channel=1&subtype=0/trackID=0`, `rtsp://127.0.0.1:${p}/cam/realmonitor?channel=1&subtype=0/trackID=1`],
    },
    {
      name: 'Q17 Anjvision: schemeless Content-Base repaired against the request URL',
      path: '/stream0',
      sdp: () => sdpH264Pcmu(['trackID=1', 'trackID=2'], '\r\n', '*'),
      headers: () => [['Content-Base', '192.168.1.10:554/stream0/']],
      expect: (p) => [`rtsp://127.0.0.1:${p}/stream0/trackID=1`, `rtsp://127.0.0.1:${p}/stream0/trackID=2`],
    },
    {
      name: 'Q17 Axis: session-level absolute control is the base (query kept)',
      path: '/axis-media/media.amp',
      sdp: (p) => sdpH264Pcmu(['trackID=1', 'trackID=2'], '\r\n', withPort('rtsp://127.0.0.1:PORT/axis-media/media.amp?Axis-Orig-Sw=true', p)),
      expect: (p) => [`rtsp://127.0.0.1:${p}/axis-media/media.amp?Axis-Orig-Sw=true/trackID=1`, `rtsp://127.0.0.1:${p}/axis-media/media.amp?Axis-Orig-Sw=true/trackID=2`],
      play: (p) => `rtsp://127.0.0.1:${p}/axis-media/media.amp?Axis-Orig-Sw=true`,
    },
    {
      name: 'Q17 Content-Base with admin:password@ embedded (DDNS Hikvision): userinfo stripped',
      path: '/ch1',
      sdp: () => sdpH264Pcmu(['trackID=1', 'trackID=2']),
      headers: (p) => [['Content-Base', `rtsp://admin:12345@127.0.0.1:${p}/ch1/`]],
      expect: (p) => [`rtsp://127.0.0.1:${p}/ch1/trackID=1`, `rtsp://127.0.0.1:${p}/ch1/trackID=2`],
    },
    {
      name: 'Q18 absolute control URLs naming an unroutable host use the configured authority',
      path: '/uniview',
      sdp: () => sdpH264Pcmu(['rtsp://10.255.255.1:554/ch1/trackID=1', 'rtsp://1.0.1.113/media/video2/trackID=2']),
      expect: (p) => [`rtsp://127.0.0.1:${p}/ch1/trackID=1`, `rtsp://127.0.0.1:${p}/media/video2/trackID=2`],
    },
  ];
  for (const tc of cases) {
    it(tc.name, async () => {
      let port = 0;
      const s = await server((req, ctx) =>
        camera({
          sdp: tc.sdp(port),
          describeHeaders: tc.headers?.(port),
          // a camera that 404s any SETUP URL other than the expected one
          gate: (r) => (r.method === 'SETUP' && !tc.expect(port).includes(r.uri) ? reply(r, 404) : null),
        })(req, ctx),
      );
      port = s.port;
      const c = await startClient({ url: s.url(tc.path) });
      await until(() => tracksSeen(c.rtp).size === 2, 3000, 'rtp on both tracks');
      expect(s.requests.filter((r) => r.method === 'SETUP').map((r) => r.uri)).toEqual(tc.expect(port));
      expect(c.info.tracks.map((t) => t.controlUrl)).toEqual(tc.expect(port));
      if (tc.play) expect(s.requests.find((r) => r.method === 'PLAY')!.uri).toBe(tc.play(port));
      expect(s.requests.every((r) => !r.uri.includes('@') && !r.uri.includes('10.255.255.1'))).toBe(true);
      if (tc.name.startsWith('Q18')) expect(c.info.quirks).toContain('absolute control URL with foreign host rewritten');
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('D. keepalive, session loss, redirects', () => {
  const keepalives = (s: TestServer) => s.requests.filter((r) => r.headers.has('Session') && (r.method === 'OPTIONS' || r.method === 'GET_PARAMETER' || r.method === 'SET_PARAMETER'));

  it('Q19(a) Public lists SET_PARAMETER (which 400s) but not GET_PARAMETER ⇒ OPTIONS keepalives to the base URL', async () => {
    const s = await server(
      camera({
        sessionHeader: 'ka1;timeout=4',
        publicMethods: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, SET_PARAMETER',
        other: (req) => (req.method === 'SET_PARAMETER' ? reply(req, 400, {}, '', { noCseq: true }) : undefined),
      }),
    );
    const c = await startClient({ url: s.url('/tapo') });
    await until(() => keepalives(s).length >= 2, 6000, 'two keepalives');
    expect(keepalives(s).map((r) => `${r.method} ${r.uri} ${r.headers.get('Session')}`)).toEqual([`OPTIONS ${s.url('/tapo')} ka1`, `OPTIONS ${s.url('/tapo')} ka1`]);
    expect(c.info.keepaliveMethod).toBe('OPTIONS');
    const n = c.rtp.length;
    await until(() => c.rtp.length > n + 3, 2000, 'media continues');
    expect(c.closes).toEqual([]);
  });

  it('Q19(b) GET_PARAMETER advertised but answered 400 ⇒ switch to OPTIONS, never fatal', async () => {
    const s = await server(camera({ sessionHeader: 'ka2;timeout=4', keepalive: (req, _ctx, n) => (req.method === 'GET_PARAMETER' ? reply(req, 400) : n > 0 ? undefined : null) }));
    const c = await startClient({ url: s.url('/vlc') });
    await until(() => keepalives(s).length >= 2, 6000, 'two keepalives');
    expect(keepalives(s).map((r) => r.method)).toEqual(['GET_PARAMETER', 'OPTIONS']);
    expect(keepalives(s)[0]!.body.length).toBe(0);
    expect(c.info.keepaliveMethod).toBe('OPTIONS');
    expect(c.info.quirks).toContain('keepalive GET_PARAMETER answered 400: switched to OPTIONS');
    expect(c.quirkEvents).toContain('keepalive GET_PARAMETER answered 400: switched to OPTIONS');
    expect(c.closes).toEqual([]);
  });

  it('Q19(c) keepalives never answered but media keeps flowing ⇒ session survives', async () => {
    const s = await server(camera({ sessionHeader: 'ka3;timeout=4', keepalive: () => null }));
    const c = await startClient({ url: s.url('/quiet'), requestTimeoutMs: 1000 });
    await until(() => keepalives(s).length >= 2, 6000, 'two keepalives');
    await sleep(300);
    expect(keepalives(s).map((r) => r.method)).toEqual(['GET_PARAMETER', 'OPTIONS']);
    expect(c.closes).toEqual([]);
    const n = c.rtp.length;
    await until(() => c.rtp.length > n + 3, 2000, 'media continues');
    expect(c.client.stats.keepaliveFailures).toBeGreaterThanOrEqual(1);
  });

  it('Q22: 454 Session Not Found to a keepalive ⇒ one close event (status 454); stop() afterwards is harmless', async () => {
    const s = await server(
      camera({
        sessionHeader: 'gone;timeout=2',
        keepalive: (req, ctx) => {
          ctx.state.stopMedia = true;
          return reply(req, 454);
        },
      }),
    );
    const c = await startClient({ url: s.url('/thingino') });
    await until(() => c.closes.length > 0, 4000, 'close');
    expect(c.closes).toHaveLength(1);
    expect(c.closes[0]).toBeInstanceOf(RtspError);
    expect(c.closes[0]!.statusCode).toBe(454);
    await c.client.stop();
    expect(c.closes).toHaveLength(1);
  });

  it('camera hangs (no RTP/RTCP after PLAY) ⇒ close with a timeout error', async () => {
    const s = await server(camera({ pump: false }));
    const c = await startClient({ url: s.url('/hung'), mediaTimeoutMs: 600 });
    await until(() => c.closes.length > 0, 4000, 'close');
    expect(c.closes[0]!.kind).toBe('timeout');
  });

  it('server closes the control connection ⇒ close with a network error', async () => {
    const s = await server(
      camera({
        play: (req, ctx) => {
          setTimeout(() => ctx.socket.destroy(), 200);
          return reply(req, 200, { Session: '12345678' });
        },
      }),
    );
    const c = await startClient({ url: s.url('/bye') });
    await until(() => c.closes.length > 0, 4000, 'close');
    expect(c.closes[0]!.kind).toBe('network');
  });

  it('Q26: 302 to a second server that wants digest; credentials carried, new connection', async () => {
    const s2 = await server(camera({ gate: (req) => (digestCheck(req, 'u', 'pw', 'two', 'n2') ? null : reply(req, 401, { 'WWW-Authenticate': 'Digest realm="two", nonce="n2"' })) }));
    const s1 = await server((req) => (req.method === 'DESCRIBE' ? reply(req, 302, { Location: s2.url('/real') }) : reply(req, 200, { Public: 'OPTIONS, DESCRIBE' })));
    const c = await startClient({ url: s1.url('/start', 'u:pw') });
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(lines(s1)).toEqual([`OPTIONS ${s1.url('/start')}`, `DESCRIBE ${s1.url('/start')}`]);
    expect(lines(s2, 'SETUP')).toEqual([`SETUP ${s2.url('/real')}/trackID=0`, `SETUP ${s2.url('/real')}/trackID=1`]);
    expect(c.info.url).toBe(`rtsp://***@127.0.0.1:${s2.port}/real`);
    expect(c.info.quirks).toContain('redirect followed');
  });

  it('Q26: redirect loop fails with redirect-loop after maxRedirects hops', async () => {
    let self = '';
    const s = await server((req) => (req.method === 'DESCRIBE' ? reply(req, 301, { Location: self }) : reply(req, 200)));
    self = s.url('/loop');
    const { error } = await startFails({ url: self, maxRedirects: 3 });
    expect(error.kind).toBe('redirect-loop');
    expect(s.connections).toBe(4);
  });
});

// ---------------------------------------------------------------------------------------------
describe('E. transport negotiation', () => {
  it('UDP: client_port pair on the control connection address, NAT punch to server_port, RTCP via sendRtcp', async () => {
    const s = await server(camera());
    const c = await startClient({ url: s.url('/udp'), transport: 'udp' });
    await until(() => tracksSeen(c.rtp).size === 2, 3000, 'rtp on both tracks');
    const tr = s.requests.filter((r) => r.method === 'SETUP').map((r) => r.headers.get('Transport')!);
    for (const t of tr) {
      const m = /^RTP\/AVP;unicast;client_port=(\d+)-(\d+)$/.exec(t);
      expect(m).not.toBeNull();
      expect(Number(m![1]) % 2).toBe(0);
      expect(Number(m![2])).toBe(Number(m![1]) + 1);
    }
    await until(() => s.udpReceived.some((d) => d.payload.length === 12 && d.payload[0] === 0x80), 2000, 'punch packet');
    expect(c.info.transport).toBe('udp');
    expect(c.info.tracks[0]!.transport.serverPort).toEqual([s.udpPort, s.udpPort + 1]);
  });

  it('TCP: sendRtcp writes an interleaved frame on the RTCP channel the server assigned (any pair)', async () => {
    const s = await server(
      camera({
        setup: (req, _ctx, i) => reply(req, 200, { Transport: `RTP/AVP/TCP;unicast;interleaved=${10 + 2 * i}-${11 + 2 * i}`, Session: 'odd' }),
      }),
    );
    const c = await startClient({ url: s.url('/odd') });
    await until(() => tracksSeen(c.rtp).size === 2, 3000, 'rtp');
    expect(c.info.tracks.map((t) => t.transport.interleaved)).toEqual([
      [10, 11],
      [12, 13],
    ]);
    const rr = Buffer.from([0x80, 0xc9, 0, 1, 0, 0, 0, 1]);
    c.client.sendRtcp(1, rr);
    await until(() => s.interleavedFromClient.length > 0, 2000, 'rr');
    expect(s.interleavedFromClient[0]!.channel).toBe(13);
    expect(s.interleavedFromClient[0]!.payload).toEqual(rr);
  });

  it('Q28: no server_port, ssrc with leading spaces, foreign source=, media from an ephemeral port', async () => {
    const s = await server(
      camera({
        udpFromOtherPort: true,
        setup: (req) => {
          const cp = /client_port=(\d+-\d+)/.exec(req.headers.get('Transport') ?? '')![1];
          return reply(req, 200, { Transport: `RTP/AVP;ssrc=     D93FF;unicast;client_port=${cp};source=10.1.1.1;mode="PLAY"`, Session: 'q28' });
        },
      }),
    );
    const c = await startClient({ url: s.url('/openipc'), transport: 'udp' });
    await until(() => tracksSeen(c.rtp).size === 2, 3000, 'rtp');
    expect(c.info.tracks[0]!.ssrc).toBe(0xd93ff);
    expect(c.info.quirks).toContain('no server_port: accepting UDP from any port of the server');
    expect(c.info.quirks).toContain('Transport source= ignored (not the RTSP peer)');
    expect(s.udpReceived).toHaveLength(0); // no punching without a server port
  });

  it('Q29: UDP accepted but silent ⇒ TEARDOWN, fresh connection over TCP with re-auth (Q13)', async () => {
    const s = await server(
      camera({
        udpSilent: true,
        // nonce per connection: auth state does not carry over (Hikvision after protocol switch)
        gate: (req, ctx) => (digestCheck(req, 'u', 'p', 'r', `n${ctx.conn}`) ? null : reply(req, 401, { 'WWW-Authenticate': `Digest realm="r", nonce="n${ctx.conn}"` })),
      }),
    );
    const c = await startClient({ url: s.url('/fw', 'u:p'), transport: 'auto', udpFirstPacketTimeoutMs: 1000 });
    expect(c.info.transport).toBe('tcp');
    expect(c.info.quirks).toContain('UDP→TCP fallback: no RTP in 1 s');
    await until(() => c.rtp.length > 2, 3000, 'rtp over tcp');
    const conn0 = s.requests.filter((r) => r.conn === 0).map((r) => r.method);
    expect(conn0.slice(-2)).toEqual(['PLAY', 'TEARDOWN']);
    const conn1 = s.requests.filter((r) => r.conn === 1);
    expect(conn1.map((r) => r.method)).toEqual(['OPTIONS', 'OPTIONS', 'DESCRIBE', 'SETUP', 'SETUP', 'PLAY']);
    expect(conn1.filter((r) => r.method === 'SETUP').map((r) => r.headers.get('Transport'))).toEqual(['RTP/AVP/TCP;unicast;interleaved=0-1', 'RTP/AVP/TCP;unicast;interleaved=2-3']);
  });

  it('Q29: 461 Unsupported Transport on the UDP SETUP ⇒ the whole session again over TCP', async () => {
    const s = await server(camera({ gate: (req) => (req.method === 'SETUP' && /client_port/.test(req.headers.get('Transport') ?? '') ? reply(req, 461) : null) }));
    const c = await startClient({ url: s.url('/tcp-only'), transport: 'auto' });
    expect(c.info.transport).toBe('tcp');
    expect(c.info.quirks).toContain('UDP→TCP fallback: 461 Unsupported Transport');
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(s.connections).toBe(2);
  });

  it('Q29: UDP SETUP answered with an interleaved TCP transport ⇒ TCP', async () => {
    const s = await server(
      camera({ setup: (req, _c, i) => (/client_port/.test(req.headers.get('Transport') ?? '') ? reply(req, 200, { Transport: `RTP/AVP/TCP;unicast;interleaved=${2 * i}-${2 * i + 1}`, Session: 'x' }) : null) }),
    );
    const c = await startClient({ url: s.url('/tcp-reply'), transport: 'auto' });
    expect(c.info.transport).toBe('tcp');
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(c.info.quirks).toContain('UDP→TCP fallback: server answered the UDP SETUP with TCP');
  });

  it('forced TCP answered with a UDP transport ⇒ protocol error', async () => {
    const s = await server(camera({ setup: (req) => reply(req, 200, { Transport: 'RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001', Session: 'x' }) }));
    const { error } = await startFails({ url: s.url('/udp-only') });
    expect(error.kind).toBe('protocol');
  });

  it('Q30 multicast: destination/port from the SETUP reply (track 0) or the SDP c=/m= (track 1), joined on the control interface', async () => {
    const base = 40000 + 4 * Math.floor(Math.random() * 2000);
    const sender = dgram.createSocket('udp4');
    await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
    sender.setMulticastInterface('127.0.0.1');
    sender.setMulticastLoopback(true);
    const sdp = sdpH264Pcmu().replace('m=audio 0 RTP/AVP 0', `m=audio ${base + 2} RTP/AVP 0\r\nc=IN IP4 239.255.77.2/1`);
    let timer: NodeJS.Timeout | undefined;
    const s = await server(
      camera({
        sdp,
        pump: false,
        setup: (req, _ctx, i) => {
          expect(req.headers.get('Transport')).toBe('RTP/AVP;multicast');
          return reply(req, 200, { Transport: i === 0 ? `RTP/AVP;multicast;destination=239.255.77.1;port=${base}-${base + 1};ttl=1` : 'RTP/AVP;multicast', Session: 'mc' });
        },
        play: (req) => {
          let seq = 0;
          timer = setInterval(() => {
            seq++;
            sender.send(rtpPacket(96, seq, seq, 1), base, '239.255.77.1');
            sender.send(rtpPacket(0, seq, seq, 2), base + 2, '239.255.77.2');
          }, 20);
          return reply(req, 200, { Session: 'mc' });
        },
      }),
    );
    try {
      const c = await startClient({ url: s.url('/mc'), transport: 'multicast' });
      await until(() => tracksSeen(c.rtp).size === 2, 3000, 'multicast rtp on both tracks');
      expect(c.info.transport).toBe('multicast');
      expect(c.info.quirks).toContain('multicast group taken from SDP c=');
      expect(c.rtp.every((r) => (r.pkt[1]! & 0x7f) === (r.track === 0 ? 96 : 0))).toBe(true);
    } finally {
      clearInterval(timer);
      sender.close();
    }
  });

  it('Q25: a request that is never answered fails with kind timeout; stop() during start() rejects start', async () => {
    const cam = camera();
    // a slow NVR: DESCRIBE is never answered
    const silent = await server((req, ctx) => (req.method === 'DESCRIBE' ? null : cam(req, ctx)));
    const { error } = await startFails({ url: silent.url('/slow'), requestTimeoutMs: 300 });
    expect(error.kind).toBe('timeout');
    const client = new RtspClient({ url: silent.url('/slow'), transport: 'tcp', requestTimeoutMs: 5000 });
    const p = client.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    await until(() => silent.requests.filter((r) => r.method === 'DESCRIBE').length === 2, 2000, 'second DESCRIBE');
    await client.stop();
    expect(await p).toBeInstanceOf(RtspError);
  });

  it('no selectable media ⇒ no-media; selectMedia picks only video', async () => {
    const s = await server(camera());
    const { error } = await startFails({ url: s.url('/x'), selectMedia: () => false });
    expect(error.kind).toBe('no-media');
    const c = await startClient({ url: s.url('/x'), selectMedia: (m) => m.kind === 'video' });
    expect(c.info.tracks).toHaveLength(1);
    await until(() => c.rtp.length > 2, 3000, 'rtp');
    expect(tracksSeen(c.rtp)).toEqual(new Set([0]));
  });
});

function encode(ch: number, p: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x24, ch, p.length >> 8, p.length & 0xff]), p]);
}
