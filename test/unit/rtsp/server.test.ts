/**
 * RTSP server protocol behaviour against a synthetic hub stream (the demo clip published by the test
 * with known wall-clock times), driven by a raw client: methods and status codes, SDP contents,
 * RTP-Info, the GOP-cache start, RTCP sender reports on the camera's wall clock, receiver reports in
 * the sessions list, and bad input.
 */
import { describe, it, expect, afterEach, beforeAll } from 'vitest';
import dgram from 'node:dgram';
import { loadDemoClip } from '../../../src/camera/demo.ts';
import type { Stream } from '../../../src/stream/stream.ts';
import type { TrackInfo } from '../../../src/stream/types.ts';
import { parseRtpPacket, serializeRtpPacket } from '../../../src/rtp/packet.ts';
import { encodeInterleaved } from '../../../src/rtsp/message.ts';
import { parseRtcp, buildReceiverReport, buildSenderReport } from '../../../src/rtp/rtcp.ts';
import { parseSdp } from '../../../src/sdp/index.ts';
import { parseRtpInfo } from '../../../src/rtsp/headers/rtpinfo.ts';
import { ClientAuthenticator } from '../../../src/rtsp/auth.ts';
import { parseRequestPath } from '../../../src/rtsp/server.ts';
import { RawRtspClient, startServer } from './server-helpers.ts';

