// The camera wall: sign-in, camera list polling, grid layouts, tiles, drag to reorder, fullscreen.
import { Player } from './player.js';
import { WhepBundler } from './whep-bundle.js';
import {
  LAYOUTS, gridFor, pageCount, applyOrder, moveBefore, allTags, loadPrefs, savePrefs,
  tileStream, tileState, shouldPlay, formatRate,
} from './layout.js';

const POLL_MS = 2000;
/** A snapshot older than this is fetched again before a tile reconnects. */
const POSTER_MAX_AGE_MS = 15000;
/**
 * The snapshot is fetched only if the first frame has not come this soon, and not before the
 * tile's WHEP POST is answered (it would take one of Chromium's 6 HTTP/1.1 connections from a POST).
 * Each snapshot of a new keyframe is an ffmpeg run on the gateway: asked for 250 ms after start,
 * 16 of them made a 16-tile wall's slowest tiles ~0.5 s later (bench:wall p95 2.0-2.5 s, against
 * 1.6-1.8 s at 1 s), so the poster is for the tiles that are slow to show video.
 */
const POSTER_DELAY_MS = 1000;
const DRAG_THRESHOLD_PX = 8;
const AUTH_KEY = 'camgate.wall.auth';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- sign-in

/** The credentials every request carries: `?token=` (Bearer) or the sign-in form's Basic header. */
const auth = { authorization: null, token: null, user: null, open: true, iceServers: [] };

function credentials() {
  return { authorization: auth.authorization, token: auth.token };
}

/** Tiles that start together share one WebRTC connection (see whep-bundle.js). */
const bundler = new WhepBundler({ credentials, iceServers: () => auth.iceServers });

function authHeaders() {
  return auth.authorization ? { Authorization: auth.authorization } : {};
}

function basic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/** GET /wall/session with the current credentials: {open, user, iceServers}, or throws with .status. */
async function fetchSession() {
  const res = await fetch('/wall/session', { headers: authHeaders(), cache: 'no-store' });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    const e = new Error(body.message ?? `HTTP ${res.status}`);
    e.status = res.status;
    throw e;
  }
  return res.json();
}

function showSignIn(message = '') {
  wall.stopAll();
  $('signin-error').textContent = message;
  const d = $('signin');
  if (!d.open) d.showModal();
  $('signin-user').focus();
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const user = $('signin-user').value.trim();
  const password = $('signin-password').value;
  auth.authorization = basic(user, password);
  auth.token = null;
  $('signin-submit').disabled = true;
  try {
    const s = await fetchSession();
    if (!s.open && !s.user) throw Object.assign(new Error('sign-in required'), { status: 401 });
    sessionStorage.setItem(AUTH_KEY, auth.authorization);
    $('signin-password').value = '';
    $('signin').close();
    signedIn(s);
  } catch (err) {
    auth.authorization = null;
    $('signin-error').textContent = err.status === 429 ? 'Too many attempts: wait a minute.' : err.status === 401 ? 'Wrong user or password.' : `Cannot sign in: ${err.message}`;
  } finally {
    $('signin-submit').disabled = false;
  }
});

// The dialog must not be dismissed with Esc: there is nothing to show behind it.
$('signin').addEventListener('cancel', (e) => e.preventDefault());

$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(AUTH_KEY);
  const url = new URL(location.href);
  url.searchParams.delete('token');
  location.replace(url.href);
});

function signedIn(s) {
  auth.open = s.open;
  auth.user = s.user;
  auth.iceServers = Array.isArray(s.iceServers) ? s.iceServers : [];
  $('who').hidden = s.open || !s.user;
  $('who-name').textContent = s.user ? s.user.name : '';
  wall.startPolling();
}

