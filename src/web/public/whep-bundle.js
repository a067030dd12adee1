// The wall's tiles that start together share one WebRTC connection: camgate's bundled WHEP session
// (`POST /whep?streams=a,b/sub,…`, one video m-section per tile). One ICE and DTLS handshake for the
// whole wall instead of one per tile: on a 16-tile wall, creating 16 connections, their 16 POSTs
// queued on the browser's 6 HTTP/1.1 connections and 16 handshakes on both ends were most of the
// time to first frame (docs/benchmarks.md "Camera wall").
//
// Anything the bundle cannot do falls back to a WHEP session of the tile's own (whepConnect): a
// gateway or proxy that refuses the bundle, a stream answered inactive (not streaming yet, no
// common codec, not allowed), and every reconnect (the player retries on its own).
import { whepConnect } from './whep.js';

export class WhepBundler {
  /**
   * @param {object} o
   * @param {() => {authorization: string | null}} o.credentials
   * @param {() => RTCIceServer[]} o.iceServers
   */
  constructor({ credentials, iceServers }) {
    this.credentials = credentials;
    this.iceServers = iceServers;
    /** @type {{stream: string, onOffer?: () => void, resolve: (s: object) => void, reject: (e: Error) => void}[]} */
    this.pending = [];
    this.scheduled = false;
    /** Bundled sessions opened (tests and diagnosis). */
    this.opened = 0;
  }

  /**
   * A session for one stream, shaped like whepConnect's (`pc`, `stream`, `location`, `close()`) plus
   * `receiver` (the tile's own RTCRtpReceiver, for its stats) and `bundled`. Requests made in the
   * same turn (a wall rendering its tiles) share one connection.
   * @param {{stream: string, onOffer?: () => void}} req
   */
  connect(req) {
    return new Promise((resolve, reject) => {
      this.pending.push({ ...req, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => void this.flush(), 0);
      }
    });
  }

  single(r) {
    const { authorization } = this.credentials();
    whepConnect({ url: `/whep/${r.stream}`, authorization, audio: false, iceServers: this.iceServers(), onOffer: r.onOffer }).then(
      (s) => r.resolve({ ...s, receiver: null, bundled: false }),
      r.reject,
    );
  }

  async flush() {
    this.scheduled = false;
    const batch = this.pending.splice(0);
    if (batch.length === 1) return this.single(batch[0]);
    const { authorization } = this.credentials();
    const headers = authorization ? { Authorization: authorization } : {};
    let shared;
    try {
      shared = await whepConnect({
        url: `/whep?streams=${batch.map((r) => encodeURIComponent(r.stream)).join(',')}`,
        authorization,
        audio: false,
        iceServers: this.iceServers(),
        videos: batch.length,
        onOffer: () => batch.forEach((r) => r.onOffer?.()),
      });
    } catch (e) {
      // Refused as a whole (a gateway without bundles, a proxy, nothing sendable): each on its own.
      console.warn(`camgate: no shared WebRTC connection (${e.message}); each tile connects on its own`);
      for (const r of batch) this.single(r);
      return;
    }
    this.opened++;
    let refused = [];
    try {
      refused = JSON.parse(shared.headers?.get('Camgate-Bundle') ?? '[]').map((m) => m.refused);
    } catch {
      // No list: the answer's directions below still tell.
    }
    const transceivers = shared.pc.getTransceivers();
    let open = 0;
    /** Sections whose tiles closed in this turn: one DELETE each, or one for the session if none is left. */
    let closing = [];
    const settle = () => {
      const sections = closing;
      closing = [];
      if (open === 0) return shared.close(); // the last tile closes the connection (and DELETEs the session)
      // The gateway stops sending these tiles' streams.
      for (const i of sections) if (shared.location) fetch(`${shared.location}/${i}`, { method: 'DELETE', headers, keepalive: true }).catch(() => undefined);
    };
    batch.forEach((r, i) => {
      const t = transceivers[i];
      if (refused[i] || !t || t.currentDirection === 'inactive') return this.single(r);
      open++;
      let closed = false;
      r.resolve({
        pc: shared.pc,
        stream: shared.streams[i],
        receiver: t.receiver,
        location: shared.location,
        bundled: true,
        close: () => {
          if (closed) return;
          closed = true;
          open--;
          // Tiles closing together (the page leaving, a page flip) make one request, not one each:
          // a microtask still runs during pagehide, where a timer would not.
          if (closing.push(i) === 1) queueMicrotask(settle);
        },
      });
    });
    if (open === 0) shared.close();
  }
}
