// Types of layout.js (plain JS so the browser runs it unbuilt), for the unit tests.
export declare const LAYOUTS: string[];
export declare const NARROW_PX: number;
export declare const PREFS_KEY: string;
export interface Grid {
  cols: number;
  rows: number;
  perPage: number;
  scroll: boolean;
  tileWidth?: number;
}
export interface Prefs {
  layout: string;
  tag: string;
  order: string[];
  page: number;
}
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}
export interface CameraLike {
  id: string;
  state: string;
  tags?: string[];
  sub?: { state: string };
}
export declare function gridFor(layout: string, count: number, width: number, height: number, gap?: number): Grid;
export declare function pageCount(count: number, perPage: number): number;
export declare function applyOrder(ids: string[], order: string[]): string[];
export declare function moveBefore(order: string[], moved: string, target: string): string[];
export declare function allTags(cameras: { tags?: string[] }[]): string[];
export declare function loadPrefs(storage: StorageLike | undefined): Prefs;
export declare function savePrefs(storage: StorageLike | undefined, prefs: Prefs): void;
export declare function tileStream(camera: { id: string; sub?: unknown }): string;
export declare function tileState(camera: { state: string } | undefined, player: { playing: boolean }, reachable: boolean): 'live' | 'connecting' | 'retrying' | 'offline';
export declare function shouldPlay(camera: { state: string } | undefined): boolean;
export declare function formatRate(kbps: number): string;
