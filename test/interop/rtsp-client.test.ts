// The RTSP client against a real GStreamer RTSP server (gst-rtsp-server via python gi bindings).
import net from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { RtspClient, RtspError } from '../../src/rtsp/client.ts';
import type { RtspClientOptions, RtspSessionInfo } from '../../src/rtsp/client.ts';
import { startGstCamera } from '../helpers/gst-camera.ts';
import type { GstCamera } from '../helpers/gst-camera.ts';
import { haveTools } from '../helpers/tools.ts';

const PASSWORD = 's3cr#t:p@ss';
const USER = 'viewer';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  info: RtspSessionInfo;
  perTrack: number[];
  badPt: number;
  client: RtspClient;
}

/** start a client, count RTP per track (checking the payload type) for `ms`, then stop it */
async function runFor(opts: RtspClientOptions, ms: number): Promise<Run> {
  const client = new RtspClient(opts);
  const perTrack: number[] = [];
  let badPt = 0;
  let info: RtspSessionInfo | undefined;
  client.on('rtp', (track: number, pkt: Buffer) => {
    perTrack[track] = (perTrack[track] ?? 0) + 1;
    const media = info?.tracks[track]?.media;
    if (media && (pkt[1]! & 0x7f) !== media.payloadType) badPt++;
  });
  info = await client.start();
  await sleep(ms);
  await client.stop();
  return { info, perTrack, badPt, client };
}

/** a transparent TCP proxy that records what the client sent (to see TEARDOWN on the wire) */
async function recordingProxy(targetPort: number): Promise<{ port: number; sent: () => string; received: () => string; close: () => void }> {
  let up = '';
  let down = '';
  const socks = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const s = net.connect(targetPort, '127.0.0.1');
    socks.add(c).add(s);
    c.on('data', (d) => {
      up += d.toString('latin1');
      s.write(d);
    });
    s.on('data', (d) => {
      down += d.toString('latin1');
      c.write(d);
    });
    c.on('close', () => s.destroy());
    s.on('close', () => c.destroy());
    c.on('error', () => s.destroy());
    s.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => up,
    received: () => down,
    close: () => {
      for (const s of socks) s.destroy();
      server.close();
    },
  };
}

