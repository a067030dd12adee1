// Tests the interop harness itself against independent clients (ffprobe, gst rtspsrc), never camgate
// code: if these fail, the helpers are broken, not the gateway.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera, rtspsrcRead, type GstCamera } from '../helpers/gst-camera.ts';
import { probeUrl, probeElementary } from '../helpers/ffprobe.ts';
import {
  startQuirkServer,
  reply,
  h264Sdp,
  h264Source,
  startH264Pump,
  parseClientPorts,
  type QuirkServer,
} from '../helpers/quirk-server.ts';

const codecs = (streams: { codec_type: string; codec_name: string }[]) =>
  streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort();

describe.skipIf(!haveTools('ffprobe', 'gst-launch-1.0', 'gst-rtsp-server'))('GStreamer RTSP camera', () => {
  let cam: GstCamera;
  beforeAll(async () => {
    cam = await startGstCamera({
      mounts: [
        { path: '/h264', spec: 'h264+aac' },
        { path: '/h265', spec: 'h265+pcma' },
        { path: '/mjpeg', spec: 'mjpeg' },
      ],
      width: 320,
      height: 240,
      fps: 15,
      gop: 15,
    });
  });
  afterAll(async () => {
    await cam?.stop();
  });

  for (const transport of ['tcp', 'udp'] as const) {
    it(`ffprobe sees the right codecs, resolution and audio over ${transport}`, async () => {
      const h264 = await probeUrl(cam.url('/h264'), { rtspTransport: transport });
      expect(codecs(h264.streams)).toEqual(['audio:aac', 'video:h264']);
      expect(h264.streams.find((s) => s.codec_type === 'video')).toMatchObject({ width: 320, height: 240 });

      const h265 = await probeUrl(cam.url('/h265'), { rtspTransport: transport });
      expect(codecs(h265.streams)).toEqual(['audio:pcm_alaw', 'video:hevc']);
      expect(h265.streams.find((s) => s.codec_type === 'video')).toMatchObject({ width: 320, height: 240 });
      expect(h265.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ sample_rate: '8000', channels: 1 });

      const mjpeg = await probeUrl(cam.url('/mjpeg'), { rtspTransport: transport });
      expect(codecs(mjpeg.streams)).toEqual(['video:mjpeg']);
      expect(mjpeg.streams[0]).toMatchObject({ width: 320, height: 240 });
    });
  }

  it('ffprobe decodes frames from the live stream', async () => {
    const r = await probeUrl(cam.url('/h264'), { rtspTransport: 'tcp', countFrames: true, readIntervals: '%+2' });
    const video = r.streams.find((s) => s.codec_type === 'video');
    expect(Number(video?.nb_read_frames)).toBeGreaterThanOrEqual(10);
  });

  it('gst-launch rtspsrc reads it over TCP and UDP', async () => {
    const tcp = await rtspsrcRead(cam.url('/h264'), { protocols: 'tcp', numBuffers: 15 });
    expect(tcp.eos, tcp.stderr).toBe(true);
    const udp = await rtspsrcRead(cam.url('/h265'), { protocols: 'udp', numBuffers: 15 });
    expect(udp.eos, udp.stderr).toBe(true);
  });

  it('stop() then start() serves again on the same port; hard stop too', async () => {
    const port = cam.port;
    await cam.stop();
    await expect(probeUrl(cam.url('/mjpeg'), { rtspTransport: 'tcp', timeoutMs: 5000 })).rejects.toThrow();
    await cam.start();
    expect(cam.port).toBe(port);
    expect(codecs((await probeUrl(cam.url('/mjpeg'), { rtspTransport: 'tcp' })).streams)).toEqual(['video:mjpeg']);
    await cam.stop(true);
    await cam.start();
    expect(cam.port).toBe(port);
    expect(codecs((await probeUrl(cam.url('/mjpeg'), { rtspTransport: 'tcp' })).streams)).toEqual(['video:mjpeg']);
    expect(cam.log.some((l) => l.startsWith('READY '))).toBe(true);
  });
});

