// Pure helpers of the wall (no DOM): grid geometry, ordering, remembered preferences, tile state.
// Kept apart from wall.js so unit tests can run them under Node.

export const LAYOUTS = ['1', '4', '9', '16', 'auto'];

/** Below this viewport width (CSS px) the auto layout becomes a scrolling single column (phones). */
export const NARROW_PX = 640;

const TILE_ASPECT = 16 / 9;

/**
 * Grid for a layout. Fixed layouts (1, 4, 9, 16) are square grids filling the viewport, paged
 * when there are more cameras; `auto` shows every camera at once in the column count that gives
 * the largest 16:9 tiles, or one scrolling column (two in landscape) on a narrow screen.
 * @param {string} layout one of LAYOUTS
 * @param {number} count cameras to show
 * @param {number} width available width, CSS px
 * @param {number} height available height, CSS px
 * @param {number} [gap] space between tiles, CSS px
 * @returns {{cols: number, rows: number, perPage: number, scroll: boolean, tileWidth?: number}}
 *   tileWidth (auto only): the 16:9 tile width in CSS px that fills the space best
 */
export function gridFor(layout, count, width, height, gap = 0) {
  const n = Math.max(1, count);
  if (layout !== 'auto') {
    const per = LAYOUTS.includes(layout) ? Number(layout) : 4;
    const side = Math.round(Math.sqrt(per));
    return { cols: side, rows: side, perPage: per, scroll: false };
  }
  if (width < NARROW_PX) {
    const cols = width > height && n > 1 ? 2 : 1;
    return { cols, rows: Math.ceil(n / cols), perPage: n, scroll: true };
  }
  let best = { cols: 1, rows: n, size: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    // The largest 16:9 tile that fits one cell, measured by its width.
    const size = Math.min((width - (cols - 1) * gap) / cols, ((height - (rows - 1) * gap) / rows) * TILE_ASPECT);
    if (size > best.size + 0.5) best = { cols, rows, size };
  }
  return { cols: best.cols, rows: best.rows, perPage: n, scroll: false, tileWidth: Math.floor(best.size) };
}

/** Number of pages for `count` cameras. */
export function pageCount(count, perPage) {
  return Math.max(1, Math.ceil(count / Math.max(1, perPage)));
}

/**
 * Camera ids in the user's order: ids the user ordered first (in that order), then new cameras in
 * config order. Ids no longer present are ignored (but kept in the saved order, in case a camera
 * comes back or a filter hides it).
 * @param {string[]} ids current camera ids, config order
 * @param {string[]} order remembered order
 */
export function applyOrder(ids, order) {
  const present = new Set(ids);
  const seen = new Set();
  const out = [];
  for (const id of order) {
    if (present.has(id) && !seen.has(id)) {
      out.push(id);
      seen.add(id);
    }
  }
  for (const id of ids) if (!seen.has(id)) out.push(id);
  return out;
}

/**
 * New remembered order after dragging `moved` onto `target`: `moved` takes `target`'s place, and
 * the cameras in between shift by one (like reordering a list).
 * @param {string[]} order full current order (applyOrder's result plus any remembered extras)
 */
export function moveBefore(order, moved, target) {
  if (moved === target) return order.slice();
  const from = order.indexOf(moved);
  const to = order.indexOf(target);
  if (from < 0 || to < 0) return order.slice();
  const out = order.slice();
  out.splice(from, 1);
  out.splice(to, 0, moved);
  return out;
}

/** Every tag of these cameras, sorted. */
export function allTags(cameras) {
  const tags = new Set();
  for (const c of cameras) for (const t of c.tags ?? []) tags.add(String(t));
  return [...tags].sort((a, b) => a.localeCompare(b));
}

export const PREFS_KEY = 'camgate.wall.v1';

const DEFAULT_PREFS = { layout: 'auto', tag: '', order: [], page: 0 };

/** Remembered layout, tag filter, order and page; defaults for anything missing or malformed. */
export function loadPrefs(storage) {
  try {
    const raw = JSON.parse(storage?.getItem(PREFS_KEY) ?? 'null');
    if (!raw || typeof raw !== 'object') return { ...DEFAULT_PREFS };
    return {
      layout: LAYOUTS.includes(String(raw.layout)) ? String(raw.layout) : DEFAULT_PREFS.layout,
      tag: typeof raw.tag === 'string' ? raw.tag : '',
      order: Array.isArray(raw.order) ? raw.order.filter((x) => typeof x === 'string').slice(0, 1000) : [],
      page: Number.isInteger(raw.page) && raw.page >= 0 ? raw.page : 0,
    };
  } catch {
    return { ...DEFAULT_PREFS };
  }
}

export function savePrefs(storage, prefs) {
  try {
    storage?.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    // Storage full or disabled (private mode): the wall still works, it just forgets.
  }
}

/** The stream a tile plays: the sub-stream when the camera has one (smaller, made for walls). */
export function tileStream(camera) {
  return camera.sub ? `${camera.id}/sub` : camera.id;
}

/**
 * What a tile shows, from the camera's status and its player.
 * @param {{state: string} | undefined} camera status of the stream the tile plays (null: unknown)
 * @param {{playing: boolean}} player
 * @param {boolean} reachable whether the gateway answered the last status poll
 * @returns {'live' | 'connecting' | 'retrying' | 'offline'}
 */
export function tileState(camera, player, reachable) {
  if (!reachable || !camera) return 'offline';
  switch (camera.state) {
    case 'disabled':
      return 'offline';
    case 'retrying':
      return 'retrying';
    case 'connecting':
      return 'connecting';
    default:
      // 'streaming', or 'idle' for an on-demand camera our player is about to wake up.
      return player.playing ? 'live' : 'connecting';
  }
}

/** Whether a tile should hold a player for a camera in this state. */
export function shouldPlay(camera) {
  return !!camera && (camera.state === 'streaming' || camera.state === 'idle');
}

/** `1234` → `1.2 Mbit/s`; `850` → `850 kbit/s`. */
export function formatRate(kbps) {
  if (!Number.isFinite(kbps) || kbps <= 0) return '';
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(kbps)} kbit/s`;
}