async function boot() {
  const token = new URLSearchParams(location.search).get('token');
  if (token) {
    auth.token = token;
    auth.authorization = `Bearer ${token}`;
  } else {
    auth.authorization = sessionStorage.getItem(AUTH_KEY);
  }
  for (;;) {
    try {
      const s = await fetchSession();
      if (!s.open && !s.user) return showSignIn();
      return signedIn(s);
    } catch (e) {
      if (e.status === 401) {
        sessionStorage.removeItem(AUTH_KEY);
        auth.authorization = null;
        return showSignIn(token ? 'The token in the address is not valid.' : 'Please sign in again.');
      }
      $('summary').textContent = `cannot reach camgate (${e.message}); retrying…`;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}

// ---------------------------------------------------------------- tiles

const template = /** @type {HTMLTemplateElement} */ ($('tile-template'));

class Tile {
  constructor(camera) {
    this.id = camera.id;
    this.camera = camera;
    this.stream = tileStream(camera);
    this.el = /** @type {HTMLElement} */ (template.content.firstElementChild.cloneNode(true));
    this.el.dataset.camera = camera.id;
    this.el.dataset.stream = this.stream;
    this.video = this.el.querySelector('video');
    this.player = new Player(this.video, { stream: this.stream, credentials, iceServers: auth.iceServers, bundler });
    this.player.addEventListener('change', () => this.render());
    this.player.addEventListener('firstframe', () => this.posterAbort?.abort());
    this.posterAt = 0;
    this.posterUrl = null;
    this.reachable = true;
  }

  /** New status from the poll (or the gateway is unreachable). */
  update(camera, reachable) {
    if (camera) this.camera = camera;
    this.reachable = reachable;
    const st = this.status();
    if (reachable && shouldPlay(st)) {
      if (!this.player.active) {
        this.player.start();
        clearTimeout(this.posterTimer);
        this.posterTimer = setTimeout(() => {
          const wanted = () => this.player.active && !this.player.playing;
          if (!wanted()) return;
          if (this.player.signaled) this.refreshPoster();
          else this.player.addEventListener('signaled', () => wanted() && this.refreshPoster(), { once: true });
        }, POSTER_DELAY_MS);
      }
    } else {
      if (this.player.active) this.player.stop();
      // A camera that is down shows its last picture (the gateway's last keyframe), if there is one;
      // refreshPoster() asks at most every POSTER_MAX_AGE_MS.
      if (reachable) this.refreshPoster();
    }
    this.render();
  }

  /** Status of the stream this tile plays (the sub-stream's own state when it plays `sub`). */
  status() {
    return this.stream.endsWith('/sub') ? (this.camera.sub ?? this.camera) : this.camera;
  }

  /** The latest snapshot as the poster, shown until the first frame (and while offline). */
  refreshPoster() {
    if (performance.now() - this.posterAt < POSTER_MAX_AGE_MS && this.posterAt) return;
    this.posterAt = performance.now();
    this.posterAbort?.abort();
    const ac = new AbortController();
    this.posterAbort = ac;
    // The snapshot of the stream the tile plays: the sub-stream's is smaller and cheaper to decode.
    const sub = this.stream.endsWith('/sub') ? '/sub' : '';
    fetch(`/api/cameras/${encodeURIComponent(this.id)}${sub}/snapshot.jpg`, { headers: authHeaders(), signal: ac.signal, priority: 'low' })
      .then((r) => (r.ok && (r.headers.get('Content-Type') ?? '').startsWith('image/') ? r.blob() : null))
      .then((blob) => {
        if (!blob || ac.signal.aborted) return;
        if (this.posterUrl) URL.revokeObjectURL(this.posterUrl);
        this.posterUrl = URL.createObjectURL(blob);
        this.video.poster = this.posterUrl;
      })
      .catch(() => undefined); // no snapshot (camera down, snapshots off): the tile stays dark
  }

  render() {
    const c = this.camera;
    const st = this.status();
    const state = tileState(st, this.player, this.reachable);
    const el = this.el;
    el.dataset.state = state;
    el.dataset.protocol = this.player.protocol ?? '';
    el.dataset.frames = String(this.player.frames);
    if (this.player.firstFrameAt && !el.dataset.ttff) {
      el.dataset.ttff = String(Math.round(this.player.firstFrameAt));
      el.dataset.ttffPlayer = String(Math.round(this.player.firstFrameAt - this.player.startedAt));
    }
    el.querySelector('.name').textContent = c.name ?? c.id;
    el.querySelector('.state').textContent = state;
    el.querySelector('.proto').textContent = this.player.protocol === 'webrtc' ? 'WebRTC' : this.player.protocol === 'hls' ? 'LL-HLS' : '';
    el.querySelector('.rate').textContent = formatRate(this.player.kbps);
    let err = '';
    if (state === 'retrying') err = st.lastError ?? 'connection lost';
    else if (state === 'offline') err = !this.reachable ? 'gateway unreachable' : st?.state === 'disabled' ? 'disabled' : '';
    else if (state === 'connecting' && this.player.lastError) err = this.player.lastError; // why the player is still trying
    const errEl = el.querySelector('.error');
    errEl.textContent = err;
    errEl.title = err;
    el.title = `${c.name ?? c.id} (${this.stream})`;
    wall?.renderSummary();
  }

  destroy() {
    clearTimeout(this.posterTimer);
    this.player.stop();
    this.posterAbort?.abort();
    if (this.posterUrl) URL.revokeObjectURL(this.posterUrl);
    this.el.remove();
  }
}

// ---------------------------------------------------------------- the wall

class Wall {
  constructor() {
    this.prefs = loadPrefs(localStorage);
    this.cameras = [];
    this.reachable = true;
    /** @type {Map<string, Tile>} tiles on the current page */
    this.tiles = new Map();
    this.pollTimer = null;
    this.polling = false;
    this.pollRun = 0;
    this.main = $('wall');
    this.bindToolbar();
    this.bindDrag();
    addEventListener('resize', () => this.layout());
    // Leaving closes every connection (WHEP DELETE); coming back from the back/forward cache reopens them.
    addEventListener('pagehide', () => this.stopAll());
    addEventListener('pageshow', (e) => {
      if (e.persisted && (auth.open || auth.user)) this.startPolling();
    });
  }

  save() {
    savePrefs(localStorage, this.prefs);
  }

  startPolling() {
    if (this.polling) return;
    const run = ++this.pollRun;
    this.polling = true;
    const poll = async () => {
      await this.poll();
      // stopAll() (sign-in needed, page hidden) may have run meanwhile: then stop here.
      if (this.polling && run === this.pollRun) this.pollTimer = setTimeout(poll, POLL_MS);
    };
    this.pollTimer = setTimeout(poll, 0);
  }

  stopAll() {
    this.polling = false;
    this.pollRun++;
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
    for (const t of this.tiles.values()) t.destroy();
    this.tiles.clear();
    full.close();
  }

  async poll() {
    try {
      // The wall's own list: filtered to what this user may view, without admin-only fields.
      const res = await fetch('/wall/cameras', { headers: authHeaders(), cache: 'no-store' });
      if (res.status === 401) {
        sessionStorage.removeItem(AUTH_KEY);
        auth.authorization = auth.token ? auth.authorization : null;
        showSignIn('Please sign in again.');
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const list = await res.json();
      this.cameras = Array.isArray(list) ? list : [];
      this.reachable = true;
    } catch (e) {
      this.reachable = false;
      this.unreachableReason = e.message;
    }
    this.render();
  }

  /** Cameras after the tag filter, in the user's order. */
  visible() {
    const byId = new Map(this.cameras.map((c) => [c.id, c]));
    const ids = applyOrder(this.cameras.map((c) => c.id), this.prefs.order);
    const tag = this.prefs.tag;
    return ids.map((id) => byId.get(id)).filter((c) => !tag || (c.tags ?? []).includes(tag));
  }

  render() {
    this.renderTags();
    const cams = this.visible();
    const { perPage } = this.geometry(cams.length);
    const pages = pageCount(cams.length, perPage);
    if (this.prefs.page >= pages) this.prefs.page = pages - 1;
    const onPage = cams.slice(this.prefs.page * perPage, (this.prefs.page + 1) * perPage);

    const keep = new Set(onPage.map((c) => c.id));
    for (const [id, t] of this.tiles) {
      // A camera whose sub-stream was added or removed needs a new player for the other stream.
      const cam = onPage.find((c) => c.id === id);
      if (!keep.has(id) || (cam && tileStream(cam) !== t.stream)) {
        t.destroy();
        this.tiles.delete(id);
      }
    }
    onPage.forEach((cam, i) => {
      let t = this.tiles.get(cam.id);
      if (!t) {
        t = new Tile(cam);
        this.tiles.set(cam.id, t);
      }
      // appendChild of a node already in the document moves it in one step: the video keeps playing.
      if (this.main.children[i] !== t.el) this.main.insertBefore(t.el, this.main.children[i] ?? null);
      t.update(cam, this.reachable);
    });

    this.visibleCount = cams.length;
    this.renderSummary();
    const empty = $('empty');
    empty.hidden = cams.length > 0 || !this.reachable;
    empty.textContent = this.cameras.length === 0 ? 'No cameras to show.' : `No camera is tagged “${this.prefs.tag}”.`;
    $('pager').hidden = pages <= 1;
    $('page-no').textContent = `${this.prefs.page + 1} / ${pages}`;
    for (const b of $('layouts').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.layout === this.prefs.layout));
    this.layout();
    full.update(this.cameras, this.reachable);
  }

  /** "5 cameras · 4 live": redrawn whenever a tile changes state. */
  renderSummary() {
    const n = this.visibleCount ?? 0;
    const live = [...this.tiles.values()].filter((t) => t.el.dataset.state === 'live').length;
    $('summary').textContent = this.reachable
      ? `${n} camera${n === 1 ? '' : 's'}${this.prefs.tag ? ` tagged ${this.prefs.tag}` : ''} · ${live} live`
      : `camgate unreachable (${this.unreachableReason}); retrying…`;
  }

  renderTags() {
    const sel = /** @type {HTMLSelectElement} */ ($('tag'));
    const tags = allTags(this.cameras);
    if (this.prefs.tag && !tags.includes(this.prefs.tag)) tags.unshift(this.prefs.tag);
    const want = ['', ...tags].join('\n');
    if (sel.dataset.tags !== want) {
      sel.dataset.tags = want;
      sel.replaceChildren(new Option('all', ''), ...tags.map((t) => new Option(t, t)));
    }
    sel.value = this.prefs.tag;
    $('tag-filter').hidden = tags.length === 0;
  }

  geometry(count) {
    const r = this.main.getBoundingClientRect();
    const cs = getComputedStyle(this.main);
    const pad = parseFloat(cs.paddingLeft) || 0;
    const gap = parseFloat(cs.columnGap) || 0;
    const width = (r.width || window.innerWidth) - 2 * pad;
    const height = window.innerHeight - r.top - 2 * pad;
    return gridFor(this.prefs.layout, count, width, height, gap);
  }

  /** Sizes the grid to the viewport (CSS grid does the rest). */
  layout() {
    const g = this.geometry(this.visible().length);
    const m = this.main;
    m.style.setProperty('--cols', String(g.cols));
    m.style.setProperty('--rows', String(g.rows));
    // auto: exact 16:9 cells, centred, so no tile is letterboxed inside a tall or wide cell.
    if (g.tileWidth) {
      const w = Math.max(1, g.tileWidth);
      m.style.setProperty('--tile-w', `${w}px`);
      m.style.setProperty('--tile-h', `${Math.floor((w * 9) / 16)}px`);
    } else {
      m.style.removeProperty('--tile-w');
      m.style.removeProperty('--tile-h');
    }
    m.classList.toggle('fit', !!g.tileWidth);
    m.classList.toggle('scroll', g.scroll);
    m.dataset.layout = this.prefs.layout;
  }

  setPage(p) {
    const cams = this.visible();
    const pages = pageCount(cams.length, this.geometry(cams.length).perPage);
    this.prefs.page = ((p % pages) + pages) % pages;
    this.save();
    this.render();
  }

  bindToolbar() {
    $('layouts').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-layout]');
      if (!b || !LAYOUTS.includes(b.dataset.layout)) return;
      this.prefs.layout = b.dataset.layout;
      this.prefs.page = 0;
      this.save();
      this.render();
    });
    $('tag').addEventListener('change', (e) => {
      this.prefs.tag = e.target.value;
      this.prefs.page = 0;
      this.save();
      this.render();
    });
    $('prev').addEventListener('click', () => this.setPage(this.prefs.page - 1));
    $('next').addEventListener('click', () => this.setPage(this.prefs.page + 1));
    addEventListener('keydown', (e) => {
      if (!full.camera && !$('signin').open) {
        if (e.key === 'ArrowLeft' || e.key === 'PageUp') this.setPage(this.prefs.page - 1);
        if (e.key === 'ArrowRight' || e.key === 'PageDown') this.setPage(this.prefs.page + 1);
      }
    });
  }

  /**
   * Drag to reorder with pointer events (mouse anywhere on a tile, touch on its caption so a finger
   * can still scroll the page); a press that doesn't move is a click and opens the camera.
   */
  bindDrag() {
    let drag = null;
    const tileAt = (x, y) => {
      for (const t of this.tiles.values()) {
        if (t.el === drag?.el) continue;
        const r = t.el.getBoundingClientRect();
        if (x >= r.left && x < r.right && y >= r.top && y < r.bottom) return t;
      }
      return null;
    };
    this.main.addEventListener('pointerdown', (e) => {
      const el = e.target.closest('.tile');
      if (!el || e.button !== 0) return;
      const canDrag = e.pointerType === 'mouse' || !!e.target.closest('figcaption');
      drag = { el, id: el.dataset.camera, x: e.clientX, y: e.clientY, pointerId: e.pointerId, canDrag, moving: false, target: null };
    });
    this.main.addEventListener('pointermove', (e) => {
      if (!drag || e.pointerId !== drag.pointerId) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (!drag.moving) {
        if (Math.hypot(dx, dy) < DRAG_THRESHOLD_PX) return;
        if (!drag.canDrag) {
          drag = null; // a finger moving over the video scrolls the page
          return;
        }
        drag.moving = true;
        drag.el.setPointerCapture(e.pointerId);
        drag.el.classList.add('dragging');
      }
      drag.el.style.transform = `translate(${dx}px, ${dy}px)`;
      const over = tileAt(e.clientX, e.clientY);
      if (drag.target !== over) {
        drag.target?.el.classList.remove('drop-target');
        over?.el.classList.add('drop-target');
        drag.target = over;
      }
    });
    const end = (e, commit) => {
      if (!drag || e.pointerId !== drag.pointerId) return;
      const d = drag;
      drag = null;
      if (!d.moving) {
        if (commit) full.open(this.cameras.find((c) => c.id === d.id));
        return;
      }
      d.el.classList.remove('dragging');
      d.el.style.transform = '';
      d.target?.el.classList.remove('drop-target');
      if (commit && d.target) {
        const ids = applyOrder(this.cameras.map((c) => c.id), this.prefs.order);
        // Keep remembered ids of cameras that are gone for now, after the present ones.
        const extra = this.prefs.order.filter((id) => !ids.includes(id));
        this.prefs.order = [...moveBefore(ids, d.id, d.target.id), ...extra];
        this.save();
        this.render();
      }
    };
    this.main.addEventListener('pointerup', (e) => end(e, true));
    this.main.addEventListener('pointercancel', (e) => end(e, false));
    // A double-click lands on the full view the first click opened: its handler ignores it.
  }
}