describe.skipIf(!haveTools('ffprobe', 'gst-launch-1.0', 'gst-rtsp-server'))('GStreamer RTSP camera with auth', () => {
  const user = 'admin';
  const password = 'p@ss:w0rd';
  let digest: GstCamera;
  let basic: GstCamera;
  beforeAll(async () => {
    [digest, basic] = await Promise.all([
      startGstCamera({ mounts: [{ path: '/cam', spec: 'mjpeg' }], auth: { method: 'digest', user, password } }),
      startGstCamera({ mounts: [{ path: '/cam', spec: 'mjpeg' }], auth: { method: 'basic', user, password } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([digest?.stop(), basic?.stop()]);
  });

  for (const which of ['digest', 'basic'] as const) {
    it(`${which}: ffprobe with the right password works; wrong or no password gets 401`, async () => {
      const cam = which === 'digest' ? digest : basic;
      const ok = await probeUrl(cam.url('/cam', { user, password }), { rtspTransport: 'tcp' });
      expect(codecs(ok.streams)).toEqual(['video:mjpeg']);
      await expect(probeUrl(cam.url('/cam', { user, password: 'wrong' }), { rtspTransport: 'tcp' })).rejects.toThrow(/401/);
      await expect(probeUrl(cam.url('/cam'), { rtspTransport: 'tcp' })).rejects.toThrow(/401/);
    });
  }

  it('rtspsrc authenticates with digest', async () => {
    const r = await rtspsrcRead(digest.url('/cam'), { user, password, numBuffers: 10 });
    expect(r.eos, r.stderr).toBe(true);
    const bad = await rtspsrcRead(digest.url('/cam'), { user, password: 'nope', numBuffers: 10 });
    expect(bad.eos).toBe(false);
    expect(bad.stderr).toMatch(/Unauthorized/);
  });

  it('rejects digest-sha256 with a clear message (GstRtspServer has no SHA-256 digest)', async () => {
    await expect(
      startGstCamera({ mounts: [{ path: '/cam', spec: 'h264' }], auth: { method: 'digest-sha256', user, password } }),
    ).rejects.toThrow(/digest-sha256 is not supported/);
  });
});

describe.skipIf(!haveTools('ffprobe', 'ffmpeg'))('probeElementary', () => {
  const make = (args: string[]) => {
    const r = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', ...args, '-'], { maxBuffer: 8 * 1024 * 1024 });
    expect(r.status, r.stderr?.toString()).toBe(0);
    return r.stdout;
  };

  it('counts JPEG frames, ADTS AAC frames and G.711 samples', async () => {
    const mjpeg = make(['-i', 'testsrc=size=160x120:rate=10', '-frames:v', '5', '-c:v', 'mjpeg', '-f', 'mjpeg']);
    expect(await probeElementary(mjpeg, 'mjpeg')).toMatchObject({ frames: 5, width: 160, height: 120, codec: 'mjpeg' });
    const aac = make(['-i', 'sine=f=440:r=16000', '-t', '1', '-c:a', 'aac', '-ac', '1', '-f', 'adts']);
    const a = await probeElementary(aac, 'aac');
    expect(a).toMatchObject({ codec: 'aac', sampleRate: 16000, channels: 1 });
    expect(a.frames).toBeGreaterThanOrEqual(15); // 16000 / 1024 per frame
    const mulaw = make(['-i', 'sine=f=440:r=8000', '-t', '1', '-c:a', 'pcm_mulaw', '-f', 'mulaw']);
    expect(await probeElementary(mulaw, 'mulaw')).toMatchObject({ codec: 'pcm_mulaw', sampleRate: 8000, channels: 1 });
    const junk = await probeElementary(Buffer.from('not a video'), 'h264');
    expect(junk.frames).toBe(0);
  });
});

describe.skipIf(!haveTools('gst-rtsp-server'))('GStreamer RTSP camera with multicast', () => {
  // Only the SETUP negotiation is checked: on one host the server holds the group's port exclusively,
  // so no client on the same machine can bind it to receive the multicast RTP.
  it('answers SETUP with RTP/AVP;multicast from the 239.255.42.x pool', async () => {
    const cam = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h264' }], protocols: ['tcp', 'udp', 'udp-mcast'] });
    try {
      const sock = net.connect(cam.port, '127.0.0.1');
      let text = '';
      sock.on('data', (d) => (text += d.toString('latin1')));
      const until = (re: RegExp) =>
        new Promise<RegExpExecArray>((resolve, reject) => {
          const check = () => {
            const m = re.exec(text);
            if (m) {
              sock.off('data', check);
              resolve(m);
            }
          };
          sock.on('data', check);
          sock.once('close', () => reject(new Error(`closed: ${text}`)));
        });
      sock.write(`DESCRIBE ${cam.url('/cam')} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n`);
      const control = (await until(/a=control:(stream=\d+)\r\n/))[1];
      sock.write(`SETUP ${cam.url('/cam')}/${control} RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP;multicast\r\n\r\n`);
      const m = await until(/CSeq: 2\r\n[\s\S]*?Transport: ([^\r\n]+)\r\n/);
      expect(m[1]).toMatch(/^RTP\/AVP;multicast;destination=239\.255\.42\.\d+;ttl=1;port=50\d\d-50\d\d/);
      sock.destroy();
    } finally {
      await cam.stop();
    }
  });
});

describe.skipIf(!haveTools('ffprobe', 'ffmpeg'))('QuirkServer with ffprobe', () => {
  let qs: QuirkServer;
  const SESSION = '5E55104D';
  beforeAll(async () => {
    qs = await startQuirkServer((req, ctx) => {
      switch (req.method) {
        case 'OPTIONS':
          return reply(req, 200, { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' });
        case 'DESCRIBE':
          return reply(req, 200, { 'Content-Base': `${qs.url('/cam')}/`, 'Content-Type': 'application/sdp' }, h264Sdp());
        case 'SETUP': {
          const client = parseClientPorts(req.headers['transport']);
          ctx.state.udp = client !== null;
          const transport = client
            ? `RTP/AVP;unicast;client_port=${client[0]}-${client[1]};server_port=${ctx.serverPorts[0]}-${ctx.serverPorts[1]}`
            : 'RTP/AVP/TCP;unicast;interleaved=0-1';
          return reply(req, 200, { Transport: transport, Session: `${SESSION};timeout=60` });
        }
        case 'PLAY':
          ctx.write(reply(req, 200, { Session: SESSION, 'RTP-Info': `url=${qs.url('/cam')}/trackID=0;seq=100;rtptime=0` }));
          ctx.state.pump = startH264Pump(ctx, {
            transport: ctx.state.udp ? 'udp' : 'tcp',
            startSeq: 100,
            startTimestamp: 0,
            senderReports: true,
          });
          return null;
        default:
          return reply(req, 200, { Session: SESSION });
      }
    });
  });
  afterAll(async () => {
    await qs?.close();
  });

  it('the pump source is a decodable 320x240 H.264 stream', async () => {
    const src = h264Source();
    const annexB = Buffer.concat(src.accessUnits.flat().flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]));
    const p = await probeElementary(annexB, 'h264');
    expect(p).toMatchObject({ codec: 'h264', width: 320, height: 240, frames: src.accessUnits.length });
    expect(src.accessUnits.length).toBe(30);
  });

  for (const transport of ['tcp', 'udp'] as const) {
    it(`ffprobe (${transport}) plays a scripted session and decodes h264`, async () => {
      const before = qs.requests.length;
      const r = await probeUrl(qs.url('/cam'), { rtspTransport: transport, countFrames: true, readIntervals: '%+2' });
      expect(r.streams).toHaveLength(1);
      expect(r.streams[0]).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
      expect(Number(r.streams[0]!.nb_read_frames)).toBeGreaterThanOrEqual(10);
      const methods = qs.requests.slice(before).map((q) => q.method);
      expect(methods.slice(0, 4)).toEqual(['OPTIONS', 'DESCRIBE', 'SETUP', 'PLAY']);
      expect(qs.errors).toEqual([]);
    });
  }
});
