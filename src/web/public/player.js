// One camera player: WebRTC (WHEP) first, LL-HLS through hls.js when WebRTC fails; reconnects by
// itself when the connection drops or the picture stalls.
import { whepConnect } from './whep.js';
import { HLS_LIVE_CONFIG, keepLive } from './hls-live.js';

/** No new frame for this long while playing = stalled: reconnect. */
const STALL_MS = { webrtc: 5000, hls: 8000 };
/** WHEP answered but no frame after this long (ICE blocked by a firewall…): use LL-HLS instead. */
const WEBRTC_FIRST_FRAME_MS = 6000;
const HLS_FIRST_FRAME_MS = 15000;
/** ICE 'disconnected' may recover by itself; give it this long before reconnecting. */
const DISCONNECTED_GRACE_MS = 3000;
/** Reconnect back-off: 1 s doubling to 5 s. */
const BACKOFF_MS = [1000, 2000, 4000, 5000];
const TICK_MS = 1000;

let hlsModule = null;
/** hls.js is only loaded when a tile falls back to it (it is 400 kB the WebRTC path never needs). */
function loadHls() {
  hlsModule ??= import('/vendor/hls.min.mjs').then((m) => m.default);
  return hlsModule;
}

/**
 * @typedef {object} PlayerOptions
 * @property {string} stream stream name: `<camera>` or `<camera>/sub`
 * @property {() => {authorization: string | null, token: string | null}} credentials
 * @property {boolean} [audio] receive audio too (the element's `muted` decides whether it is heard)
 * @property {RTCIceServer[]} [iceServers]
 * @property {boolean} [webrtc] false: go straight to LL-HLS
 * @property {import('./whep-bundle.js').WhepBundler} [bundler] first connection through the wall's shared one (video only)
 */

export class Player extends EventTarget {
  /** @param {HTMLVideoElement} video @param {PlayerOptions} opts */
  constructor(video, opts) {
    super();
    this.video = video;
    this.opts = opts;
    /** 'webrtc' | 'hls' | null */
    this.protocol = null;
    /** true once frames are being decoded (and not stalled) */
    this.playing = false;
    this.kbps = 0;
    this.frames = 0;
    this.lastError = null;
    /** performance.now() of start() and of the first decoded frame (time to first frame). */
    this.startedAt = 0;
    this.firstFrameAt = 0;
    this.reconnects = 0;
    /** performance.now() of each step of the current connection (for diagnosis and bench:wall). */
    this.timeline = {};
    this.webrtcFailed = opts.webrtc === false;
    /** true once the current connection's signaling is done (its WHEP POST answered, or LL-HLS) */
    this.signaled = false;
    this.gen = 0;
    this.active = false;
    this.attempt = 0;
    this.session = null;
    this.hls = null;
    /** stops keepLive() of the current hls.js instance */
    this.stopKeepLive = null;
    this.timers = new Set();
    this.onVideoFrame = this.onVideoFrame.bind(this);
    this.onLoadedData = () => this.frameSeen(performance.now());
  }

  /** Starts playing; a stopped player can be started again (it then tries WebRTC first again). */
  start() {
    if (this.active) return;
    this.active = true;
    this.webrtcFailed = this.opts.webrtc === false;
    this.attempt = 0;
    this.startedAt = performance.now();
    this.firstFrameAt = 0;
    this.video.addEventListener('loadeddata', this.onLoadedData);
    this.connect();
  }

  stop() {
    if (!this.active) return;
    this.active = false;
    this.video.removeEventListener('loadeddata', this.onLoadedData);
    this.teardown();
    this.protocol = null;
    this.setPlaying(false);
  }

  get connected() {
    return this.active && this.protocol !== null;
  }

  later(fn, ms) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  teardown() {
    this.gen++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    this.session?.close();
    this.session = null;
    this.stopKeepLive?.();
    this.stopKeepLive = null;
    this.hls?.destroy();
    this.hls = null;
    const v = this.video;
    if (v.srcObject || v.getAttribute('src')) {
      v.srcObject = null;
      v.removeAttribute('src');
      v.load();
    }
    this.kbps = 0;
    this.bytes = 0;
  }

  emit() {
    this.dispatchEvent(new Event('change'));
  }

  setPlaying(p) {
    if (this.playing === p) return;
    this.playing = p;
    this.emit();
  }