type Clip = Awaited<ReturnType<typeof loadDemoClip>>;
let clip: Clip;
beforeAll(async () => {
  clip = await loadDemoClip();
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const WALL0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Publishes the demo clip into `stream` in real time (25 fps video + AAC), wall clock from WALL0. */
function feed(stream: Stream, tracks: TrackInfo[] = clip.tracks): () => void {
  stream.start(tracks);
  let v = 0;
  let a = 0;
  const t0 = Date.now();
  const tick = () => {
    const elapsed = Date.now() - t0 + 1000; // 1 s of history at once, so the GOP cache has a keyframe
    while ((v * 1000) / clip.fps <= elapsed) {
      const f = clip.video[v % clip.video.length]!;
      const pts = v * 3600;
      stream.publish({ track: 0, codec: 'H264', pts, dts: pts, clockRate: 90000, wallclock: WALL0 + v * 40, keyframe: f.keyframe, data: f.nalus, epoch: stream.epoch });
      v++;
    }
    while (tracks.length > 1 && (a * 1024 * 1000) / clip.sampleRate <= elapsed) {
      stream.publish({ track: 1, codec: 'AAC', pts: a * 1024, dts: a * 1024, clockRate: clip.sampleRate, wallclock: WALL0 + (a * 1024 * 1000) / clip.sampleRate, keyframe: true, data: [clip.audio[a % clip.audio.length]!], epoch: stream.epoch });
      a++;
    }
  };
  tick();
  const timer = setInterval(tick, 10);
  return () => clearInterval(timer);
}

async function setup(opts: Parameters<typeof startServer>[2] = {}, users: Parameters<typeof startServer>[1] = []) {
  const s = await startServer([], users, opts);
  cleanups.push(s.stop);
  const stream = s.gateway.hub.getOrCreate('syn');
  cleanups.push(feed(stream));
  return { ...s, stream };
}

async function client(port: number): Promise<RawRtspClient> {
  const c = await RawRtspClient.connect(port);
  cleanups.push(() => c.close());
  return c;
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('request paths', () => {
  it('splits stream names and track controls', () => {
    expect(parseRequestPath('rtsp://h:8554/cam')).toEqual({ path: 'cam', name: 'cam' });
    expect(parseRequestPath('rtsp://h:8554/cam/sub/trackID=1')).toEqual({ path: 'cam/sub/trackID=1', name: 'cam/sub', control: 'trackID=1' });
    expect(parseRequestPath('rtsp://h/cam/?token=x')).toEqual({ path: 'cam', name: 'cam' });
    expect(parseRequestPath('rtsp://h:8554/pub/streamid=0')?.control).toBe('streamid=0');
  });
});

describe('RTSP server protocol', () => {
  it('OPTIONS lists the methods; DESCRIBE gives an SDP with parameter sets, controls and Content-Base', async () => {
    const { port, url } = await setup();
    const c = await client(port);
    const o = await c.request('OPTIONS', url('syn'));
    expect(o.statusCode).toBe(200);
    for (const m of ['DESCRIBE', 'SETUP', 'PLAY', 'TEARDOWN', 'GET_PARAMETER', 'ANNOUNCE', 'RECORD']) expect(o.headers.get('Public')).toContain(m);
    const d = await c.request('DESCRIBE', url('syn'));
    expect(d.statusCode).toBe(200);
    expect(d.headers.get('Content-Type')).toBe('application/sdp');
    expect(d.headers.get('Content-Base')).toBe(`${url('syn')}/`);
    const sdp = parseSdp(d.body);
    expect(sdp.ok).toBe(true);
    if (!sdp.ok) return;
    const [v, a] = sdp.value.medias;
    expect(v).toMatchObject({ kind: 'video', encoding: 'H264', clockRate: 90000, control: 'trackID=0' });
    const sps = clip.tracks[0]!.params.sps!.toString('base64');
    expect(v!.fmtp['sprop-parameter-sets']).toBe(`${sps},${clip.tracks[0]!.params.pps!.toString('base64')}`);
    expect(v!.fmtp['packetization-mode']).toBe('1');
    expect(v!.dimensions).toEqual({ width: 640, height: 360 });
    expect(a).toMatchObject({ kind: 'audio', encoding: 'MPEG4-GENERIC', clockRate: 48000, control: 'trackID=1' });
    expect(a!.fmtp.config).toBe(clip.tracks[1]!.params.audioSpecificConfig!.toString('hex'));
    expect((await c.request('DESCRIBE', url('nope'))).statusCode).toBe(404);
  });

  it('PLAY starts at a keyframe from the GOP cache; RTP-Info matches the first packets; SRs carry the camera wall clock', async () => {
    const { port, url } = await setup({ srIntervalMs: 300 });
    const c = await client(port);
    const { play } = await c.playTcp(url('syn'));
    expect(play.statusCode).toBe(200);
    expect(play.headers.get('Range')).toBe('npt=now-');
    const info = parseRtpInfo(play.headers.get('RTP-Info')!);
    expect(info.ok).toBe(true);
    if (!info.ok) return;
    expect(info.value.map((i) => i.url)).toEqual([`${url('syn')}/trackID=0`, `${url('syn')}/trackID=1`]);
    await until(() => c.frames.filter((f) => f.channel === 1).length >= 3 && c.frames.filter((f) => f.channel === 3).length >= 1, 4000);
    const video = c.frames.filter((f) => f.channel === 0).map((f) => parseRtpPacket(f.payload)).map((r) => (r.ok ? r.value : undefined)!);
    // The first packet is the GOP's keyframe: STAP-A with SPS first (or the SPS alone).
    const first = video[0]!;
    expect(first.sequenceNumber).toBe(info.value[0]!.seq);
    expect(first.timestamp).toBe(info.value[0]!.rtptime);
    const nalType = first.payload[0]! & 0x1f;
    expect(nalType === 24 ? first.payload[3]! & 0x1f : nalType).toBe(7);
    // Sequence numbers are consecutive.
    for (let i = 1; i < video.length; i++) expect(video[i]!.sequenceNumber).toBe((video[i - 1]!.sequenceNumber + 1) & 0xffff);
    // Sender reports: the NTP/RTP pair must sit on the line the access units define (pts ↔ wallclock).
    const srs = c.frames.filter((f) => f.channel === 1).flatMap((f) => parseRtcp(f.payload).packets).filter((p) => p.type === 'SR');
    expect(srs.length).toBeGreaterThanOrEqual(3);
    for (const sr of srs) {
      if (sr.type !== 'SR') continue;
      expect(sr.ssrc).toBe(first.ssrc);
      // rtp(ntp) = rtptime0 + (ntp - wall(first)) * 90; first packet's wallclock = WALL0 + k*40 for some k.
      const dt = (((sr.rtpTime - first.timestamp) >>> 0) / 90000) * 1000;
      const wallOfFirst = sr.ntpMs - dt;
      // The first AU's wall clock is WALL0 + 40k ms: the SR maps back onto that grid within 1 ms.
      const k = (wallOfFirst - WALL0) / 40;
      expect(Math.abs(k - Math.round(k)) * 40).toBeLessThan(1);
      expect(sr.packetCount).toBeGreaterThan(0);
    }
    // Audio SR maps to the same wall clock line (A/V sync from the first second).
    const audioSr = c.frames.filter((f) => f.channel === 3).flatMap((f) => parseRtcp(f.payload).packets).find((p) => p.type === 'SR');
    expect(audioSr).toBeDefined();
    if (audioSr?.type === 'SR') {
      const dtA = (((audioSr.rtpTime - info.value[1]!.rtptime!) >>> 0) / 48000) * 1000;
      const dtV = (((srs[0]!.type === 'SR' ? srs[0]!.rtpTime : 0) - info.value[0]!.rtptime!) >>> 0) / 90;
      const refA = audioSr.ntpMs - dtA;
      const refV = (srs[0]!.type === 'SR' ? srs[0]!.ntpMs : 0) - dtV;
      expect(Math.abs(refA - refV)).toBeLessThan(2); // both RTP-Info rtptimes name the same instant
    }
  });

  it('unicast readers share one numbering: a late reader gets the same SSRC and the very same packets, RTP-Info names its first one; the numbering stops with the last reader', async () => {
    const { port, url, stream } = await setup();
    const before = stream.consumerList().length;
    const a = await client(port);
    const pa = await a.playTcp(url('syn'));
    await new Promise((r) => setTimeout(r, 700));
    const b = await client(port);
    const pb = await b.playTcp(url('syn'));
    await until(() => b.frames.filter((f) => f.channel === 0).length >= 60);
    const rtp = (c: RawRtspClient) => c.frames.filter((f) => f.channel === 0).map((f) => ({ raw: f.payload, p: parseRtpPacket(f.payload) })).map((x) => ({ raw: x.raw, ...(x.p.ok ? x.p.value : ({} as never)) }));
    const va = rtp(a);
    const vb = rtp(b);
    expect(vb[0]!.ssrc).toBe(va[0]!.ssrc);
    for (const [play, v] of [[pa.play, va], [pb.play, vb]] as const) {
      const info = parseRtpInfo(play.headers.get('RTP-Info')!);
      if (!info.ok) throw new Error('RTP-Info');
      expect(v[0]!.sequenceNumber).toBe(info.value[0]!.seq);
      expect(v[0]!.timestamp).toBe(info.value[0]!.rtptime);
      for (let i = 1; i < v.length; i++) expect(v[i]!.sequenceNumber).toBe((v[i - 1]!.sequenceNumber + 1) & 0xffff);
    }
    // b started at the GOP's keyframe, which a had already received: byte for byte the same packets.
    const bySeq = new Map(va.map((x) => [x.sequenceNumber, x.raw]));
    let common = 0;
    for (const x of vb) {
      const other = bySeq.get(x.sequenceNumber);
      if (!other) continue;
      expect(x.raw.equals(other)).toBe(true);
      common++;
    }
    expect(common).toBeGreaterThan(30);
    // Audio too: one SSRC for both readers.
    const ssrcOf = (c: RawRtspClient) => {
      const p = parseRtpPacket(c.frames.find((f) => f.channel === 2)!.payload);
      return p.ok ? p.value.ssrc : -1;
    };
    expect(ssrcOf(b)).toBe(ssrcOf(a));
    expect(stream.consumerList().length).toBe(before + 3); // a, b and the numbering
    a.close();
    b.close();
    await until(() => stream.consumerList().length === before);
  });

  it('shows receiver reports and the reader in the sessions list; TEARDOWN removes it', async () => {
    const { port, url, gateway } = await setup();
    const c = await client(port);
    await c.playTcp(url('syn'));
    await until(() => c.frames.some((f) => f.channel === 0));
    const ssrc = parseRtpPacket(c.frames.find((f) => f.channel === 0)!.payload);
    if (!ssrc.ok) throw new Error('bad rtp');
    const rr = buildReceiverReport(0x1234, [{ ssrc: ssrc.value.ssrc, fractionLost: 12, cumulativeLost: 7, highestSeq: 100, jitter: 33, lsr: 0, dlsr: 0 }]);
    const frame = Buffer.concat([Buffer.from([0x24, 1, rr.length >> 8, rr.length & 0xff]), rr]);
    c.socket.write(frame);
    await until(() => (gateway.sessions.list()[0] as unknown as { rtsp: { receiverReports: unknown[] } } | undefined)?.rtsp.receiverReports.length === 1);
    const v = gateway.sessions.list()[0] as unknown as { protocol: string; stream: string; rtsp: { receiverReports: { track: number; fractionLost: number; cumulativeLost: number; jitter: number }[]; transport: string } };
    expect(v.protocol).toBe('rtsp');
    expect(v.stream).toBe('syn');
    expect(v.rtsp.transport).toBe('tcp');
    expect(v.rtsp.receiverReports[0]).toMatchObject({ track: 0, fractionLost: 12, cumulativeLost: 7, jitter: 33 });
    expect(JSON.parse(JSON.stringify(v)).rtsp.receiverReports).toHaveLength(1);
    expect(gateway.sessions.viewers('syn').rtsp).toBe(1);
    const t = await c.request('TEARDOWN', url('syn'));
    expect(t.statusCode).toBe(200);
    expect(gateway.sessions.list()).toHaveLength(0);
    expect((await c.request('GET_PARAMETER', url('syn'))).statusCode).toBe(454);
  });

  it('answers 454 for an unknown session, 461 for an unsupported transport, 400 for garbage; keeps serving', async () => {
    const { port, url } = await setup();
    const c = await client(port);
    expect((await c.request('PLAY', url('syn'), { Session: 'deadbeef' })).statusCode).toBe(454);
    expect((await c.request('GET_PARAMETER', url('syn'), { Session: 'deadbeef' })).statusCode).toBe(454);
    expect((await c.request('SETUP', `${url('syn')}/trackID=0`, { Transport: 'RTP/SAVP;unicast;client_port=5000-5001' })).statusCode).toBe(461);
    expect((await c.request('SETUP', `${url('syn')}/trackID=0`, { Transport: 'RAW/RAW/UDP;unicast' })).statusCode).toBe(461);
    expect((await c.request('SETUP', `${url('syn')}/trackID=9`, { Transport: 'RTP/AVP/TCP;interleaved=0-1' })).statusCode).toBe(404);
    const bad = await client(port);
    let text = '';
    bad.socket.on('data', (d) => (text += d.toString()));
    // Garbage, then a valid request: the demuxer resyncs, the garbage gets a 400, the request its answer.
    bad.socket.write(`GARBAGE\x00\x01\x02 not rtsp at all\r\n\r\nOPTIONS ${url('syn')} RTSP/1.0\r\nCSeq: 5\r\n\r\n`);
    await until(() => /CSeq: 5/.test(text));
    expect(text).toMatch(/^RTSP\/1.0 400 /);
    expect(text).toMatch(/RTSP\/1.0 200 OK\r\nCSeq: 5/);
    // the server is still fine
    expect((await c.request('OPTIONS', url('syn'))).statusCode).toBe(200);
  });

  it('UDP unicast: server ports from the configured range; RTP reaches the client ports', async () => {
    const base = 47000 + Math.floor(Math.random() * 1000) * 2;
    const { port, url } = await setup({ udpPorts: { min: base, max: base + 9 } });
    const c = await client(port);
    const rtp = dgram.createSocket('udp4');
    const rtcp = dgram.createSocket('udp4');
    cleanups.push(() => rtp.close(), () => rtcp.close());
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => rtcp.bind(0, '127.0.0.1', () => r()));
    const got: Buffer[] = [];
    rtp.on('message', (m) => got.push(m));
    await c.request('DESCRIBE', url('syn'));
    const s = await c.request('SETUP', `${url('syn')}/trackID=0`, { Transport: `RTP/AVP;unicast;client_port=${rtp.address().port}-${rtcp.address().port}` });
    expect(s.statusCode).toBe(200);
    const m = /server_port=(\d+)-(\d+)/.exec(s.headers.get('Transport')!);
    expect(Number(m![1])).toBeGreaterThanOrEqual(base);
    expect(Number(m![2])).toBeLessThanOrEqual(base + 9);
    expect(s.headers.get('Session')).toMatch(/;timeout=60$/);
    expect((await c.request('PLAY', url('syn'))).statusCode).toBe(200);
    await until(() => got.length > 20);
    expect(parseRtpPacket(got[0]!).ok).toBe(true);
  });

  it('multicast: group and port from the configured ranges, TTL 1, RTP reaches a member of the group', async () => {
    const { port, url } = await setup({ multicast: { groups: '239.255.77.0/28', ports: { min: 45600, max: 45699 }, interface: '127.0.0.1' } });
    const c = await client(port);
    await c.request('DESCRIBE', url('syn'));
    const s = await c.request('SETUP', `${url('syn')}/trackID=0`, { Transport: 'RTP/AVP;multicast' });
    expect(s.statusCode).toBe(200);
    const tr = s.headers.get('Transport')!;
    const m = /destination=([\d.]+);ttl=(\d+);port=(\d+)-(\d+)/.exec(tr);
    expect(m, tr).not.toBeNull();
    expect(m![1]).toBe('239.255.77.1');
    expect(m![2]).toBe('1');
    expect(Number(m![3])).toBeGreaterThanOrEqual(45600);
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    cleanups.push(() => sock.close());
    await new Promise<void>((r) => sock.bind(Number(m![3]), () => r()));
    sock.addMembership(m![1]!, '127.0.0.1');
    const got: Buffer[] = [];
    sock.on('message', (b) => got.push(b));
    expect((await c.request('PLAY', url('syn'))).statusCode).toBe(200);
    // A second reader joins the same group: same destination, one sender.
    const c2 = await client(port);
    await c2.request('DESCRIBE', url('syn'));
    const s2 = await c2.request('SETUP', `${url('syn')}/trackID=0`, { Transport: 'RTP/AVP;multicast' });
    expect(s2.headers.get('Transport')).toBe(tr);
    await until(() => got.length > 10, 4000);
    expect(parseRtpPacket(got[0]!).ok).toBe(true);
  });

  it('Digest SHA-256, Digest MD5 and Basic against users; per-camera rights; wrong password refused', async () => {
    const users = [
      { name: 'nvr', password: 'right-pass', role: 'viewer' as const, cameras: ['syn'] },
      { name: 'other', password: 'pw', role: 'viewer' as const, cameras: ['lobby'] },
    ];
    const { port, url } = await setup({}, users);
    const c = await client(port);
    const r401 = await c.request('DESCRIBE', url('syn'));
    expect(r401.statusCode).toBe(401);
    const challenges = r401.headers.getAll('WWW-Authenticate');
    expect(challenges.some((x) => /algorithm=SHA-256/.test(x))).toBe(true);
    expect(challenges.some((x) => /algorithm=MD5/.test(x))).toBe(true);
    expect(challenges.some((x) => /^Basic/.test(x))).toBe(true);
    const tryWith = async (user: string, pass: string, only: RegExp) => {
      const cc = await client(port);
      const r = await cc.request('DESCRIBE', url('syn'));
      const auth = new ClientAuthenticator({ username: user, password: pass });
      expect(auth.handleChallenge(r.headers.getAll('WWW-Authenticate').filter((x) => only.test(x)))).toBe(true);
      cc.authorization = (m, u) => auth.authorize(m, u);
      return (await cc.request('DESCRIBE', url('syn'))).statusCode;
    };
    expect(await tryWith('nvr', 'right-pass', /SHA-256/)).toBe(200);
    expect(await tryWith('nvr', 'right-pass', /MD5/)).toBe(200);
    expect(await tryWith('nvr', 'right-pass', /^Basic/)).toBe(200);
    expect(await tryWith('nvr', 'wrong-pass', /SHA-256/)).toBe(401);
    expect(await tryWith('nvr', 'wrong-pass', /^Basic/)).toBe(401);
    expect(await tryWith('other', 'pw', /MD5/)).toBe(403);
  });

  it('failed-login limiter: after repeated wrong passwords the address gets 403 (no challenge), even with the right one, until the lock ends', async () => {
    const users = [{ name: 'nvr', password: 'right-pass', role: 'viewer' as const, cameras: ['syn'] }];
    const { port, url, gateway } = await setup({}, users);
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    const c = await client(port);
    // A request without credentials is a challenge, not a failed sign-in: it never locks anyone out.
    for (let i = 0; i < 8; i++) expect((await c.request('DESCRIBE', url('syn'))).statusCode).toBe(401);
    expect(gateway.access.loginBlockedFor('127.0.0.1')).toBe(0);
    // Digest with a wrong password counts like Basic does.
    const r = await c.request('DESCRIBE', url('syn'));
    const digest = new ClientAuthenticator({ username: 'nvr', password: 'wrong' });
    expect(digest.handleChallenge(r.headers.getAll('WWW-Authenticate').filter((x) => /SHA-256/.test(x)))).toBe(true);
    expect((await c.request('DESCRIBE', url('syn'), { Authorization: digest.authorize('DESCRIBE', url('syn'))! })).statusCode).toBe(401);
    for (let i = 0; i < 5; i++) expect((await c.request('DESCRIBE', url('syn'), { Authorization: basic('nvr', `guess${i}`) })).statusCode).toBe(401);
    // Six failures: locked. The right password is refused too, without a challenge to retry against.
    const blocked = await c.request('DESCRIBE', url('syn'), { Authorization: basic('nvr', 'right-pass') });
    expect(blocked.statusCode).toBe(403);
    expect(blocked.headers.getAll('WWW-Authenticate')).toHaveLength(0);
    expect(blocked.body.toString()).toMatch(/too many failed sign-ins.*try again in \d+ s/);
    expect(Number(blocked.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    // Once the lock (1 s after the sixth failure) is over, the right password works and resets the count.
    await until(() => gateway.access.loginBlockedFor('127.0.0.1') === 0, 5000);
    expect((await c.request('DESCRIBE', url('syn'), { Authorization: basic('nvr', 'right-pass') })).statusCode).toBe(200);
    expect((await c.request('DESCRIBE', url('syn'), { Authorization: basic('nvr', 'wrong-again') })).statusCode).toBe(401);
    expect(gateway.access.loginBlockedFor('127.0.0.1')).toBe(0);
  });

  it('sends the publisher RTCP receiver reports: its SSRC, the packets it lost, LSR/DLSR from its sender report', async () => {
    const srv = await startServer([{ id: 'pub', url: 'publisher' }], [], { srIntervalMs: 200 });
    cleanups.push(srv.stop);
    const c = await client(srv.port);
    const sdp = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=push', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 0 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=control:streamid=0', ''].join('\r\n');
    expect((await c.request('ANNOUNCE', srv.url('pub'), {}, Buffer.from(sdp))).statusCode).toBe(200);
    expect((await c.request('SETUP', `${srv.url('pub')}/streamid=0`, { Transport: 'RTP/AVP/TCP;unicast;interleaved=4-5;mode=record' })).statusCode).toBe(200);
    expect((await c.request('RECORD', srv.url('pub'))).statusCode).toBe(200);
    const SSRC = 0x0badcafe;
    // 100 packets of 20 ms with sequence numbers 1000..1099, of which 1040..1049 never arrive.
    for (let i = 0; i < 100; i++) {
      if (i >= 40 && i < 50) continue;
      const pkt = serializeRtpPacket({ payloadType: 0, sequenceNumber: 1000 + i, timestamp: 160 * i, ssrc: SSRC, marker: false, payload: Buffer.alloc(160, 0xff) });
      c.socket.write(encodeInterleaved(4, pkt));
    }
    const ntpMs = Date.UTC(2026, 0, 1);
    c.socket.write(encodeInterleaved(5, buildSenderReport({ ssrc: SSRC, ntpMs, rtpTime: 160 * 99, packetCount: 90, octetCount: 14400 })));
    await until(() => c.frames.some((f) => f.channel === 5 && parseRtcp(f.payload).packets.some((p) => p.type === 'RR' && p.reports.some((r) => r.lsr !== 0))), 4000);
    const rr = c.frames
      .filter((f) => f.channel === 5)
      .flatMap((f) => parseRtcp(f.payload).packets)
      .filter((p) => p.type === 'RR')
      .flatMap((p) => (p.type === 'RR' ? p.reports : []))
      .find((r) => r.lsr !== 0)!;
    expect(rr.ssrc).toBe(SSRC);
    expect(rr.cumulativeLost).toBe(10);
    expect(rr.highestSeq & 0xffff).toBe(1099);
    // LSR is the middle 32 bits of the SR's NTP timestamp (RFC 3550 §6.4.1).
    const sr = parseRtcp(buildSenderReport({ ssrc: SSRC, ntpMs, rtpTime: 0, packetCount: 0, octetCount: 0 })).packets[0]!;
    if (sr.type !== 'SR') throw new Error('SR');
    expect(rr.lsr).toBe(Number((sr.ntpTime >> 16n) & 0xffffffffn));
    expect(rr.dlsr).toBeLessThan(65536 * 2); // under 2 s since the SR
    // RTCP on other channels is left alone: nothing arrives on the RTP channel.
    expect(c.frames.some((f) => f.channel === 4)).toBe(false);
  });

  it('ends a session that sends nothing within the timeout (TCP connection closed, viewer removed)', async () => {
    const { port, url, gateway } = await setup({ sessionTimeoutMs: 600 });
    const c = await client(port);
    const { play } = await c.playTcp(url('syn'));
    expect(play.headers.get('Session')).toMatch(/;timeout=1$/);
    expect(gateway.sessions.list()).toHaveLength(1);
    const t0 = Date.now();
    await c.closed;
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(400);
    expect(gateway.sessions.list()).toHaveLength(0);
  });

  it('keeps a session alive with GET_PARAMETER', async () => {
    const { port, url, gateway } = await setup({ sessionTimeoutMs: 600 });
    const c = await client(port);
    await c.playTcp(url('syn'));
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 250));
      expect((await c.request('GET_PARAMETER', url('syn'))).statusCode).toBe(200);
    }
    expect(c.isClosed).toBe(false);
    expect(gateway.sessions.list()).toHaveLength(1);
  });

  it('kick() from the sessions registry disconnects the reader', async () => {
    const { port, url, gateway } = await setup();
    const c = await client(port);
    await c.playTcp(url('syn'));
    const id = gateway.sessions.list()[0]!.id;
    expect(gateway.sessions.kick(id)).toBe(true);
    await c.closed;
    expect(gateway.sessions.list()).toHaveLength(0);
  });
});