describe.skipIf(!haveTools('gst-rtsp-server'))('RtspClient ↔ gst-rtsp-server', () => {
  describe('no auth', () => {
    let cam: GstCamera;
    beforeAll(async () => {
      cam = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h264+aac' }], fps: 15, protocols: ['tcp', 'udp'] });
    });
    afterAll(async () => {
      await cam?.stop();
    });

    for (const transport of ['tcp', 'udp'] as const) {
      it(`plays H.264 + AAC over ${transport}; RTP arrives on every track with the SDP payload type`, async () => {
        const r = await runFor({ url: cam.url('/cam'), transport }, 2500);
        expect(r.info.transport).toBe(transport);
        expect(r.info.tracks.map((t) => t.media.encoding)).toEqual(['H264', 'MPEG4-GENERIC']);
        expect(r.info.sessionId.length).toBeGreaterThan(0);
        expect(r.perTrack[0]).toBeGreaterThan(15); // ≥ 1 s of 15 fps video
        expect(r.perTrack[1]).toBeGreaterThan(5);
        expect(r.badPt).toBe(0);
        if (transport === 'tcp') expect(r.info.tracks.every((t) => t.transport.interleaved !== undefined)).toBe(true);
        else expect(r.info.tracks.every((t) => t.transport.serverPort !== undefined)).toBe(true);
      });
    }

    it('auto picks UDP when UDP works on loopback', async () => {
      const r = await runFor({ url: cam.url('/cam'), transport: 'auto', udpFirstPacketTimeoutMs: 3000 }, 1000);
      expect(r.info.transport).toBe('udp');
      expect(r.perTrack[0]).toBeGreaterThan(5);
      expect(r.info.quirks.some((q) => q.startsWith('UDP→TCP'))).toBe(false);
    });

    it('sends TEARDOWN with the session on stop() and the server acknowledges it', async () => {
      const proxy = await recordingProxy(cam.port);
      try {
        const r = await runFor({ url: `rtsp://127.0.0.1:${proxy.port}/cam`, transport: 'tcp' }, 800);
        const sent = proxy.sent();
        expect(sent).toMatch(new RegExp(`^TEARDOWN rtsp://127\\.0\\.0\\.1:${proxy.port}/cam/? RTSP/1\\.0\\r\\n`, 'm'));
        const teardown = sent.slice(sent.indexOf('TEARDOWN '));
        expect(teardown).toContain(`Session: ${r.info.sessionId}`);
        const cseq = /CSeq: (\d+)/i.exec(teardown)![1];
        await new Promise((res) => setTimeout(res, 100));
        // gst answered the TEARDOWN with 200 for that CSeq (stop() does not wait longer than 1.5 s)
        expect(proxy.received()).toMatch(new RegExp(`RTSP/1\\.0 200 OK\r\nCSeq: ${cseq}\r\n`));
        expect(sent).toMatch(/^PLAY [^\r\n]+\r\n(?:[^\r\n]+\r\n)*Range: npt=0\.000-\r\n/m);
        expect(sent).not.toMatch(/mode=/i);
      } finally {
        proxy.close();
      }
    });
  });

  for (const method of ['basic', 'digest'] as const) {
    describe(`${method} auth`, () => {
      let cam: GstCamera;
      beforeAll(async () => {
        cam = await startGstCamera({
          mounts: [{ path: '/cam', spec: 'h264+aac' }],
          fps: 15,
          auth: { method, user: USER, password: PASSWORD },
        });
      });
      afterAll(async () => {
        await cam?.stop();
      });

      it('authenticates with credentials in the URL and streams over TCP', async () => {
        const r = await runFor({ url: cam.url('/cam', { user: USER, password: PASSWORD }), transport: 'tcp' }, 1500);
        expect(r.perTrack[0]).toBeGreaterThan(5);
        expect(r.perTrack[1]).toBeGreaterThan(2);
        expect(r.info.url).not.toContain(PASSWORD);
        expect(r.info.url).toContain('***@');
      });

      it('authenticates with out-of-band credentials over UDP', async () => {
        const r = await runFor({ url: cam.url('/cam'), credentials: { username: USER, password: PASSWORD }, transport: 'udp' }, 1500);
        expect(r.info.transport).toBe('udp');
        expect(r.perTrack[0]).toBeGreaterThan(5);
      });

      it('a wrong password fails with RtspError kind auth, status 401, password redacted', async () => {
        const wrong = 'wr0ng#pass';
        const logs: string[] = [];
        const logger = {
          debug: (o: object | string, m?: string) => logs.push(JSON.stringify(o) + (m ?? '')),
          info: (o: object | string, m?: string) => logs.push(JSON.stringify(o) + (m ?? '')),
          warn: (o: object | string, m?: string) => logs.push(JSON.stringify(o) + (m ?? '')),
          error: (o: object | string, m?: string) => logs.push(JSON.stringify(o) + (m ?? '')),
        };
        const client = new RtspClient({ url: cam.url('/cam', { user: USER, password: wrong }), transport: 'tcp', logger });
        const e = await client.start().then(
          () => undefined,
          (x: unknown) => x,
        );
        await client.stop();
        expect(e).toBeInstanceOf(RtspError);
        const re = e as RtspError;
        expect(re.kind).toBe('auth');
        expect(re.statusCode).toBe(401);
        expect(re.message).toContain('wrong credentials');
        expect(re.message).not.toContain(wrong);
        expect(re.message).not.toContain(encodeURIComponent(wrong));
        expect(logs.join('\n')).not.toContain(wrong);
      });
    });
  }
});
