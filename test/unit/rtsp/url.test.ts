import { describe, it, expect } from 'vitest';
import { parseRtspUrl, joinControl, resolveBaseUrl, type RtspUrl } from '../../../src/rtsp/url.ts';
import { redactSecrets } from '../../../src/util/redact.ts';

const parsed = (u: string): RtspUrl => {
  const r = parseRtspUrl(u);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

describe('Q15 parseRtspUrl credentials', () => {
  it.each([
    ['rtsp://admin:p@ss#w%rd:/!^@192.168.1.64:554/Streaming/Channels/101', 'admin', 'p@ss#w%rd:/!^', '192.168.1.64', 554, '/Streaming/Channels/101'],
    ['rtsp://admin:a%b@10.0.0.1/live', 'admin', 'a%b', '10.0.0.1', 554, '/live'],
    ['rtsp://user:x@y@z@cam.lan:8554/s', 'user', 'x@y@z', 'cam.lan', 8554, '/s'],
    ['rtsp://admin:@10.0.0.1/', 'admin', '', '10.0.0.1', 554, '/'],
    ['rtsp://admin@10.0.0.1', 'admin', '', '10.0.0.1', 554, '/'],
    ['rtsp://ad%40min:p%23ss%25@10.0.0.1/x?y=1', 'ad@min', 'p#ss%', '10.0.0.1', 554, '/x?y=1'],
    ['rtsp://u:%zz%4@h/x', 'u', '%zz%4', 'h', 554, '/x'],
    ['rtsps://u:p?q/r@[fe80::1]:7441/cam', 'u', 'p?q/r', 'fe80::1', 7441, '/cam'],
  ])('%s', (url, user, pass, host, port, pq) => {
    const u = parsed(url);
    expect(u.credentials).toEqual({ username: user, password: pass });
    expect([u.host, u.port, u.pathAndQuery]).toEqual([host, port, pq]);
    expect(u.href).not.toContain('@');
    expect(u.href).not.toContain(pass.length > 0 ? pass : '\0');
  });

  it('href is the URL without userinfo, as sent on the wire', () => {
    expect(parsed('rtsp://admin:p@ss@10.0.0.10:554/Streaming/Channels/101').href).toBe('rtsp://10.0.0.10:554/Streaming/Channels/101');
    expect(parsed('RTSP://cam/ch1?x=1').href).toBe('rtsp://cam/ch1?x=1');
    expect(parsed('rtsp://cam?x=1').pathAndQuery).toBe('/?x=1');
    expect(parsed('rtsps://cam/a').port).toBe(322);
    expect(parsed('rtsp://[::1]:8554/a').href).toBe('rtsp://[::1]:8554/a');
    expect(parsed('rtsp://cam/a').credentials).toBeUndefined();
  });

  it.each(['http://cam/a', 'rtsp://', 'rtsp://host:99999/', 'rtsp://host:abc/', 'rtsp://ho st/', 'cam/a'])('rejects %j', (u) => {
    expect(parseRtspUrl(u).ok).toBe(false);
  });
});

describe('Q16 joinControl', () => {
  it.each([
    ['VStarcam: string append, not RFC 3986', 'rtsp://192.168.1.198:10554/tcp/av0_0', 'track0', 'rtsp://192.168.1.198:10554/tcp/av0_0/track0'],
    ['Dahua: append after the query', 'rtsp://192.168.5.111:554/cam/realmonitor?channel=1&subtype=0', 'trackID=0', 'rtsp://192.168.5.111:554/cam/realmonitor?channel=1&subtype=0/trackID=0'],
    ['Dahua Content-Base already ending in /', 'rtsp://cam-driveway/cam/realmonitor?channel=1&subtype=2/', 'trackID=1', 'rtsp://cam-driveway/cam/realmonitor?channel=1&subtype=2/trackID=1'],
    ['query control', 'rtsp://10.0.0.1/live', '?ctype=video', 'rtsp://10.0.0.1/live?ctype=video'],
    ['leading slash, base without slash', 'rtsp://10.0.0.1:554/stream', '/test', 'rtsp://10.0.0.1:554/stream/test'],
    ['leading slash, base with slash', 'rtsp://10.0.0.1:554/stream/', '/test', 'rtsp://10.0.0.1:554/stream/test'],
    ['aggregate *', 'rtsp://10.0.0.1/s/', '*', 'rtsp://10.0.0.1/s/'],
    ['absent control', 'rtsp://10.0.0.1/s/', undefined, 'rtsp://10.0.0.1/s/'],
    ['empty control', 'rtsp://10.0.0.1/s/', '', 'rtsp://10.0.0.1/s/'],
    ['Reolink double-slash base kept', 'rtsp://192.168.40.20//', 'trackID=1', 'rtsp://192.168.40.20//trackID=1'],
    ['absolute control (Hikvision), same host', 'rtsp://192.168.5.106:554/Streaming/Channels/101/', 'rtsp://192.168.5.106:554/Streaming/Channels/101/trackID=1?transportmode=unicast&profile=Profile_1', 'rtsp://192.168.5.106:554/Streaming/Channels/101/trackID=1?transportmode=unicast&profile=Profile_1'],
    ['absolute control with userinfo is stripped', 'rtsp://h/', 'rtsp://admin:secret@h/track1', 'rtsp://h/track1'],
  ])('%s', (_n, base, control, expected) => {
    expect(joinControl(base, control)).toBe(expected);
  });

  it('Q18: absolute control naming another host gets the configured authority', () => {
    expect(joinControl('rtsp://cam.example:8554/media/video2/', 'rtsp://1.0.1.113/media/video2/video', { host: 'cam.example', port: 8554 })).toBe(
      'rtsp://cam.example:8554/media/video2/video',
    );
    expect(joinControl('rtsp://x/', 'rtsp://admin:pw@10.255.255.1:554/ch1/trackID=1?a=b', { host: '203.0.113.5', port: 10554 })).toBe(
      'rtsp://203.0.113.5:10554/ch1/trackID=1?a=b',
    );
    expect(joinControl('rtsp://x/', 'rtsp://10.0.0.1/a', { host: 'fe80::1', port: 554 })).toBe('rtsp://[fe80::1]:554/a');
  });
});

describe('Q17 resolveBaseUrl', () => {
  const requestUrl = 'rtsp://admin:pw@192.168.1.10:554/stream0';
  it.each([
    ['request URL when nothing else (userinfo stripped)', {}, 'rtsp://192.168.1.10:554/stream0'],
    ['Content-Base wins over request URL', { contentBase: 'rtsp://192.168.1.10/other/' }, 'rtsp://192.168.1.10/other/'],
    ['Content-Location when no Content-Base', { contentLocation: 'rtsp://192.168.1.10/loc/' }, 'rtsp://192.168.1.10/loc/'],
    ['Content-Base wins over Content-Location', { contentBase: 'rtsp://192.168.1.10/cb/', contentLocation: 'rtsp://192.168.1.10/loc/' }, 'rtsp://192.168.1.10/cb/'],
    ['Axis: absolute session-level control wins, query kept', { sessionControl: 'rtsp://192.168.1.10/axis-media/media.amp?Axis-Orig-Sw=true', contentBase: 'rtsp://192.168.1.10/cb/' }, 'rtsp://192.168.1.10/axis-media/media.amp?Axis-Orig-Sw=true'],
    ['session-level control * is ignored', { sessionControl: '*', contentBase: 'rtsp://192.168.1.10/cb/' }, 'rtsp://192.168.1.10/cb/'],
    ['relative session-level control is ignored', { sessionControl: 'trackID=1', contentBase: 'rtsp://192.168.1.10/cb/' }, 'rtsp://192.168.1.10/cb/'],
    ['Anjvision schemeless Content-Base', { contentBase: '192.168.1.10:554/stream0/' }, 'rtsp://192.168.1.10:554/stream0/'],
    ['doubled scheme', { contentBase: 'rtsp://rtsp://turret2-cam.lan:554/stream1/' }, 'rtsp://turret2-cam.lan:554/stream1/'],
    ['relative Content-Base', { contentBase: '/path/' }, 'rtsp://192.168.1.10:554/path/'],
    ['userinfo in Content-Base stripped (Hikvision via DDNS)', { contentBase: 'rtsp://admin:password@cam.ddns.net:554/Streaming/Channels/101/' }, 'rtsp://cam.ddns.net:554/Streaming/Channels/101/'],
    ['Dahua query base kept', { contentBase: 'rtsp://192.168.5.111:554/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif/' }, 'rtsp://192.168.5.111:554/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif/'],
    ['IPv4-mapped IPv6 without brackets', { contentBase: 'rtsp://::ffff:192.168.1.123/onvif/profile.1/' }, 'rtsp://[::ffff:192.168.1.123]/onvif/profile.1/'],
    ['unusable Content-Base falls back to the request URL', { contentBase: 'http://x/' }, 'rtsp://192.168.1.10:554/stream0'],
  ])('%s', (_n, opts, expected) => {
    expect(resolveBaseUrl({ requestUrl, ...opts })).toBe(expected);
  });

  it('end to end with the Anjvision capture: base + trackID=1', () => {
    const base = resolveBaseUrl({ requestUrl: 'rtsp://192.168.1.10:554/stream0', contentBase: '192.168.1.10:554/stream0/' });
    expect(joinControl(base, 'trackID=1')).toBe('rtsp://192.168.1.10:554/stream0/trackID=1');
  });
});

describe('redactSecrets', () => {
  it.each([
    ['connect rtsp://admin:p@ss#w%rd:/!^@192.168.1.64:554/ch1 failed', 'connect rtsp://***@192.168.1.64:554/ch1 failed'],
    ['url="rtsp://admin:secret@cam/x" next', 'url="rtsp://***@cam/x" next'],
    ['http://u:pw@host/snap.jpg and https://a:b@c/', 'http://***@host/snap.jpg and https://***@c/'],
    ['rtsp://cam/live?user=admin&password=hunter2&x=1', 'rtsp://cam/live?user=admin&password=***&x=1'],
    ['rtsp://cam/live?pass=hunter2', 'rtsp://cam/live?pass=***'],
    ['Authorization: Basic YWRtaW46c2VjcmV0', 'Authorization: Basic ***'],
    ['rtsp://cam/no/secrets', 'rtsp://cam/no/secrets'],
  ])('%s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });
  it('extra secrets, also percent-encoded', () => {
    expect(redactSecrets('bad password p@ss#1 (p%40ss%231)', ['p@ss#1', ''])).toBe('bad password *** (***)');
  });
});
