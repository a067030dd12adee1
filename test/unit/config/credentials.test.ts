import { describe, expect, it } from 'vitest';
import { percentDecodeLenient, redactCamera, redactText, redactUrl, splitCredentials } from '../../../src/config/credentials.ts';
import type { CameraConfig } from '../../../src/config/types.ts';

describe('splitCredentials (QUIRKS Q15)', () => {
  // [url, fields username, fields password, expected url, username, password]
  const cases: [string, string | undefined, string | undefined, string, string | undefined, string | undefined][] = [
    // Percent-encoded specials decode exactly once.
    ['rtsp://user:p%40ss%23w%25rd%3A%21@10.0.0.1/x', undefined, undefined, 'rtsp://10.0.0.1/x', 'user', 'p@ss#w%rd:!'],
    // Raw '@' in the password: split at the last '@' before the host.
    ['rtsp://admin:p@ss#word!@10.0.0.1:554/x', undefined, undefined, 'rtsp://10.0.0.1:554/x', 'admin', 'p@ss#word!'],
    // Raw '/', '?', '^' and ':' in the password (QUIRKS Q15 simulate string).
    ['rtsp://admin:p@ss#w%rd:/!^@cam.local/Streaming/Channels/101', undefined, undefined, 'rtsp://cam.local/Streaming/Channels/101', 'admin', 'p@ss#w%rd:/!^'],
    ['rtsp://admin:a?b/c@10.0.0.1/live?channel=1', undefined, undefined, 'rtsp://10.0.0.1/live?channel=1', 'admin', 'a?b/c'],
    // Lone '%' not followed by two hex digits is kept (gortsplib: cameras with percent sign in password).
    ['rtsp://admin:50%off@10.0.0.1/x', undefined, undefined, 'rtsp://10.0.0.1/x', 'admin', '50%off'],
    ['rtsp://admin:100%@10.0.0.1/x', undefined, undefined, 'rtsp://10.0.0.1/x', 'admin', '100%'],
    ['rtsp://admin:%zz%4@h/x', undefined, undefined, 'rtsp://h/x', 'admin', '%zz%4'],
    // Decoded once only: %2540 is "%40", not "@".
    ['rtsp://admin:%2540@h/x', undefined, undefined, 'rtsp://h/x', 'admin', '%40'],
    // UTF-8 both raw and encoded.
    ['rtsp://admin:pässw%C3%B6rd@h/x', undefined, undefined, 'rtsp://h/x', 'admin', 'pässwörd'],
    // Empty password is real configuration.
    ['rtsp://admin:@10.0.0.1/x', undefined, undefined, 'rtsp://10.0.0.1/x', 'admin', ''],
    // User only.
    ['rtsp://admin@10.0.0.1/x', undefined, undefined, 'rtsp://10.0.0.1/x', 'admin', undefined],
    // '@' and '/' in the user name (webrtc-streamer#601), percent-encoded.
    ['rtsp://dom%2Fuser%40corp:pw@h/x', undefined, undefined, 'rtsp://h/x', 'dom/user@corp', 'pw'],
    // IPv6 host.
    ['rtsp://u:p@[fe80::1]:554/x', undefined, undefined, 'rtsp://[fe80::1]:554/x', 'u', 'p'],
    // No userinfo.
    ['rtsp://10.0.0.1:554/x', undefined, undefined, 'rtsp://10.0.0.1:554/x', undefined, undefined],
    ['rtsps://cam/x@y', undefined, undefined, 'rtsp://cam/x@y'.replace('rtsp:', 'rtsps:').replace('cam/x@y', 'y'), 'cam/x', undefined],
    // Fields override the URL, each on its own.
    ['rtsp://admin:old@h/x', 'root', 'new:p@ss', 'rtsp://h/x', 'root', 'new:p@ss'],
    ['rtsp://admin:old@h/x', undefined, 'new', 'rtsp://h/x', 'admin', 'new'],
    ['rtsp://admin:old@h/x', 'root', undefined, 'rtsp://h/x', 'root', 'old'],
    ['rtsp://h/x', 'u', '', 'rtsp://h/x', 'u', ''],
    // Non-URL sources pass through.
    ['builtin:demo', undefined, undefined, 'builtin:demo', undefined, undefined],
    ['publisher', 'a', 'b', 'publisher', 'a', 'b'],
  ];

  it.each(cases)('%s (fields %j/%j)', (url, u, p, outUrl, outUser, outPass) => {
    const r = splitCredentials(url, u, p);
    expect(r).toEqual({ url: outUrl, ...(outUser !== undefined ? { username: outUser } : {}), ...(outPass !== undefined ? { password: outPass } : {}) });
    expect(r.url).not.toMatch(/@.*@/);
  });

  it('documents the ambiguity: an @ in the path of a URL without userinfo is read as userinfo', () => {
    // A password may contain '/', so "cam/x@y" cannot be told apart from "user/x@host"; Q15 prefers passwords.
    expect(splitCredentials('rtsps://cam/x@y').url).toBe('rtsps://y');
  });

  it('never throws on odd input', () => {
    for (const s of ['', '://', 'rtsp://', 'rtsp://@', 'rtsp://@@@', 'rtsp://:@', '%', 'rtsp://a:%@', '\u0000']) {
      expect(() => splitCredentials(s)).not.toThrow();
    }
    expect(splitCredentials('rtsp://@@@')).toEqual({ url: 'rtsp://', username: '@@' });
    expect(splitCredentials(undefined as unknown as string)).toEqual({ url: '' });
  });

  it('percentDecodeLenient', () => {
    expect(percentDecodeLenient('a%20b')).toBe('a b');
    expect(percentDecodeLenient('%')).toBe('%');
    expect(percentDecodeLenient('%4')).toBe('%4');
    expect(percentDecodeLenient('%%41')).toBe('%A');
    expect(percentDecodeLenient('😀%F0%9F%98%80')).toBe('😀😀');
  });
});

