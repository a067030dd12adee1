/**
 * The built-in demo camera through the RTSP restream, the way a user meets it: the shipped
 * `cameras.demo.yaml` puts the restream on port 8554, and `camgate serve` (the real CLI, as `npx
 * camgate` runs it) serves `rtsp://HOST:8554/demo`, which ffprobe decodes as H.264 640x360 + AAC.
 * The test serves the same config on free ports (other suites run concurrently; 8554 may be taken).
 */
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.ts';
import { haveTools } from '../helpers/tools.ts';
import { freePort } from '../helpers/ports.ts';
import { probeUrl } from '../helpers/ffprobe.ts';
import { spawnServe } from '../helpers/serve.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.skipIf(!haveTools('ffprobe'))('demo camera on the RTSP restream', () => {
  it('cameras.demo.yaml serves rtsp://HOST:8554/demo; ffprobe decodes H.264 640x360 and AAC 48 kHz mono over TCP and UDP', async () => {
    const shipped = readFileSync(path.join(ROOT, 'cameras.demo.yaml'), 'utf8');
    const parsed = parseConfig(shipped, 'cameras.demo.yaml');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    expect(parsed.config.server.rtsp.port).toBe(8554);
    expect(parsed.config.cameras.map((c) => [c.id, c.url])).toEqual([['demo', 'builtin:demo']]);

    // The same file with the ports moved (the `server:` block is replaced, the cameras are kept).
    const rtspPort = await freePort();
    const httpPort = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'camgate-rtsp-demo-'));
    const cfg = path.join(dir, 'demo.yaml');
    writeFileSync(cfg, shipped.replace(/^server:\n(?:[ \t]+.*\n)+/m, `server:\n  http: "127.0.0.1:${httpPort}"\n  rtsp: "127.0.0.1:${rtspPort}"\n`));
    expect(readFileSync(cfg, 'utf8')).toContain(`rtsp: "127.0.0.1:${rtspPort}"`);

    const serve = spawnServe(cfg);
    cleanups.push(() => serve.stop());
    for (let i = 0; i < 150 && !serve.logs().includes('RTSP restream on'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(serve.logs()).toMatch(new RegExp(`RTSP restream on rtsp://127\\.0\\.0\\.1:${rtspPort}/`));

    const url = `rtsp://127.0.0.1:${rtspPort}/demo`;
    const tcp = await probeUrl(url, { rtspTransport: 'tcp', countFrames: true, readIntervals: '%+2', timeoutMs: 30_000 });
    const v = tcp.streams.find((s) => s.codec_type === 'video');
    const a = tcp.streams.find((s) => s.codec_type === 'audio');
    expect(v).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
    expect(a).toMatchObject({ codec_name: 'aac', sample_rate: '48000', channels: 1 });
    // Decoded, not just described: 2 s at 25 fps starting at a keyframe.
    expect(Number(v!.nb_read_frames)).toBeGreaterThanOrEqual(25);
    expect(Number(a!.nb_read_frames)).toBeGreaterThan(0);

    const udp = await probeUrl(url, { rtspTransport: 'udp', timeoutMs: 30_000 });
    expect(udp.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
    expect(udp.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
    expect(serve.child.exitCode).toBe(null);
  }, 90_000);
});
