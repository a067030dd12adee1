import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { ClientAuthenticator, ServerAuthenticator, parseWwwAuthenticate, computeDigestResponse } from '../../../src/rtsp/auth.ts';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Parse an Authorization header's params with a simple reference regex (independent of the code under test). */
function authParams(h: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of h.replace(/^Digest\s+/, '').matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g)) out[m[1]!] = m[2] ?? m[3]!;
  return out;
}

describe('Q08 parseWwwAuthenticate', () => {
  it.each([
    [
      'Hikvision: stale=FALSE unquoted, no space after comma, extra random param',
      ['Digest realm="IP Camera(C1214)", nonce="a0f8c5b2",stale=FALSE, random="1234"'],
      [{ scheme: 'Digest', params: { realm: 'IP Camera(C1214)', nonce: 'a0f8c5b2', stale: 'FALSE', random: '1234' } }],
    ],
    ['Basic with unquoted realm', ['Basic realm=testrealm'], [{ scheme: 'Basic', params: { realm: 'testrealm' } }]],
    [
      'nonce with colon, domain="::", qop="auth", opaque=""',
      ['Digest qop="auth", realm="Login to AMC0007RVY5EQ6DV29", nonce="300b7e2f:1685123456", domain="::", opaque="", algorithm="MD5"'],
      [{ scheme: 'Digest', params: { qop: 'auth', realm: 'Login to AMC0007RVY5EQ6DV29', nonce: '300b7e2f:1685123456', domain: '::', opaque: '', algorithm: 'MD5' } }],
    ],
    [
      'two challenges in one header value',
      ['Digest realm="a b", nonce="n1", algorithm=SHA-256, Basic realm="a b"'],
      [
        { scheme: 'Digest', params: { realm: 'a b', nonce: 'n1', algorithm: 'SHA-256' } },
        { scheme: 'Basic', params: { realm: 'a b' } },
      ],
    ],
    ['escaped quote in realm', ['Digest realm="say \\"hi\\"", nonce="x"'], [{ scheme: 'Digest', params: { realm: 'say "hi"', nonce: 'x' } }]],
    ['lower-case scheme', ['digest realm="r",nonce="n"'], [{ scheme: 'Digest', params: { realm: 'r', nonce: 'n' } }]],
  ])('%s', (_n, values, expected) => {
    expect(parseWwwAuthenticate(values)).toEqual(expected);
  });
});

