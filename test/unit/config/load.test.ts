import { readFileSync } from 'node:fs';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  defaultConfig,
  formatConfigError,
  loadConfigFile,
  parseConfig,
  parseDuration,
  parseHostPort,
  parsePortRange,
  validateCamera,
} from '../../../src/config/load.ts';
import type { Config, ConfigError } from '../../../src/config/types.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const FIX = path.join(ROOT, 'test/fixtures/config');

function errorsOf(text: string): ConfigError[] {
  const r = parseConfig(text, 'cams.yaml');
  if (r.ok) throw new Error(`expected errors, config was valid: ${JSON.stringify(r.config)}`);
  return r.errors;
}

function configOf(text: string): Config {
  const r = parseConfig(text, 'cams.yaml');
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join('\n'));
  return r.config;
}

describe('valid configs', () => {
  it('parses the full ARCHITECTURE.md example to the expected Config', () => {
    const r = parseConfig(readFileSync(path.join(FIX, 'architecture-example.yaml'), 'utf8'), 'arch.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const expected: Config = {
      server: {
        http: { host: '0.0.0.0', port: 8080 },
        rtsp: { host: '0.0.0.0', port: 8554 },
        webrtc: { udpPorts: { min: 8555, max: 8655 }, additionalHosts: [], iceServers: [] },
      },
      hls: { partDurationMs: 200, segmentDurationMs: 1000, segmentCount: 7, alwaysRemux: false },
      users: [
        { name: 'admin', password: '...', role: 'admin' },
        { name: 'guard', token: '...', role: 'viewer', cameras: ['lobby', 'parking-*'] },
      ],
      cameras: [
        {
          id: 'lobby',
          name: 'Lobby entrance',
          url: 'rtsp://user:pass@10.0.0.10:554/Streaming/Channels/101',
          sub: 'rtsp://user:pass@10.0.0.10:554/Streaming/Channels/102',
          transport: 'auto',
          audio: 'auto',
          onDemand: false,
          enabled: true,
          tags: ['floor1'],
        },
        { id: 'demo', name: 'demo', url: 'builtin:demo', transport: 'auto', audio: 'auto', onDemand: false, enabled: true, tags: [] },
      ],
    };
    expect(r.config).toEqual(expected);
    // 'parking-*' matches no camera in the example: a warning, not an error.
    expect(r.warnings.map((w) => [w.line, w.col, w.path])).toEqual([[19, 24, 'users[1].cameras[1]']]);
    // The Document is kept with its comments, for comment-preserving saves.
    expect(r.document.toString()).toContain('# the built-in simulated camera; needs no hardware');
  });

  it('accepts the repo cameras.yaml (demo only, enabled)', async () => {
    const r = await loadConfigFile(path.join(ROOT, 'cameras.yaml'));
    expect(r.ok ? [] : r.errors.map(formatConfigError)).toEqual([]);
    if (!r.ok) return;
    expect(r.config.cameras.map((c) => [c.id, c.url, c.enabled])).toEqual([['demo', 'builtin:demo', true]]);
    expect(r.config.users).toEqual([]);
    expect(r.config.server.http.port).toBe(8080);
  });

  it('accepts the repo cameras.yaml with its commented-out examples uncommented', () => {
    const lines = readFileSync(path.join(ROOT, 'cameras.yaml'), 'utf8').split('\n');
    let inUsers = false;
    let inTls = false;
    const out = lines.map((l) => {
      if (l === '# users:') inUsers = true;
      if (inUsers && l.trim() === '') inUsers = false;
      if (inUsers) return l.replace(/^# /, '');
      // The tls example names certificate files that only exist on a real install.
      if (l === '  # tls:') inTls = true;
      else if (inTls && !/^ {2}# {3}/.test(l)) inTls = false;
      if (inTls) return l;
      return l.replace(/^ {2}# ((?:[a-z][a-z-]*:)$| {2}.*$)/, '  $1');
    });
    const cfg = configOf(out.join('\n'));
    expect(cfg.cameras.map((c) => c.id)).toEqual(['demo', 'lobby', 'parking-east', 'garden', 'doorbell']);
    expect([cfg.cameras[4].url, cfg.cameras[4].username]).toEqual(['publisher', 'encoder']);
    const lobby = cfg.cameras[1];
    expect([lobby.username, lobby.password, lobby.transport, lobby.sub]).toEqual(['admin', 'p@ss#word!', 'tcp', 'rtsp://10.0.0.10:554/Streaming/Channels/102']);
    expect(cfg.cameras[2].audio).toBe('off');
    expect([cfg.cameras[3].onDemand, cfg.cameras[3].audio, cfg.cameras[3].tags]).toEqual([true, 'transcode', ['outdoor', 'floor0']]);
    expect(cfg.users.map((u) => [u.name, u.role, u.cameras])).toEqual([['admin', 'admin', undefined], ['guard', 'viewer', ['lobby', 'parking-*']]]);
  });

  it('server.rtsps: parsed next to server.tls; refused without it, at its line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'camgate-rtsps-cfg-'));
    try {
      writeFileSync(path.join(dir, 'c.pem'), 'x');
      writeFileSync(path.join(dir, 'k.pem'), 'x');
      const ok = parseConfig('server:\n  rtsps: "127.0.0.1:8322"\n  tls:\n    cert: c.pem\n    key: k.pem\n', path.join(dir, 'c.yaml'));
      expect(ok.ok && ok.config.server.rtsps).toEqual({ host: '127.0.0.1', port: 8322 });
      expect(configOf('cameras: {}\n').server.rtsps).toBeUndefined();
      const [e] = errorsOf('server:\n  rtsps: ":8322"\n');
      expect([e!.path, e!.line, e!.col]).toEqual(['server.rtsps', 2, 10]);
      expect(e!.message).toContain('needs server.tls');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('server.restream: UDP and multicast ranges parsed; bad values refused at their line', () => {
    const cfg = configOf('server:\n  restream:\n    udpPorts: "20000-20099"\n    multicastGroups: 239.1.2.0/28\n    multicastPorts: 21000-21009\n    multicastTtl: 4\n    multicastInterface: 10.0.0.5\n');
    expect(cfg.server.restream).toEqual({ udpPorts: { min: 20000, max: 20099 }, multicastGroups: '239.1.2.0/28', multicastPorts: { min: 21000, max: 21009 }, multicastTtl: 4, multicastInterface: '10.0.0.5' });
    expect(configOf('cameras: {}\n').server.restream).toBeUndefined();
    const cases: [string, string, string][] = [
      ['    udpPorts: "8600-8700"\n', 'server.restream.udpPorts', 'overlaps server.webrtc.udpPorts (8555-8655)'],
      ['    udpPorts: "9000"\n', 'server.restream.udpPorts', 'needs at least 2 ports'],
      ['    udpPorts: "9000-8000"\n', 'server.restream.udpPorts', 'range start 9000 is above its end 8000'],
      ['    multicastGroups: 10.0.0.0/24\n', 'server.restream.multicastGroups', 'must lie in 224.0.0.0/4'],
      ['    multicastGroups: 239.1.2.300/24\n', 'server.restream.multicastGroups', 'not an IPv4 address range'],
      ['    multicastGroups: 239.1.2.0\n', 'server.restream.multicastGroups', 'expected an IPv4 multicast range'],
      ['    multicastTtl: 0\n', 'server.restream.multicastTtl', 'from 1 to 255'],
      ['    multicastTtl: 1.5\n', 'server.restream.multicastTtl', 'from 1 to 255'],
      ['    multicastInterface: eth0\n', 'server.restream.multicastInterface', 'IPv4 address of a local interface'],
      ['    udpPorts: "8000-8999"\n    multicastPorts: "8900-9100"\n', 'server.restream.multicastPorts', 'overlaps server.restream.udpPorts'],
      ['    udpPort: "8000-8999"\n', 'server.restream.udpPort', 'udpPorts'],
    ];
    const [moved] = errorsOf('server:\n  webrtc:\n    udpPorts: "8400-8600"\n');
    expect([moved!.path, moved!.line, moved!.message]).toEqual(['server.webrtc.udpPorts', 3, "overlaps the restream's default udpPorts (8000-8499); move one of them (server.restream.udpPorts)"]);
    expect(configOf('server:\n  webrtc:\n    udpPorts: "8400-8600"\n  restream:\n    udpPorts: "7000-7099"\n').server.restream?.udpPorts).toEqual({ min: 7000, max: 7099 });
    const [onDefault] = errorsOf('server:\n  restream:\n    udpPorts: "9500-9599"\n');
    expect([onDefault!.path, onDefault!.line, onDefault!.message]).toEqual(['server.restream.udpPorts', 3, "overlaps the restream's default multicastPorts (9000-9999); move one of them (server.restream.multicastPorts)"]);
    for (const [body, where, message] of cases) {
      const errors = errorsOf(`server:\n  restream:\n${body}`);
      const e = errors.find((x) => x.path === where);
      expect(e, `${body} → ${JSON.stringify(errors)}`).toBeDefined();
      expect(e!.message).toContain(message);
      expect(e!.line).toBeGreaterThanOrEqual(3);
    }
  });

  it('accepts the repo cameras.demo.yaml', async () => {
    const r = await loadConfigFile(path.join(ROOT, 'cameras.demo.yaml'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.cameras.map((c) => c.id)).toEqual(['demo']);
    expect(r.config.server.http).toEqual({ host: '0.0.0.0', port: 8080 });
  });

  it.each([
    ['empty file', ''],
    ['comment only', '# nothing yet\n'],
    ['cameras missing', 'server:\n  http: ":9000"\n'],
    ['cameras empty', 'cameras:\n'],
    ['cameras {}', 'cameras: {}\n'],
    ['cameras []', 'cameras: []\n'],
  ])('%s ⇒ no cameras', (_name, text) => {
    expect(configOf(text).cameras).toEqual([]);
  });

  it('fills defaults and keeps cameras in file order', () => {
    const cfg = configOf('cameras:\n  z:\n    url: builtin:demo\n  a:\n    url: publisher\n  m:\n    url: rtsps://cam.local/live\n');
    expect(cfg.cameras.map((c) => c.id)).toEqual(['z', 'a', 'm']);
    expect(cfg.cameras[2]).toEqual({ id: 'm', name: 'm', url: 'rtsps://cam.local/live', transport: 'auto', audio: 'auto', onDemand: false, enabled: true, tags: [] });
    expect({ ...cfg, cameras: [] }).toEqual(defaultConfig());
  });

  it('keeps numeric-looking strings as written (password 0123, id 101, name 2024)', () => {
    const cfg = configOf('cameras:\n  101:\n    name: 2024\n    url: rtsp://10.0.0.1/x\n    username: 007\n    password: 0123\n    tags: [1, true]\n');
    expect(cfg.cameras[0]).toMatchObject({ id: '101', name: '2024', username: '007', password: '0123', tags: ['1', 'true'] });
  });

  it('parses server host:port forms, port ranges, ICE servers and durations', () => {
    const cfg = configOf(
      [
        'server:',
        '  http: "[::1]:8081"',
        '  rtsp: 127.0.0.1:9554',
        '  webrtc:',
        '    udpPorts: 20000 - 20010',
        '    additionalHosts: [192.168.1.5, gw.example.com]',
        '    iceServers:',
        '      - urls: stun:stun.l.google.com:19302',
        '      - urls: ["turn:t.example.com:3478?transport=udp", "turns:t.example.com:5349"]',
        '        username: u',
        '        credential: c',
        'hls:',
        '  partDuration: 0.5s',
        '  segmentDuration: 2000',
        '  segmentCount: 3',
        '  alwaysRemux: true',
      ].join('\n'),
    );
    expect(cfg.server.http).toEqual({ host: '::1', port: 8081 });
    expect(cfg.server.rtsp).toEqual({ host: '127.0.0.1', port: 9554 });
    expect(cfg.server.webrtc.udpPorts).toEqual({ min: 20000, max: 20010 });
    expect(cfg.server.webrtc.additionalHosts).toEqual(['192.168.1.5', 'gw.example.com']);
    expect(cfg.server.webrtc.iceServers).toEqual([
      { urls: 'stun:stun.l.google.com:19302' },
      { urls: ['turn:t.example.com:3478?transport=udp', 'turns:t.example.com:5349'], username: 'u', credential: 'c' },
    ]);
    expect(cfg.hls).toEqual({ partDurationMs: 500, segmentDurationMs: 2000, segmentCount: 3, alwaysRemux: true });
  });

  it('warns (does not fail) on segmentCount 2 and on admin camera lists', () => {
    const r = parseConfig('hls:\n  segmentCount: 2\nusers:\n  - name: a\n    password: x\n    role: admin\n    cameras: [x]\n', 'w.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.hls.segmentCount).toBe(2);
    expect(r.warnings.map((w) => [w.line, w.col, w.path])).toEqual([
      [2, 17, 'hls.segmentCount'],
      [7, 5, 'users[0].cameras'],
    ]);
  });
});

describe('errors carry file:line:col and path', () => {
  // [name, yaml, expected errors as [line, col, path, message pattern]]
  const cases: [string, string, [number, number, string, RegExp][]][] = [
    ['unknown top-level key with hint', 'camera:\n  a:\n    url: builtin:demo\n', [[1, 1, 'camera', /unknown key "camera"; did you mean "cameras"\?/]]],
    ['unknown camera key with hint', 'cameras:\n  a:\n    url: builtin:demo\n    trasnport: tcp\n', [[4, 5, 'cameras.a.trasnport', /did you mean "transport"/]]],
    ['unknown key, transposed letters', 'server:\n  rtps: ":8554"\n', [[2, 3, 'server.rtps', /did you mean "rtsp"\?/]]],
    ['unknown key, synonym', 'cameras:\n  a:\n    url: builtin:demo\n    user: admin\n', [[4, 5, 'cameras.a.user', /did you mean "username"\?/]]],
    ['unknown key, case only', 'cameras:\n  a:\n    url: builtin:demo\n    ondemand: true\n', [[4, 5, 'cameras.a.ondemand', /did you mean "onDemand"/]]],
    ['unknown key without hint lists the keys', 'hls:\n  zzzzzz: 1\n', [[2, 3, 'hls.zzzzzz', /expected one of partDuration, segmentDuration, segmentCount, alwaysRemux/]]],
    ['camera pasted at top level', 'lobby:\n  url: builtin:demo\n', [[1, 1, 'lobby', /cameras go under "cameras:"/]]],
    ['server.http bad port', 'server:\n  http: ":80800"\n', [[2, 9, 'server.http', /port "80800" must be a whole number from 1 to 65535/]]],
    ['server.http port 0', 'server:\n  http: "0.0.0.0:0"\n', [[2, 9, 'server.http', /from 1 to 65535/]]],
    ['server.rtsp unbracketed IPv6', 'server:\n  rtsp: "::1:8554"\n', [[2, 9, 'server.rtsp', /IPv6 addresses must be written in brackets/]]],
    ['server.http wrong type', 'server:\n  http: [8080]\n', [[2, 9, 'server.http', /must be a "\[host\]:port" string/]]],
    ['server wrong type', 'server: 8080\n', [[1, 9, 'server', /must be a mapping \(got "8080"\)/]]],
    ['udpPorts reversed', 'server:\n  webrtc:\n    udpPorts: "8655-8555"\n', [[3, 15, 'server.webrtc.udpPorts', /range start 8655 is above its end 8555/]]],
    ['udpPorts garbage', 'server:\n  webrtc:\n    udpPorts: "lots"\n', [[3, 15, 'server.webrtc.udpPorts', /"min-max"/]]],
    ['ICE server bad scheme', 'server:\n  webrtc:\n    iceServers:\n      - urls: http://x\n', [[4, 15, 'server.webrtc.iceServers[0].urls', /stun:, stuns:, turn: or turns:/]]],
    ['ICE server missing urls', 'server:\n  webrtc:\n    iceServers:\n      - username: x\n', [[4, 9, 'server.webrtc.iceServers[0]', /urls is required/]]],
    ['bad duration', 'hls:\n  partDuration: fast\n', [[2, 17, 'hls.partDuration', /positive duration such as "200ms"/]]],
    ['zero duration', 'hls:\n  partDuration: 0ms\n', [[2, 17, 'hls.partDuration', /positive duration/]]],
    ['segment shorter than part', 'hls:\n  partDuration: 2s\n  segmentDuration: 1s\n', [[3, 20, 'hls.segmentDuration', /segmentDuration \(1000ms\) must be at least partDuration \(2000ms\)/]]],
    ['default segment shorter than part', 'hls:\n  partDuration: 3s\n', [[2, 17, 'hls.partDuration', /at least partDuration \(3000ms\)/]]],
    ['segmentCount 1', 'hls:\n  segmentCount: 1\n', [[2, 17, 'hls.segmentCount', /from 2 to 1000/]]],
    ['segmentCount not integer', 'hls:\n  segmentCount: 2.5\n', [[2, 17, 'hls.segmentCount', /whole number/]]],
    ['alwaysRemux not bool', 'hls:\n  alwaysRemux: yes\n', [[2, 16, 'hls.alwaysRemux', /must be true or false \(got "yes"\)/]]],
    ['transport enum', 'cameras:\n  a:\n    url: rtsp://h/x\n    transport: tcpp\n', [[4, 16, 'cameras.a.transport', /must be one of auto, tcp, udp, multicast \(got "tcpp"\)/]]],
    ['audio enum', 'cameras:\n  a:\n    url: rtsp://h/x\n    audio: mute\n', [[4, 12, 'cameras.a.audio', /must be one of auto, off, transcode/]]],
    ['onDemand not bool', 'cameras:\n  a:\n    url: rtsp://h/x\n    onDemand: "true"\n', [[4, 15, 'cameras.a.onDemand', /true or false/]]],
    ['enabled not bool', 'cameras:\n  a:\n    url: rtsp://h/x\n    enabled: 1\n', [[4, 14, 'cameras.a.enabled', /true or false/]]],
    ['tags not a list', 'cameras:\n  a:\n    url: rtsp://h/x\n    tags: floor1\n', [[4, 11, 'cameras.a.tags', /must be a list/]]],
    ['tags item not a string', 'cameras:\n  a:\n    url: rtsp://h/x\n    tags: [ok, {x: 1}]\n', [[4, 16, 'cameras.a.tags[1]', /must be a string \(got a mapping\)/]]],
    ['name empty', 'cameras:\n  a:\n    url: rtsp://h/x\n    name: ""\n', [[4, 11, 'cameras.a.name', /must not be empty/]]],
    ['url missing', 'cameras:\n  a:\n    name: A\n', [[2, 3, 'cameras.a', /url is required/]]],
    ['camera entry empty', 'cameras:\n  a:\n', [[2, 3, 'cameras.a', /url is required/]]],
    ['camera not a mapping', 'cameras:\n  a: rtsp://h/x\n', [[2, 6, 'cameras.a', /must be a mapping/]]],
    ['url empty value', 'cameras:\n  a:\n    url:\n', [[3, 5, 'cameras.a.url', /must be a string \(got nothing\)/]]],
    ['url bad scheme', 'cameras:\n  a:\n    url: http://10.0.0.1/x\n', [[3, 10, 'cameras.a.url', /must be rtsp:\/\/…, rtsps:\/\/…, builtin:demo or publisher/]]],
    ['url unknown builtin', 'cameras:\n  a:\n    url: builtin:bars\n', [[3, 10, 'cameras.a.url', /only one is builtin:demo/]]],
    ['url without host', 'cameras:\n  a:\n    url: rtsp:///x\n', [[3, 10, 'cameras.a.url', /must have a host/]]],
    ['url bad port', 'cameras:\n  a:\n    url: rtsp://h:0/x\n', [[3, 10, 'cameras.a.url', /port "0"/]]],
    ['url with space in path', 'cameras:\n  a:\n    url: "rtsp://h/my cam"\n', [[3, 10, 'cameras.a.url', /spaces/]]],
    ['sub must be rtsp', 'cameras:\n  a:\n    url: rtsp://h/x\n    sub: builtin:demo\n', [[4, 10, 'cameras.a.sub', /must be rtsp:\/\/… or rtsps:\/\/…/]]],
    ['camera id with space', 'cameras:\n  "my cam":\n    url: rtsp://h/x\n', [[2, 3, 'cameras.my cam', /camera id "my cam" must start with a letter or digit/]]],
    ['camera id starting with dash', 'cameras:\n  -x:\n    url: rtsp://h/x\n', [[2, 3, 'cameras.-x', /camera id/]]],
    ['camera id too long', `cameras:\n  ${'a'.repeat(65)}:\n    url: rtsp://h/x\n`, [[2, 3, `cameras.${'a'.repeat(65)}`, /at most 64/]]],
    ['duplicate camera id', 'cameras:\n  a:\n    url: rtsp://h/1\n  a:\n    url: rtsp://h/2\n', [[4, 3, 'cameras.a', /duplicate camera id "a" \(first defined at line 2\)/]]],
    ['duplicate key inside camera', 'cameras:\n  a:\n    url: rtsp://h/1\n    url: rtsp://h/2\n', [[4, 5, 'cameras.a.url', /duplicate key "url" \(first defined at line 3\)/]]],
    ['cameras as a non-empty list', 'cameras:\n  - url: rtsp://h/x\n', [[2, 3, 'cameras', /must be a mapping of camera id/]]],
    ['users not a list', 'users:\n  admin: x\n', [[2, 3, 'users', /must be a list/]]],
    ['user without name', 'users:\n  - token: t\n', [[2, 5, 'users[0]', /name is required/]]],
    ['user without credential', 'users:\n  - name: bob\n', [[2, 5, 'users[0]', /user "bob" needs a credential: password, passwordHash or token/]]],
    ['user with password and hash', 'users:\n  - name: bob\n    password: a\n    passwordHash: b\n', [[4, 5, 'users[0].passwordHash', /either password or passwordHash, not both/]]],
    ['user bad role', 'users:\n  - name: bob\n    token: t\n    role: root\n', [[4, 11, 'users[0].role', /must be one of admin, viewer \(got "root"\)/]]],
    ['user cameras not strings', 'users:\n  - name: bob\n    token: t\n    cameras: [[a]]\n', [[4, 15, 'users[0].cameras[0]', /must be a string \(got a list\)/]]],
    ['user unknown key', 'users:\n  - name: bob\n    token: t\n    admin: true\n', [[4, 5, 'users[0].admin', /unknown key "admin"/]]],
    ['duplicate user', 'users:\n  - name: bob\n    token: t\n  - name: bob\n    token: u\n', [[4, 11, 'users[1].name', /duplicate user name "bob" \(first defined at line 2\)/]]],
    ['top level not a mapping', '- a\n- b\n', [[1, 1, '', /must be a mapping with server, hls, users and cameras/]]],
  ];

  it.each(cases)('%s', (_name, text, expected) => {
    const errs = errorsOf(text);
    expect(errs.map((e) => [e.line, e.col, e.path])).toEqual(expected.map(([l, c, p]) => [l, c, p]));
    errs.forEach((e, i) => {
      expect(e.message).toMatch(expected[i][3]);
      expect(e.file).toBe('cams.yaml');
    });
  });

  it('reports a YAML syntax error with its line:col', () => {
    const errs = errorsOf('cameras:\n  a:\n    url: [rtsp://h/x\n  b: 1\n');
    expect(errs.length).toBeGreaterThanOrEqual(1);
    expect([errs[0].line, errs[0].col]).toEqual([4, 3]);
    expect(errs[0].path).toMatch(/^cameras\.a/);
  });

  it('reports a bad indentation / nested compact mapping as a syntax error', () => {
    const errs = errorsOf('cameras:\n  a: url: rtsp://h/x\n');
    expect(errs.map((e) => [e.line, e.col])).toEqual([[2, 6]]);
    expect(errs[0].message).toMatch(/compact mappings/);
  });

  it('reports a second YAML document as an error', () => {
    const errs = errorsOf('cameras:\n---\ncameras:\n');
    expect(errs[0].line).toBe(2);
  });

  it('reports all errors in one pass, in file order', () => {
    const text = [
      'server:', //                                   1
      '  http: ":0"', //                              2
      'hls:', //                                      3
      '  segmentCount: 0', //                         4
      'users:', //                                    5
      '  - name: bob', //                             6
      '    role: boss', //                            7
      'cameras:', //                                  8
      '  lobby:', //                                  9
      '    url: rtsp://admin:hunter2@/x', //          10
      '    transport: tcpp', //                       11
      '    colour: red', //                           12
      '  lobby:', //                                  13
      '    url: builtin:demo', //                     14
    ].join('\n');
    const errs = errorsOf(text);
    expect(errs.map((e) => `${e.line}:${e.col} ${e.path}`)).toEqual([
      '2:9 server.http',
      '4:17 hls.segmentCount',
      '6:5 users[0]',
      '7:11 users[0].role',
      '10:10 cameras.lobby.url',
      '11:16 cameras.lobby.transport',
      '12:5 cameras.lobby.colour',
      '13:3 cameras.lobby',
    ]);
    expect(errs.map(formatConfigError).join('\n')).not.toContain('hunter2');
  });

  it('formats as FILE:LINE:COL: path: message', () => {
    const [e] = errorsOf('cameras:\n  a:\n    url: rtsp://h/x\n    audio: loud\n');
    expect(formatConfigError(e)).toBe('cams.yaml:4:12: cameras.a.audio: must be one of auto, off, transcode (got "loud")');
  });

  it('follows aliases', () => {
    const cfg = configOf('cameras:\n  a:\n    url: rtsp://h/x\n    tags: &t [x, y]\n  b:\n    url: rtsp://h/y\n    tags: *t\n');
    expect(cfg.cameras[1].tags).toEqual(['x', 'y']);
  });
});

describe('secrets never reach error messages', () => {
  const passwords = ['S3cr%t', 'hunter2', 'p@ss#w%rd:/!^', 'x!y^z?w', 'pa ss', "o'brien\"q"];

  it.each(passwords)('URL password %j is redacted in every formatted error', (pw) => {
    const text = [
      'cameras:',
      '  a:',
      `    url: ${JSON.stringify(`rtsp://admin:${pw}@:554`)}`,
      '  b:',
      `    url: ${JSON.stringify(`http://admin:${pw}@10.0.0.1/x`)}`,
      '  c:',
      '    url: rtsp://h/x',
      `    sub: ${JSON.stringify(`rtsp://admin:${pw}@h:99999/x`)}`,
      '    password: [1]',
      'users:',
      '  - name: u',
      `    password: ${JSON.stringify(pw)}`,
      '    passwordHash: h',
      '    role: nobody',
      'server:',
      '  webrtc:',
      '    iceServers:',
      `      - urls: ${JSON.stringify(`http://u:${pw}@turn.example.com`)}`,
      `        credential: [${JSON.stringify(pw)}]`,
    ].join('\n');
    const errs = errorsOf(text);
    expect(errs.length).toBeGreaterThanOrEqual(7);
    const all = errs.map(formatConfigError).join('\n');
    expect(all).not.toContain(pw);
    expect(all).toContain('rtsp://admin:***@:554');
  });

  it('the example from the brief: rtsp://admin:S3cr%t@:554', () => {
    const [e] = errorsOf('cameras:\n  a:\n    url: rtsp://admin:S3cr%t@:554\n');
    expect(formatConfigError(e)).toBe('cams.yaml:3:10: cameras.a.url: rtsp:// URL must have a host (got "rtsp://admin:***@:554")');
  });

  it('formatConfigError redacts URLs even in messages built elsewhere', () => {
    const s = formatConfigError({ file: 'f', line: 1, col: 2, path: 'p', message: 'cannot reach rtsp://u:topsecret@cam/x' });
    expect(s).toBe('f:1:2: p: cannot reach rtsp://u:***@cam/x');
  });
});

describe('helpers', () => {
  it.each([
    ['200ms', 200], ['2s', 2000], ['1.5s', 1500], ['1m', 60_000], ['1h', 3_600_000], ['250', 250], [250, 250], [' 10 ms ', 10], ['.5s', 500],
    ['', undefined], ['fast', undefined], ['-1s', undefined], ['1d', undefined], ['1e3ms', undefined], [-5, undefined], [Infinity, undefined], [NaN, undefined],
  ] as [string | number, number | undefined][])('parseDuration(%j) = %j', (input, out) => {
    expect(parseDuration(input)).toBe(out);
  });

  it.each([
    [':8080', '0.0.0.0', 8080], ['8080', '0.0.0.0', 8080], [8080, '0.0.0.0', 8080], ['0.0.0.0:80', '0.0.0.0', 80],
    ['[::1]:8080', '::1', 8080], ['[::]:1', '::', 1], ['cam.local:65535', 'cam.local', 65535],
  ] as [string | number, string, number][])('parseHostPort(%j)', (input, host, port) => {
    expect(parseHostPort(input)).toEqual({ ok: true, host, port });
  });

  it.each([':0', ':65536', ':', '', 'host', '::1:80', '[::1]', '[::1]80', '[zz]:80', 'a b:80', ':80a'])('parseHostPort(%j) fails', (input) => {
    expect(parseHostPort(input).ok).toBe(false);
  });

  it('parsePortRange', () => {
    expect(parsePortRange('8555-8655')).toEqual({ ok: true, min: 8555, max: 8655 });
    expect(parsePortRange('9000')).toEqual({ ok: true, min: 9000, max: 9000 });
    expect(parsePortRange(9000)).toEqual({ ok: true, min: 9000, max: 9000 });
    expect(parsePortRange('2-1').ok).toBe(false);
    expect(parsePortRange('0-10').ok).toBe(false);
    expect(parsePortRange('1-70000').ok).toBe(false);
  });

  it('validateCamera checks an API body with the file rules', () => {
    const good = validateCamera('lobby', { url: 'rtsp://10.0.0.1/x', transport: 'tcp', tags: ['a'] });
    expect(good).toEqual({ ok: true, camera: { id: 'lobby', name: 'lobby', url: 'rtsp://10.0.0.1/x', transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: ['a'] } });
    const bad = validateCamera('bad id', { url: 'rtsp://u:zzsecret@/x', transport: 'x', extra: 1 });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.errors.map((e) => e.path).sort()).toEqual(['cameras.bad id', 'cameras.bad id.extra', 'cameras.bad id.transport', 'cameras.bad id.url']);
    expect(bad.errors.map(formatConfigError).join('\n')).not.toContain('zzsecret');
    expect(validateCamera('x', null).ok).toBe(false);
    expect(validateCamera('x', 'rtsp://h/x').ok).toBe(false);
  });
});

describe('loadConfigFile', () => {
  it('turns read errors into a ConfigError at 1:1', async () => {
    const missing = path.join(os.tmpdir(), 'camgate-no-such-dir', 'cameras.yaml');
    const r = await loadConfigFile(missing);
    expect(r).toEqual({ ok: false, errors: [{ file: missing, line: 1, col: 1, path: '', message: 'file not found' }] });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'camgate-cfg-'));
    try {
      const d = await loadConfigFile(dir);
      expect(d.ok ? '' : d.errors[0].message).toBe('not a regular file');
      const f = path.join(dir, 'c.yaml');
      writeFileSync(f, '\ufeffcameras:\n  a:\n    url: builtin:demo\n');
      const ok = await loadConfigFile(f);
      expect(ok.ok ? ok.config.cameras.map((c) => c.id) : ok.errors).toEqual(['a']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
