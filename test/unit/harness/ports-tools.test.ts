import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import { freePort, freePortPair } from '../../helpers/ports.ts';
import { haveTools, whichSync } from '../../helpers/tools.ts';

describe('ports', () => {
  it('freePort returns a bindable TCP port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('freePortPair returns a bindable even/odd UDP pair', async () => {
    const [rtp, rtcp] = await freePortPair();
    expect(rtp % 2).toBe(0);
    expect(rtcp).toBe(rtp + 1);
    const socks = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
    await Promise.all(socks.map((s, i) => new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(i === 0 ? rtp : rtcp, '127.0.0.1', () => resolve());
    })));
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });
});

describe('tools', () => {
  it('finds executables on PATH and reports missing ones; throws for missing tools in CI', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camgate-tools-'));
    const fake = path.join(dir, 'ffprobe');
    fs.writeFileSync(fake, '#!/bin/sh\n', { mode: 0o755 });
    const saved = { PATH: process.env.PATH, CI: process.env.CI };
    try {
      process.env.PATH = dir;
      delete process.env.CI;
      expect(whichSync('ffprobe')).toBe(fake);
      expect(haveTools('ffprobe')).toBe(true);
      expect(haveTools('ffprobe', 'gst-launch-1.0')).toBe(false);
      process.env.CI = 'true';
      expect(() => haveTools('ffprobe', 'gst-launch-1.0')).toThrow(/gst-launch-1\.0/);
      expect(haveTools('ffprobe')).toBe(true);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.CI === undefined) delete process.env.CI;
      else process.env.CI = saved.CI;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
