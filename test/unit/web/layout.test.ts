import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  gridFor, pageCount, applyOrder, moveBefore, allTags, loadPrefs, savePrefs, PREFS_KEY,
  tileStream, tileState, shouldPlay, formatRate,
} from '../../../src/web/public/layout.js';

class MemoryStorage {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
}

describe('gridFor', () => {
  it('fixed layouts are square grids with that many tiles per page', () => {
    expect(gridFor('1', 5, 1920, 1040)).toMatchObject({ cols: 1, rows: 1, perPage: 1, scroll: false });
    expect(gridFor('4', 5, 1920, 1040)).toMatchObject({ cols: 2, rows: 2, perPage: 4 });
    expect(gridFor('9', 5, 1920, 1040)).toMatchObject({ cols: 3, rows: 3, perPage: 9 });
    expect(gridFor('16', 5, 1920, 1040)).toMatchObject({ cols: 4, rows: 4, perPage: 16 });
    expect(gridFor('bogus', 5, 1920, 1040).perPage).toBe(4);
  });

  it('auto at 1080p puts 5 cameras in 3×2 and 16 in 4×4, all on one page', () => {
    expect(gridFor('auto', 5, 1912, 1030, 4)).toMatchObject({ cols: 3, rows: 2, perPage: 5, scroll: false });
    expect(gridFor('auto', 16, 1912, 1030, 4)).toMatchObject({ cols: 4, rows: 4, perPage: 16 });
    expect(gridFor('auto', 1, 1912, 1030, 4)).toMatchObject({ cols: 1, rows: 1 });
  });

  it('auto tiles always fit the space (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 640, max: 4000 }), fc.integer({ min: 200, max: 3000 }), fc.integer({ min: 0, max: 8 }), (n, w, h, gap) => {
        const g = gridFor('auto', n, w, h, gap);
        expect(g.cols * g.rows).toBeGreaterThanOrEqual(n);
        expect(g.cols * g.tileWidth! + (g.cols - 1) * gap).toBeLessThanOrEqual(w + 1);
        expect(g.rows * ((g.tileWidth! * 9) / 16) + (g.rows - 1) * gap).toBeLessThanOrEqual(h + 1);
      }),
    );
  });

  it('auto on a phone is one scrolling column (two in landscape)', () => {
    expect(gridFor('auto', 5, 390, 780)).toMatchObject({ cols: 1, rows: 5, scroll: true });
    expect(gridFor('auto', 5, 600, 360)).toMatchObject({ cols: 2, rows: 3, scroll: true });
  });

  it('pages', () => {
    expect(pageCount(5, 4)).toBe(2);
    expect(pageCount(0, 4)).toBe(1);
    expect(pageCount(16, 16)).toBe(1);
  });
});

describe('order', () => {
  it('applies a remembered order, new cameras last, vanished ones ignored', () => {
    expect(applyOrder(['a', 'b', 'c', 'd'], ['c', 'gone', 'a'])).toEqual(['c', 'a', 'b', 'd']);
    expect(applyOrder(['a', 'b'], [])).toEqual(['a', 'b']);
    expect(applyOrder(['a', 'b'], ['b', 'b', 'a'])).toEqual(['b', 'a']);
  });

  it('moveBefore moves a camera into the target place', () => {
    expect(moveBefore(['a', 'b', 'c', 'd'], 'd', 'b')).toEqual(['a', 'd', 'b', 'c']);
    expect(moveBefore(['a', 'b', 'c', 'd'], 'a', 'c')).toEqual(['b', 'c', 'a', 'd']);
    expect(moveBefore(['a', 'b'], 'a', 'zz')).toEqual(['a', 'b']);
  });

  it('moveBefore is a permutation (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), (ids, i, j) => {
        const moved = ids[i % ids.length]!;
        const target = ids[j % ids.length]!;
        const out = moveBefore(ids, moved, target);
        expect([...out].sort()).toEqual([...ids].sort());
        expect(out.indexOf(moved)).toBe(ids.indexOf(target));
      }),
    );
  });

  it('collects tags', () => {
    expect(allTags([{ tags: ['yard', 'floor1'] }, {}, { tags: ['floor1'] }])).toEqual(['floor1', 'yard']);
  });
});

describe('prefs', () => {
  it('round-trips and survives garbage', () => {
    const s = new MemoryStorage();
    expect(loadPrefs(s)).toEqual({ layout: 'auto', tag: '', order: [], page: 0 });
    savePrefs(s, { layout: '9', tag: 'yard', order: ['b', 'a'], page: 2 });
    expect(loadPrefs(s)).toEqual({ layout: '9', tag: 'yard', order: ['b', 'a'], page: 2 });
    s.setItem(PREFS_KEY, '{not json');
    expect(loadPrefs(s).layout).toBe('auto');
    s.setItem(PREFS_KEY, JSON.stringify({ layout: 7, tag: 3, order: [1, 'x'], page: -1 }));
    expect(loadPrefs(s)).toEqual({ layout: 'auto', tag: '', order: ['x'], page: 0 });
    expect(loadPrefs(undefined).layout).toBe('auto');
  });
});

describe('tiles', () => {
  it('plays the sub-stream when there is one', () => {
    expect(tileStream({ id: 'lobby' })).toBe('lobby');
    expect(tileStream({ id: 'lobby', sub: { state: 'streaming' } })).toBe('lobby/sub');
  });

  it('maps camera and player state to what the tile shows', () => {
    const playing = { playing: true };
    const waiting = { playing: false };
    expect(tileState({ state: 'streaming' }, playing, true)).toBe('live');
    expect(tileState({ state: 'streaming' }, waiting, true)).toBe('connecting');
    expect(tileState({ state: 'idle' }, waiting, true)).toBe('connecting');
    expect(tileState({ state: 'connecting' }, waiting, true)).toBe('connecting');
    expect(tileState({ state: 'retrying' }, playing, true)).toBe('retrying');
    expect(tileState({ state: 'disabled' }, waiting, true)).toBe('offline');
    expect(tileState({ state: 'streaming' }, playing, false)).toBe('offline');
    expect(tileState(undefined, playing, true)).toBe('offline');
    expect(shouldPlay({ state: 'streaming' })).toBe(true);
    expect(shouldPlay({ state: 'idle' })).toBe(true);
    expect(shouldPlay({ state: 'retrying' })).toBe(false);
    expect(shouldPlay({ state: 'disabled' })).toBe(false);
  });

  it('formats bitrates', () => {
    expect(formatRate(0)).toBe('');
    expect(formatRate(NaN)).toBe('');
    expect(formatRate(850.4)).toBe('850 kbit/s');
    expect(formatRate(4321)).toBe('4.3 Mbit/s');
  });
});