  /** Called when a connection failed or stalled: back off, then try again. */
  retry(reason) {
    if (!this.active) return;
    this.lastError = reason;
    this.teardown();
    this.setPlaying(false);
    const wait = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    this.reconnects++;
    this.later(() => this.connect(), wait);
    this.emit();
  }

  connect() {
    if (!this.active) return;
    const gen = ++this.gen;
    this.lastFrames = this.decodedFrames();
    this.lastProgressAt = performance.now();
    this.connectedAt = performance.now();
    this.bytes = 0;
    this.lastBytes = 0;
    this.lastTickAt = performance.now();
    if (!this.webrtcFailed && typeof RTCPeerConnection === 'function') void this.connectWebrtc(gen);
    else void this.connectHls(gen);
    this.tickTimer = setInterval(() => void this.tick(gen), TICK_MS);
    if (typeof this.video.requestVideoFrameCallback === 'function' && !this.rvfcPending) {
      this.rvfcPending = true;
      this.video.requestVideoFrameCallback(this.onVideoFrame);
    }
  }

  /** The connection's signaling is done (WHEP answered, or LL-HLS started): see `signaled`. */
  signal() {
    this.signaled = true;
    this.dispatchEvent(new Event('signaled'));
  }

  async connectWebrtc(gen) {
    this.signaled = false;
    this.protocol = 'webrtc';
    this.emit();
    const { authorization } = this.opts.credentials();
    const tl = (this.timeline = { connect: performance.now() });
    let session;
    const onOffer = () => (tl.offer = performance.now());
    try {
      // The first connection of a tile that starts with others shares theirs; a reconnect is its own.
      session =
        this.opts.bundler && !this.opts.audio && this.attempt === 0
          ? await this.opts.bundler.connect({ stream: this.opts.stream, onOffer })
          : await whepConnect({ url: `/whep/${this.opts.stream}`, authorization, audio: !!this.opts.audio, iceServers: this.opts.iceServers ?? [], onOffer });
      tl.answer = performance.now();
      this.signal();
    } catch (e) {
      if (gen !== this.gen) return;
      // 409: the camera is not streaming yet (it is (re)connecting): ask again, still over WebRTC.
      // Any other refusal (503 no capacity or no UDP port, 404 no WHEP on this server, a proxy
      // that blocks it, 401/403 whose reason the HLS error then shows too) is worth the fallback.
      if (e.status === 409) this.retry(e.message);
      else this.fallbackToHls(gen, e.message);
      return;
    }
    if (gen !== this.gen) {
      session.close();
      return;
    }
    this.session = session;
    const pc = session.pc;
    let disconnectedTimer = null;
    pc.addEventListener('connectionstatechange', () => {
      if (gen !== this.gen) return;
      const s = pc.connectionState;
      if (s === 'connected') tl.connected ??= performance.now();
      if (s === 'failed') {
        if (this.firstFrameAt && this.frames > 0) this.retry('WebRTC connection failed');
        else this.fallbackToHls(gen, 'ICE failed');
      } else if (s === 'disconnected') {
        disconnectedTimer ??= this.later(() => {
          if (gen === this.gen && pc.connectionState !== 'connected') this.retry('WebRTC disconnected');
        }, DISCONNECTED_GRACE_MS);
      } else if (s === 'connected' && disconnectedTimer) {
        clearTimeout(disconnectedTimer);
        this.timers.delete(disconnectedTimer);
        disconnectedTimer = null;
      }
    });
    this.video.srcObject = session.stream;
    this.play();
    this.later(() => {
      if (gen === this.gen && !this.playing) this.fallbackToHls(gen, 'no WebRTC video');
    }, WEBRTC_FIRST_FRAME_MS);
  }

  fallbackToHls(gen, reason) {
    if (gen !== this.gen || !this.active) return;
    this.lastError = reason;
    this.webrtcFailed = true;
    this.teardown();
    this.connect();
  }

