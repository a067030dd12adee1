// Detects the external programs interop suites need. In CI a missing tool is an error, never a skip:
// a silently skipped interop suite would make a broken gateway look green.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type Tool = 'ffmpeg' | 'ffprobe' | 'gst-launch-1.0' | 'gst-rtsp-server' | 'chromium' | 'docker-compose' | 'openssl';

/** Debian's python: it has the `gi` GStreamer bindings (the pyenv python3 on PATH does not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

const cache = new Map<Tool, string | null>();

/** Absolute path of an executable on PATH, or null. */
export function whichSync(name: string): string | null {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function locate(tool: Tool): string | null {
  switch (tool) {
    case 'gst-rtsp-server': {
      if (!isExecutable(SYSTEM_PYTHON)) return null;
      const r = spawnSync(
        SYSTEM_PYTHON,
        ['-c', 'import gi; gi.require_version("GstRtspServer","1.0"); from gi.repository import GstRtspServer'],
        { stdio: 'ignore', timeout: 15_000 },
      );
      return r.status === 0 ? SYSTEM_PYTHON : null;
    }
    case 'chromium': {
      const fromEnv = process.env.CHROMIUM_PATH;
      if (fromEnv && isExecutable(fromEnv)) return fromEnv;
      for (const n of CHROMIUM_NAMES) {
        const p = whichSync(n);
        if (p) return p;
      }
      return null;
    }
    default:
      return whichSync(tool);
  }
}

/** Path of a tool (for chromium: whichever browser binary was found), or null when missing. */
export function toolPath(tool: Tool): string | null {
  if (!cache.has(tool)) cache.set(tool, locate(tool));
  return cache.get(tool) ?? null;
}

/**
 * For interop suites: true if all tools exist. When process.env.CI is set and a tool is missing,
 * THROWS (an interop test must never skip in CI).
 * Usage: `describe.skipIf(!haveTools('ffprobe', 'gst-rtsp-server'))('…', () => …)`
 */
export function haveTools(...tools: Tool[]): boolean {
  const missing = tools.filter((t) => toolPath(t) === null);
  if (missing.length === 0) return true;
  if (process.env.CI) {
    throw new Error(`interop tools missing in CI: ${missing.join(', ')} (install them; interop tests must not skip in CI)`);
  }
  return false;
}
