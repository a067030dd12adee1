/**
 * WHEP sessions that the viewer abandons without DELETE must be freed by the server:
 *  - never connected (the page closed while its POST was in flight, or ICE never succeeds):
 *    connect timeout (15 s by default; 2 s here through CAMGATE_WEBRTC_CONNECT_TIMEOUT_MS);
 *  - connected, then the viewer vanishes (process killed: no DTLS close_notify, no DELETE):
 *    consent freshness (RFC 7675: no consent response for 30 s → werift reports ICE failed).
 * Checked through the session registry (GET /api/sessions) and the WHEP resource itself (404).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startWhepServer, waitFor, type WhepServer } from '../unit/webrtc/harness.ts';
import { chromeOffer } from '../unit/webrtc/offers.ts';

let srv: WhepServer;
const CLIENT = fileURLToPath(new URL('./whep-werift-client.ts', import.meta.url));

async function sessions(): Promise<{ id: string; protocol: string }[]> {
  const r = await fetch(`${srv.base}/api/sessions`);
  expect(r.status).toBe(200);
  const body = (await r.json()) as { id: string; protocol: string }[] | { sessions: { id: string; protocol: string }[] };
  return (Array.isArray(body) ? body : body.sessions).filter((s) => s.protocol === 'webrtc');
}

beforeAll(async () => {
  process.env.CAMGATE_WEBRTC_CONNECT_TIMEOUT_MS = '2000';
  srv = await startWhepServer({ cameras: [{ id: 'demo' }] });
  await waitFor(() => !!srv.gateway.hub.get('demo')?.lastKeyframe(), 15_000, 'demo keyframe');
}, 30_000);
afterAll(async () => {
  delete process.env.CAMGATE_WEBRTC_CONNECT_TIMEOUT_MS;
  await srv?.close();
});

describe('WHEP session expiry', () => {
  it('frees a session whose viewer never connects', async () => {
    // Chrome-shaped offers with no reachable peer: exactly what a POST from a page that then
    // closed looks like to the server. Three at once, one with a candidate nobody answers on.
    const offers = [chromeOffer(), chromeOffer(), chromeOffer().replace(/(a=mid:0\r\n)/, '$1a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host\r\n')];
    const t0 = Date.now();
    const locs = await Promise.all(
      offers.map(async (o) => {
        const r = await fetch(`${srv.base}/whep/demo`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: o });
        expect(r.status).toBe(201);
        return r.headers.get('location')!;
      }),
    );
    const ids = locs.map((l) => l.split('/').pop()!);
    expect((await sessions()).map((s) => s.id)).toEqual(expect.arrayContaining(ids));
    // Still there before the timeout: the timeout does not cut a slow but live setup short.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await sessions()).filter((s) => ids.includes(s.id))).toHaveLength(3);
    let goneAt = 0;
    for (;;) {
      const live = (await sessions()).filter((s) => ids.includes(s.id));
      if (live.length === 0) {
        goneAt = Date.now() - t0;
        break;
      }
      if (Date.now() - t0 > 10_000) throw new Error(`sessions still present after 10 s: ${live.length}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`never-connected sessions freed after ${goneAt} ms (timeout 2000 ms)`);
    expect(goneAt).toBeGreaterThanOrEqual(1900);
    for (const loc of locs) {
      expect((await fetch(`${srv.base}${loc}`, { method: 'DELETE' })).status).toBe(404);
      const p = await fetch(`${srv.base}${loc}`, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=mid:0\r\na=end-of-candidates\r\n' });
      expect(p.status).toBe(404);
    }
    expect(srv.gateway.status('demo')?.viewers.webrtc ?? 0).toBe(0);
  }, 20_000);

  it('frees a connected session whose viewer vanished (consent expiry), and keeps one that is alive', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLIENT, `${srv.base}/whep/demo`, '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let last = { connected: 0, packets: 0 };
    child.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString().trim().split('\n')) if (line) last = JSON.parse(line);
    });
    try {
      await waitFor(() => last.connected === 1 && last.packets > 50, 20_000, 'werift viewer receiving');
      const [s] = await sessions();
      expect(s).toBeDefined();
      // Past the 2 s connect timeout and still present: a connected session is not expired.
      await new Promise((r) => setTimeout(r, 2500));
      expect((await sessions()).map((x) => x.id)).toContain(s!.id);
      child.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, 5000, 'client exit');
      let gone = false;
      while (Date.now() - killedAt < 45_000) {
        if (!(await sessions()).some((x) => x.id === s!.id)) {
          gone = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      const after = Date.now() - killedAt;
      console.log(`vanished viewer freed ${after} ms after it was killed (consent timeout 30 s)`);
      expect(gone).toBe(true);
      expect((await fetch(`${srv.base}/whep/sessions/${s!.id}`, { method: 'DELETE' })).status).toBe(404);
    } finally {
      child.kill('SIGKILL');
    }
  }, 80_000);
});
