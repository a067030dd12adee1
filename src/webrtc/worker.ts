/**
 * Worker thread body: one Engine, driven by messages from the main thread (WebRtcService).
 * Started through worker-entry.mjs, which registers tsx so this TypeScript file loads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Engine, type EngineIn, type EngineOut } from './engine.ts';

const port = parentPort;
if (!port) throw new Error('webrtc worker started outside a worker thread');
const data = workerData as { portRange?: [number, number] };
const engine = new Engine({ portRange: data.portRange, post: (m: EngineOut) => port.postMessage(m) });
port.on('message', (m: EngineIn | { t: 'shutdown' }) => {
  if (m.t === 'shutdown') {
    engine.close();
    setTimeout(() => process.exit(0), 50);
    return;
  }
  engine.handle(m);
});
port.postMessage({ t: 'ready' });
