import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { redactText, redactUrl, splitCredentials } from '../../../src/config/credentials.ts';
import { formatConfigError, parseConfig, parseDuration, parseHostPort, parsePortRange, validateCamera } from '../../../src/config/load.ts';
import type { ParseConfigResult } from '../../../src/config/load.ts';

const EXAMPLE = readFileSync(path.resolve(import.meta.dirname, '../../fixtures/config/architecture-example.yaml'), 'utf8');

/** Every outcome is well-formed: positions inside the text, errors non-empty when not ok. */
function checkShape(r: ParseConfigResult, text: string): void {
  const lines = text.split(/\r\n|\r|\n/).length;
  const list = r.ok ? r.warnings : r.errors;
  if (!r.ok) expect(r.errors.length).toBeGreaterThan(0);
  expect(list.length).toBeLessThanOrEqual(201);
  for (const e of list) {
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.line).toBeLessThanOrEqual(lines + 1);
    expect(e.col).toBeGreaterThanOrEqual(1);
    expect(typeof formatConfigError(e)).toBe('string');
  }
}

const KEYS = ['server', 'http', 'rtsp', 'webrtc', 'udpPorts', 'additionalHosts', 'iceServers', 'urls', 'credential', 'hls', 'partDuration',
  'segmentDuration', 'segmentCount', 'alwaysRemux', 'users', 'name', 'password', 'passwordHash', 'token', 'role', 'cameras', 'lobby', 'url',
  'username', 'sub', 'transport', 'audio', 'onDemand', 'enabled', 'tags', 'x', '0', 'a b'];
const VALUES = ['', ':8080', '[::1]:1', '8555-8655', '200ms', '1s', 'auto', 'tcp', 'admin', 'viewer', 'builtin:demo', 'publisher',
  'rtsp://u:p@h/x', 'rtsp://a:S3cr%t@:554', 'stun:x', '*', 'yes'];

const yamlish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...VALUES),
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    tie('object'),
  ),
  object: fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string()), tie('value'), { maxKeys: 5 }),
}));

describe('parseConfig never throws', () => {
  it('on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
        checkShape(parseConfig(text, 'f.yaml'), text);
      }),
      { numRuns: 500 },
    );
  });

  it('on arbitrary YAML-ish objects', () => {
    fc.assert(
      fc.property(yamlish.object, (obj) => {
        const text = stringify(obj);
        checkShape(parseConfig(text, 'f.yaml'), text);
      }),
      { numRuns: 500 },
    );
  });

  it('on objects shaped like a config', () => {
    const camera = fc.dictionary(fc.constantFrom('name', 'url', 'username', 'password', 'sub', 'transport', 'audio', 'onDemand', 'enabled', 'tags', 'bogus'), yamlish.value, { maxKeys: 6 });
    const cfg = fc.record({
      server: fc.dictionary(fc.constantFrom('http', 'rtsp', 'webrtc'), yamlish.value, { maxKeys: 3 }),
      hls: fc.dictionary(fc.constantFrom('partDuration', 'segmentDuration', 'segmentCount', 'alwaysRemux'), yamlish.value, { maxKeys: 4 }),
      users: fc.array(fc.dictionary(fc.constantFrom('name', 'password', 'passwordHash', 'token', 'role', 'cameras'), yamlish.value, { maxKeys: 4 }), { maxLength: 3 }),
      cameras: fc.dictionary(fc.string({ maxLength: 8 }), camera, { maxKeys: 4 }),
    }, { requiredKeys: [] });
    fc.assert(
      fc.property(cfg, (obj) => {
        const text = stringify(obj);
        const r = parseConfig(text, 'f.yaml');
        checkShape(r, text);
        if (!r.ok) for (const e of r.errors) expect(formatConfigError(e)).not.toContain('S3cr%t');
      }),
      { numRuns: 500 },
    );
  });

  it('on mutations of the full example', () => {
    fc.assert(
      fc.property(fc.nat(EXAMPLE.length), fc.nat(20), fc.string({ maxLength: 5 }), (at, del, ins) => {
        const text = EXAMPLE.slice(0, at) + ins + EXAMPLE.slice(at + del);
        checkShape(parseConfig(text, 'f.yaml'), text);
      }),
      { numRuns: 500 },
    );
  });

  it('validateCamera on arbitrary bodies', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), yamlish.value, (id, body) => {
        const r = validateCamera(id, body);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('helpers on arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double(), fc.integer()), (v) => {
        parseDuration(v);
        parseHostPort(v);
        parsePortRange(v);
        if (typeof v === 'string') {
          splitCredentials(v);
          redactUrl(v);
          redactText(v);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('bounded output and work', () => {
  it('caps the error list on a file full of mistakes', () => {
    const text = 'cameras:\n' + Array.from({ length: 3000 }, (_, i) => `  c${i}:\n    bogus: 1\n`).join('');
    const r = parseConfig(text, 'big.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.length).toBe(201);
    expect(r.errors.some((e) => /too many errors/.test(e.message))).toBe(true);
  });

  it('survives an alias bomb without expanding it', () => {
    const text = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]',
      'cameras:',
      '  lobby:',
      '    url: rtsp://h/x',
      '    tags: *f',
    ].join('\n');
    const r = parseConfig(text, 'bomb.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    // a..f are unknown top-level keys; the tags items are lists, not strings: one error each, no expansion.
    expect(r.errors.filter((e) => e.path.startsWith('cameras.lobby.tags[')).length).toBe(10);
    expect(r.errors.length).toBeLessThanOrEqual(201);
  });
});

describe('credential properties (Q15)', () => {
  const pw = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 });

  it('a percent-encoded password of any characters round-trips', () => {
    fc.assert(
      fc.property(pw, (p) => {
        const r = splitCredentials(`rtsp://admin:${encodeURIComponent(p)}@10.0.0.1:554/x`);
        expect(r).toEqual({ url: 'rtsp://10.0.0.1:554/x', username: 'admin', password: p });
      }),
      { numRuns: 500 },
    );
  });

  it('a raw password without % or whitespace round-trips and is redacted', () => {
    const raw = fc.string({ unit: fc.constantFrom(...'ab1@#:/!^?&=*$'.split('')), minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(raw, (p) => {
        const url = `rtsp://admin:${p}@cam.local:554/Streaming/Channels/101`;
        expect(splitCredentials(url)).toEqual({ url: 'rtsp://cam.local:554/Streaming/Channels/101', username: 'admin', password: p });
        expect(redactUrl(url)).toBe('rtsp://admin:***@cam.local:554/Streaming/Channels/101');
        expect(redactText(`connect ${url} failed`)).toBe('connect rtsp://admin:***@cam.local:554/Streaming/Channels/101 failed');
      }),
      { numRuns: 500 },
    );
  });
});