// ---------------------------------------------------------------- fullscreen

/** One camera's main stream over the whole screen, with audio; Esc goes back to the wall. */
class FullView {
  constructor() {
    this.el = $('full');
    this.video = /** @type {HTMLVideoElement} */ ($('full-video'));
    this.camera = null;
    this.player = null;
    $('full-close').addEventListener('click', () => this.close());
    $('full-audio').addEventListener('click', () => this.toggleAudio());
    addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.camera) this.close();
      if ((e.key === 'm' || e.key === 'M') && this.camera) this.toggleAudio();
    });
    // Esc in browser fullscreen leaves fullscreen without a keydown: treat it as "back".
    document.addEventListener('fullscreenchange', () => {
      if (!document.fullscreenElement && this.camera) this.close();
    });
  }

  open(camera) {
    if (!camera) return;
    this.close();
    this.camera = camera;
    this.el.hidden = false;
    this.el.dataset.camera = camera.id;
    this.video.muted = true;
    $('full-audio').setAttribute('aria-pressed', 'false');
    $('full-audio').textContent = 'audio off';
    $('full-audio').disabled = !(camera.tracks ?? []).some((t) => t.kind === 'audio');
    // The main stream, with audio: this is where an operator looks closely and listens.
    this.startPlayer(true);
    // Needs the click's user activation; refused (iframe, phone) = the overlay still fills the window.
    this.el.requestFullscreen?.({ navigationUI: 'hide' }).catch(() => undefined);
    this.render();
  }

  startPlayer(webrtc) {
    this.player?.stop();
    this.player = new Player(this.video, { stream: this.camera.id, credentials, audio: true, iceServers: auth.iceServers, webrtc });
    this.player.addEventListener('change', () => this.render());
    this.player.start();
  }

  /** The camera has audio but the WebRTC session carries none (AAC is not a WebRTC codec). */
  webrtcWithoutAudio() {
    const s = this.player?.session;
    return this.player?.protocol === 'webrtc' && !!s && this.player.playing && s.stream.getAudioTracks().length === 0;
  }

  close() {
    if (!this.camera) return;
    this.camera = null;
    this.player?.stop();
    this.player = null;
    this.el.hidden = true;
    delete this.el.dataset.camera;
    if (document.fullscreenElement) document.exitFullscreen().catch(() => undefined);
  }

  toggleAudio() {
    if (!this.camera || $('full-audio').disabled) return;
    this.video.muted = !this.video.muted;
    // Sound wanted but WebRTC has none for this camera: LL-HLS carries its AAC (a second or two
    // more latency, which is the price of listening; the grid tiles stay on WebRTC).
    if (!this.video.muted && this.webrtcWithoutAudio()) this.startPlayer(false);
    if (!this.video.muted) this.video.play().catch(() => undefined);
    $('full-audio').setAttribute('aria-pressed', String(!this.video.muted));
    $('full-audio').textContent = this.video.muted ? 'audio off' : 'audio on';
  }

  update(cameras, reachable) {
    if (!this.camera) return;
    const c = cameras.find((x) => x.id === this.camera.id);
    if (!c) return this.close(); // removed, or no longer visible to this user
    this.camera = c;
    this.reachable = reachable;
    if (reachable && shouldPlay(c)) this.player.start();
    else this.player.stop();
    this.render();
  }

  render() {
    if (!this.camera || !this.player) return;
    const state = tileState(this.camera, this.player, this.reachable ?? true);
    this.el.dataset.state = state;
    this.el.dataset.protocol = this.player.protocol ?? '';
    this.el.dataset.frames = String(this.player.frames);
    $('full-name').textContent = this.camera.name ?? this.camera.id;
    $('full-state').textContent = state === 'retrying' && this.camera.lastError ? `retrying: ${this.camera.lastError}` : state;
    $('full-proto').textContent = this.player.protocol === 'webrtc' ? 'WebRTC' : this.player.protocol === 'hls' ? 'LL-HLS' : '';
    const camAudio = (this.camera.tracks ?? []).some((t) => t.kind === 'audio');
    const btn = $('full-audio');
    btn.disabled = !camAudio;
    btn.title = !camAudio ? 'This camera has no audio' : this.webrtcWithoutAudio() ? 'Sound on switches to LL-HLS: WebRTC carries no AAC (set audio: transcode for WebRTC sound)' : 'Sound on/off (M)';
    $('full-rate').textContent = formatRate(this.player.kbps);
  }
}

const full = new FullView();
const wall = new Wall();
// For tests and curious operators: the wall's state, read-only by convention.
window.camgateWall = { wall, full, bundler, auth: { get user() { return auth.user; } } };
void boot();