  async connectHls(gen) {
    this.protocol = 'hls';
    this.emit();
    this.timeline = { connect: performance.now() };
    this.signal();
    const { authorization, token } = this.opts.credentials();
    const url = `/hls/${this.opts.stream}/index.m3u8`;
    let Hls;
    try {
      Hls = await loadHls();
    } catch (e) {
      if (gen === this.gen) this.retry(`cannot load hls.js: ${e.message}`);
      return;
    }
    if (gen !== this.gen) return;
    if (!Hls.isSupported()) {
      // Safari on an older iPhone: native HLS. It cannot send headers, so only ?token= works here.
      this.video.src = token ? `${url}?token=${encodeURIComponent(token)}` : url;
      this.play();
    } else {
      const hls = new Hls({
        // Low-latency live settings shared with bench:hls (which measures them glass-to-glass).
        ...HLS_LIVE_CONFIG,
        // The gateway sends fMP4 (nothing to transmux), so a worker per tile is only start-up cost.
        enableWorker: false,
        manifestLoadingMaxRetry: 2,
        levelLoadingMaxRetry: 2,
        xhrSetup: (xhr) => {
          if (authorization) xhr.setRequestHeader('Authorization', authorization);
        },
        fetchSetup: (context, init) => {
          if (authorization) init.headers = { ...(init.headers ?? {}), Authorization: authorization };
          return new Request(context.url, init);
        },
      });
      this.hls = hls;
      // hls.js starts up to one GOP behind PART-HOLD-BACK and would stay there: catch up.
      this.stopKeepLive = keepLive(hls, this.video);
      hls.on(Hls.Events.FRAG_LOADED, (_e, data) => {
        const stats = (data.part ?? data.frag)?.stats;
        if (stats) this.bytes += stats.loaded || stats.total || 0;
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (gen !== this.gen || !data.fatal) return;
        const code = data.response?.code ? ` ${data.response.code}` : '';
        this.retry(`LL-HLS ${data.details}${code}`);
      });
      hls.loadSource(url);
      hls.attachMedia(this.video);
      hls.on(Hls.Events.MANIFEST_PARSED, () => this.play());
    }
  }

  play() {
    const p = this.video.play();
    if (p) p.catch(() => undefined); // autoplay refusals: the element is muted, so this is rare.
  }

  decodedFrames() {
    const v = this.video;
    const q = typeof v.getVideoPlaybackQuality === 'function' ? v.getVideoPlaybackQuality() : null;
    return q ? q.totalVideoFrames : (v.webkitDecodedFrameCount ?? 0);
  }

  /** requestVideoFrameCallback: the exact moment each frame is presented (first frame timing). */
  onVideoFrame(now) {
    this.rvfcPending = false;
    if (!this.active) return;
    this.frameSeen(now);
    this.rvfcPending = true;
    this.video.requestVideoFrameCallback(this.onVideoFrame);
  }

  frameSeen(now) {
    if (!this.active || (!this.video.srcObject && !this.video.getAttribute('src') && !this.hls)) return;
    this.lastProgressAt = performance.now();
    this.timeline.frame ??= now;
    if (!this.firstFrameAt) {
      this.firstFrameAt = now;
      this.dispatchEvent(new Event('firstframe'));
    }
    if (!this.playing) {
      this.attempt = 0;
      this.lastError = null;
      this.setPlaying(true);
    }
  }

  async tick(gen) {
    if (gen !== this.gen) return;
    const now = performance.now();
    const frames = this.decodedFrames();
    if (frames > this.lastFrames) {
      this.frames += frames - this.lastFrames;
      this.frameSeen(now);
    }
    this.lastFrames = frames;
    if (this.protocol === 'webrtc' && this.session) {
      try {
        // A bundled session carries other tiles too: this tile's receiver only.
        const stats = await (this.session.receiver ?? this.session.pc).getStats();
        let bytes = 0;
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp') bytes += s.bytesReceived ?? 0;
        });
        this.bytes = bytes;
      } catch {
        // closed meanwhile
      }
      if (gen !== this.gen) return;
    }
    const dt = (now - this.lastTickAt) / 1000;
    if (dt > 0) {
      const rate = Math.max(0, ((this.bytes - this.lastBytes) * 8) / 1000 / dt);
      // Smoothed over a few seconds: LL-HLS parts arrive in bursts.
      this.kbps = this.kbps ? this.kbps * 0.6 + rate * 0.4 : rate;
    }
    this.lastBytes = this.bytes;
    this.lastTickAt = now;
    const limit = this.playing ? STALL_MS[this.protocol ?? 'hls'] : this.protocol === 'hls' ? HLS_FIRST_FRAME_MS : WEBRTC_FIRST_FRAME_MS + 2000;
    if (now - this.lastProgressAt > limit) this.retry(this.playing ? 'stalled' : 'no video');
    this.emit();
  }
}