describe('RFC 7616 §3.9.1 example vectors', () => {
  const challenge = (alg: string): string =>
    `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${alg}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`;
  const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
  it.each([
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec', md5],
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1', sha256],
  ])('%s', (alg, expected, H) => {
    const a = new ClientAuthenticator({ username: 'Mufasa', password: 'Circle of Life' }, { cnonce: () => cnonce });
    expect(a.handleChallenge([challenge(alg)])).toBe(true);
    const p = authParams(a.authorize('GET', '/dir/index.html')!);
    // computed here from the RFC formula, and equal to the RFC's published value
    const ha1 = H('Mufasa:http-auth@example.org:Circle of Life');
    const ha2 = H('GET:/dir/index.html');
    expect(H(`${ha1}:${p.nonce}:00000001:${cnonce}:auth:${ha2}`)).toBe(expected);
    expect(p.response).toBe(expected);
    expect(p).toMatchObject({ username: 'Mufasa', uri: '/dir/index.html', qop: 'auth', nc: '00000001', cnonce, algorithm: alg, opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS' });
  });
});

describe('ClientAuthenticator', () => {
  const creds = { username: 'admin', password: 'p@ss#w%rd:/!^' };

  it('returns undefined before any challenge', () => {
    const a = new ClientAuthenticator(creds);
    expect(a.authorize('OPTIONS', 'rtsp://h/')).toBeUndefined();
    expect(a.scheme).toBeUndefined();
  });

  it('Q10 qop=auth: unquoted qop/nc/algorithm, nc increments, opaque echoed, response per RFC', () => {
    const a = new ClientAuthenticator(creds, { cnonce: () => 'c0ffee' });
    expect(a.handleChallenge(['Digest realm="Login to X", nonce="n1", qop="auth", opaque="o1", algorithm=MD5'])).toBe(true);
    const h1 = a.authorize('DESCRIBE', 'rtsp://10.0.0.1/cam/realmonitor?channel=1&subtype=0')!;
    const h2 = a.authorize('SETUP', 'rtsp://10.0.0.1/cam/realmonitor?channel=1&subtype=0/trackID=0')!;
    expect(h1).toMatch(/, qop=auth, nc=00000001, cnonce="c0ffee"/);
    expect(h1).toMatch(/algorithm=MD5,/);
    expect(h1).not.toMatch(/qop="|nc="|algorithm="/);
    const p1 = authParams(h1);
    const p2 = authParams(h2);
    expect(p1.opaque).toBe('o1');
    expect(p2.nc).toBe('00000002');
    const ha1 = md5(`admin:Login to X:${creds.password}`);
    expect(p1.response).toBe(md5(`${ha1}:n1:00000001:c0ffee:auth:${md5('DESCRIBE:rtsp://10.0.0.1/cam/realmonitor?channel=1&subtype=0')}`));
    expect(p2.response).toBe(md5(`${ha1}:n1:00000002:c0ffee:auth:${md5('SETUP:rtsp://10.0.0.1/cam/realmonitor?channel=1&subtype=0/trackID=0')}`));
    // Q11: uri exactly as the request line
    expect(p2.uri).toBe('rtsp://10.0.0.1/cam/realmonitor?channel=1&subtype=0/trackID=0');
  });

  it('legacy RFC 2069 digest (no qop), realm copied byte-exact (Longse)', () => {
    const a = new ClientAuthenticator({ username: 'admin', password: '12345' });
    expect(a.handleChallenge(['Digest realm="Surveillance Server", nonce="98481030"'])).toBe(true);
    const h = a.authorize('DESCRIBE', 'rtsp://192.168.1.5:554/ch01')!;
    const p = authParams(h);
    const expected = md5(`${md5('admin:Surveillance Server:12345')}:98481030:${md5('DESCRIBE:rtsp://192.168.1.5:554/ch01')}`);
    expect(p.response).toBe(expected);
    expect(h).not.toContain('qop');
    expect(h).not.toContain('nc=');
    expect(h).not.toContain('algorithm');
  });

  it('Q09 prefers Digest SHA-256 > Digest MD5 > Basic in any order, skips unknown algorithms', () => {
    const pick = (values: string[]): string | undefined => {
      const a = new ClientAuthenticator(creds);
      if (!a.handleChallenge(values)) return undefined;
      const h = a.authorize('OPTIONS', '*')!;
      return h.startsWith('Basic') ? 'Basic' : (authParams(h).algorithm ?? 'MD5');
    };
    expect(pick(['Basic realm="x"', 'Digest realm="x", nonce="1"'])).toBe('MD5');
    expect(pick(['Digest realm="x", nonce="1"', 'Basic realm="x"'])).toBe('MD5');
    expect(pick(['Digest realm="x", nonce="1", algorithm=MD5', 'Digest realm="x", nonce="2", algorithm=SHA-256'])).toBe('SHA-256');
    expect(pick(['Digest realm="x", nonce="1", algorithm=SHA-512-256', 'Basic realm="x"'])).toBe('Basic');
    expect(pick(['Digest realm="x", nonce="1", algorithm=SHA-512-256'])).toBeUndefined();
    expect(pick(['Negotiate abc'])).toBeUndefined();
    expect(pick(['Digest realm="x", nonce="1", qop="auth-int"'])).toBeUndefined();
  });

  it('Basic: base64 of user:pass in UTF-8', () => {
    const a = new ClientAuthenticator({ username: 'ädmin', password: 'x:y' });
    expect(a.handleChallenge(['Basic realm="TP-Link IP-Camera"'])).toBe(true);
    expect(a.scheme).toBe('Basic');
    expect(a.authorize('DESCRIBE', 'rtsp://h/')).toBe('Basic ' + Buffer.from('ädmin:x:y', 'utf8').toString('base64'));
  });

  it('the same challenge after a failed attempt returns false (wrong credentials, no loop)', () => {
    const a = new ClientAuthenticator(creds);
    const ch = ['Digest realm="r", nonce="n1"'];
    expect(a.handleChallenge(ch)).toBe(true);
    a.authorize('DESCRIBE', 'rtsp://h/');
    expect(a.handleChallenge(ch)).toBe(false);
  });

  it('a server rotating its nonce on every 401 still ends in false', () => {
    const a = new ClientAuthenticator(creds);
    expect(a.handleChallenge(['Digest realm="r", nonce="n1"'])).toBe(true);
    a.authorize('DESCRIBE', 'rtsp://h/');
    expect(a.handleChallenge(['Digest realm="r", nonce="n2"'])).toBe(false);
  });

  it('Q09: rejected Digest falls back to Basic once, then gives up', () => {
    const a = new ClientAuthenticator(creds);
    const ch = ['Digest realm="r", nonce="n1"', 'Basic realm="r"'];
    expect(a.handleChallenge(ch)).toBe(true);
    expect(a.scheme).toBe('Digest');
    a.authorize('DESCRIBE', 'rtsp://h/');
    expect(a.handleChallenge(ch)).toBe(true);
    expect(a.scheme).toBe('Basic');
    a.authorize('DESCRIBE', 'rtsp://h/');
    expect(a.handleChallenge(ch)).toBe(false);
  });

  it('stale=true is always retried, with nc restarting for the new nonce', () => {
    const a = new ClientAuthenticator(creds);
    expect(a.handleChallenge(['Digest realm="r", nonce="n1", qop="auth"'])).toBe(true);
    a.authorize('PLAY', 'rtsp://h/');
    expect(a.handleChallenge(['Digest realm="r", nonce="n2", qop="auth", stale=TRUE'])).toBe(true);
    const p = authParams(a.authorize('PLAY', 'rtsp://h/')!);
    expect([p.nonce, p.nc]).toEqual(['n2', '00000001']);
  });

  it('Q13: a new 401 after several successful requests (new connection) is retried', () => {
    const a = new ClientAuthenticator(creds);
    expect(a.handleChallenge(['Digest realm="r", nonce="n1"'])).toBe(true);
    a.authorize('DESCRIBE', 'rtsp://h/');
    a.authorize('SETUP', 'rtsp://h/t1');
    expect(a.handleChallenge(['Digest realm="r", nonce="n9"'])).toBe(true);
    expect(authParams(a.authorize('DESCRIBE', 'rtsp://h/')!).nonce).toBe('n9');
  });
});

describe('ServerAuthenticator ⇄ ClientAuthenticator', () => {
  const users: Record<string, string> = { admin: 'p@ss#w%rd:/!^', guard: 'letmein' };
  const lookup = (u: string): string | undefined => users[u];

  it.each([['basic' as const], ['digest-md5' as const], ['digest-sha256' as const]])('%s round trip', (m) => {
    const server = new ServerAuthenticator({ realm: 'camgate', methods: [m] });
    const client = new ClientAuthenticator({ username: 'admin', password: users.admin! });
    expect(server.verify('DESCRIBE', undefined, lookup)).toEqual({ ok: false });
    expect(client.handleChallenge(server.challenge())).toBe(true);
    for (const [method, uri] of [
      ['DESCRIBE', 'rtsp://127.0.0.1:8554/lobby'],
      ['SETUP', 'rtsp://127.0.0.1:8554/lobby/trackID=0'],
      ['PLAY', 'rtsp://127.0.0.1:8554/lobby/'],
    ] as const) {
      expect(server.verify(method, client.authorize(method, uri), lookup)).toEqual({ ok: true, username: 'admin' });
    }
    if (m !== 'basic') {
      const h = client.authorize('PLAY', 'rtsp://127.0.0.1:8554/lobby/')!;
      expect(authParams(h).algorithm).toBe(m === 'digest-md5' ? 'MD5' : 'SHA-256');
      // method is part of HA2: replaying the header for another method fails
      expect(server.verify('TEARDOWN', h, lookup)).toEqual({ ok: false });
    }
  });

  it('default methods: client picks SHA-256', () => {
    const server = new ServerAuthenticator({ realm: 'camgate' });
    const values = server.challenge();
    expect(values).toHaveLength(2);
    const client = new ClientAuthenticator({ username: 'guard', password: 'letmein' });
    client.handleChallenge(values);
    const h = client.authorize('OPTIONS', '*')!;
    expect(authParams(h).algorithm).toBe('SHA-256');
    expect(server.verify('OPTIONS', h, lookup)).toEqual({ ok: true, username: 'guard' });
  });

  it.each([['basic' as const], ['digest-md5' as const], ['digest-sha256' as const]])('%s: wrong password refused, unknown user refused', (m) => {
    const server = new ServerAuthenticator({ realm: 'camgate', methods: [m] });
    const wrong = new ClientAuthenticator({ username: 'admin', password: 'nope' });
    wrong.handleChallenge(server.challenge());
    expect(server.verify('DESCRIBE', wrong.authorize('DESCRIBE', 'rtsp://h/x'), lookup)).toEqual({ ok: false });
    const ghost = new ClientAuthenticator({ username: 'ghost', password: 'nope' });
    ghost.handleChallenge(server.challenge());
    expect(server.verify('DESCRIBE', ghost.authorize('DESCRIBE', 'rtsp://h/x'), lookup)).toEqual({ ok: false });
  });

  it('a scheme the server did not offer is refused', () => {
    const server = new ServerAuthenticator({ realm: 'camgate', methods: ['digest-sha256'] });
    expect(server.verify('DESCRIBE', 'Basic ' + Buffer.from('admin:' + users.admin).toString('base64'), lookup)).toEqual({ ok: false });
  });

  it('forged or foreign nonces are refused', () => {
    const server = new ServerAuthenticator({ realm: 'camgate', methods: ['digest-md5'] });
    const other = new ServerAuthenticator({ realm: 'camgate', methods: ['digest-md5'] });
    const client = new ClientAuthenticator({ username: 'admin', password: users.admin! });
    client.handleChallenge(other.challenge());
    expect(server.verify('DESCRIBE', client.authorize('DESCRIBE', 'rtsp://h/x'), lookup)).toEqual({ ok: false });
    const forged = `Digest username="admin", realm="camgate", nonce="abc", uri="rtsp://h/x", response="${computeDigestResponse({ hash: 'MD5', username: 'admin', realm: 'camgate', password: users.admin!, method: 'DESCRIBE', uri: 'rtsp://h/x', nonce: 'abc' })}"`;
    expect(server.verify('DESCRIBE', forged, lookup)).toEqual({ ok: false });
  });

  it('expired nonce ⇒ stale; the client retries the stale challenge and succeeds', () => {
    let now = 1_000_000;
    const server = new ServerAuthenticator({ realm: 'camgate', methods: ['digest-md5'], nonceTtlMs: 30_000, now: () => now });
    const client = new ClientAuthenticator({ username: 'admin', password: users.admin! });
    client.handleChallenge(server.challenge());
    expect(server.verify('GET_PARAMETER', client.authorize('GET_PARAMETER', 'rtsp://h/x'), lookup)).toEqual({ ok: true, username: 'admin' });
    now += 31_000;
    const h = client.authorize('GET_PARAMETER', 'rtsp://h/x');
    expect(server.verify('GET_PARAMETER', h, lookup)).toEqual({ ok: false, stale: true });
    // wrong password with an expired nonce is not 'stale'
    const wrong = new ClientAuthenticator({ username: 'admin', password: 'nope' });
    now -= 31_000;
    wrong.handleChallenge(server.challenge());
    const hw = wrong.authorize('PLAY', 'rtsp://h/x');
    now += 31_000;
    expect(server.verify('PLAY', hw, lookup)).toEqual({ ok: false });
    // stale challenge is retried even on the first use
    const stale = server.challenge(true);
    expect(stale[0]).toContain('stale=TRUE');
    expect(client.handleChallenge(stale)).toBe(true);
    expect(server.verify('GET_PARAMETER', client.authorize('GET_PARAMETER', 'rtsp://h/x'), lookup)).toEqual({ ok: true, username: 'admin' });
  });
});