describe('redaction', () => {
  const passwords = ['hunter2', 'p@ss#w%rd:/!^', 'S3cr%t', 'a?b/c', '50%off', 'x y'];

  it.each(passwords)('redactUrl hides %j', (pw) => {
    const url = `rtsp://admin:${pw}@10.0.0.1:554/Streaming/Channels/101`;
    const r = redactUrl(url);
    expect(r).toBe('rtsp://admin:***@10.0.0.1:554/Streaming/Channels/101');
    expect(redactText(`failed: ${url} (401)`)).not.toContain(pw);
  });

  it('redactUrl leaves URLs without a password alone', () => {
    expect(redactUrl('rtsp://10.0.0.1/x')).toBe('rtsp://10.0.0.1/x');
    expect(redactUrl('rtsp://admin@10.0.0.1/x')).toBe('rtsp://admin@10.0.0.1/x');
    expect(redactUrl('builtin:demo')).toBe('builtin:demo');
  });

  it('redacts Dahua-style query credentials', () => {
    expect(redactUrl('rtsp://10.0.0.1/cam/realmonitor?channel=1&user=admin&password=t0pS3cret&subtype=0')).toBe(
      'rtsp://10.0.0.1/cam/realmonitor?channel=1&user=admin&password=***&subtype=0',
    );
    expect(redactText('open rtsp://h/x?pwd=abc123 failed')).toBe('open rtsp://h/x?pwd=*** failed');
  });

  it('redactText hides a password containing a space', () => {
    expect(redactText('failed: rtsp://admin:x y@10.0.0.1/x (401)')).toBe('failed: rtsp://admin:***@10.0.0.1/x (401)');
    // A port is not a password.
    expect(redactText('rtsp://host:554/x and mail a@b')).toBe('rtsp://host:554/x and mail a@b');
  });

  it('redactText hides a password even when the token is glued to a quote', () => {
    expect(redactText('got "rtsp://u:topsecret@host"')).not.toContain('topsecret');
  });

  it.each(passwords)('redactCamera drops password %j from fields and both URLs', (pw) => {
    const cam: CameraConfig = {
      id: 'lobby', name: 'Lobby', url: `rtsp://admin:${pw}@10.0.0.1/101`, sub: `rtsp://admin:${pw}@10.0.0.1/102`,
      username: 'admin', password: pw, transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: ['a'],
    };
    const r = redactCamera(cam);
    expect(JSON.stringify(r)).not.toContain(JSON.stringify(pw).slice(1, -1));
    expect(r).toEqual({
      id: 'lobby', name: 'Lobby', url: 'rtsp://admin:***@10.0.0.1/101', sub: 'rtsp://admin:***@10.0.0.1/102',
      username: 'admin', transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: ['a'],
    });
    expect('password' in r).toBe(false);
    // The original is untouched.
    expect(cam.password).toBe(pw);
  });

  it('redactCamera without sub does not invent one', () => {
    const r = redactCamera({ id: 'd', name: 'd', url: 'builtin:demo', transport: 'auto', audio: 'auto', onDemand: false, enabled: true, tags: [] });
    expect('sub' in r).toBe(false);
  });
});
