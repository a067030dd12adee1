/**
 * Worker thread body: one Engine, driven by messages from the main thread (WebRtcService).
 * Started through worker-entry.mjs, which registers tsx so this TypeScript file loads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RTCDtlsTransport } from 'werift';
import { Engine, type EngineIn, type EngineOut } from './engine.ts';
import { warmUp } from './warmup.ts';

const port = parentPort;
if (!port) throw new Error('webrtc worker started outside a worker thread');
const data = workerData as { portRange?: [number, number]; portsPerPeer?: number; warmUp?: boolean };
const engine = new Engine({ portRange: data.portRange, portsPerPeer: data.portsPerPeer, post: (m: EngineOut) => port.postMessage(m) });
port.on('message', (m: EngineIn | { t: 'shutdown' }) => {
  if (m.t === 'shutdown') {
    engine.close();
    setTimeout(() => process.exit(0), 50);
    return;
  }
  engine.handle(m);
});
// werift makes its DTLS certificate (ECDSA P-256, shared by every peer of this thread) on the first
// setup; make it now so the first viewer does not wait for it.
await RTCDtlsTransport.SetupCertificate().catch(() => undefined);
port.postMessage({ t: 'ready' });
// With the server's start (not under tests that start engines on demand): see warmup.ts.
if (data.warmUp) void warmUp();
