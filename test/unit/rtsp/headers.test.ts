import { describe, it, expect } from 'vitest';
import { parseTransport, formatTransport, type TransportSpec } from '../../../src/rtsp/headers/transport.ts';
import { parseSession } from '../../../src/rtsp/headers/session.ts';
import { parseRtpInfo } from '../../../src/rtsp/headers/rtpinfo.ts';
import { parseRange } from '../../../src/rtsp/headers/range.ts';
import { parsePublic } from '../../../src/rtsp/headers/public.ts';

const one = (v: string): TransportSpec => {
  const r = parseTransport(v);
  expect(r.ok, v).toBe(true);
  if (!r.ok) throw new Error(r.error);
  expect(r.value).toHaveLength(1);
  return r.value[0]!;
};

describe('Q28 Transport table', () => {
  const cases: [string, string, TransportSpec][] = [
    [
      'single server_port, no range',
      'RTP/AVP;unicast;client_port=5000-5001;server_port=8052',
      { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: [5000, 5001], serverPort: [8052, 8053] },
    ],
    [
      'ssrc with many leading spaces (Hikvision)',
      'RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=     D93FF',
      { profile: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: [0, 1], ssrc: 0xd93ff },
    ],
    [
      'ssrc with one leading space (Hikvision fixture)',
      'RTP/AVP/TCP;unicast;interleaved=0-1;ssrc= d6d6627',
      { profile: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: [0, 1], ssrc: 0xd6d6627 },
    ],
    [
      'quoted upper-case mode',
      'RTP/AVP;unicast;client_port=6000-6001;server_port=7000-7001;mode="PLAY"',
      { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: [6000, 6001], serverPort: [7000, 7001], mode: 'play' },
    ],
    [
      'OpenIPC: explicit /UDP and no server_port',
      'RTP/AVP/UDP;unicast;client_port=59612-59613',
      { profile: 'RTP/AVP/UDP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: [59612, 59613] },
    ],
    [
      'multicast destination/port/ttl',
      'RTP/AVP;multicast;destination=239.1.1.1;port=7000-7001;ttl=127',
      { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'multicast', destination: '239.1.1.1', port: [7000, 7001], ttl: 127 },
    ],
    [
      'luckfox: ssrc before unicast, decimal-looking ssrc read as hex',
      'RTP/AVP;ssrc=22345685;unicast;client_port=54060-54061;server_port=49152-49153',
      { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', ssrc: 0x22345685, clientPort: [54060, 54061], serverPort: [49152, 49153] },
    ],
    [
      'H264DVR: ssrc=0 and source=127.0.0.1 parsed as given (the client decides to ignore them)',
      'RTP/AVP;unicast;mode=PLAY;source=127.0.0.1;client_port=18714-18715;server_port=40004-40005;ssrc=0',
      { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', mode: 'play', source: '127.0.0.1', clientPort: [18714, 18715], serverPort: [40004, 40005], ssrc: 0 },
    ],
    [
      'invalid (10-digit decimal) ssrc ignored, empty source ignored',
      'RTP/AVP;unicast;source=;client_port=5000-5001;server_port=6970-6971;ssrc=1449463210',
      { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: [5000, 5001], serverPort: [6970, 6971] },
    ],
    [
      'spaces around parameters and lower-case profile',
      ' rtp/avp/tcp ; unicast ; interleaved = 2-3 ',
      { profile: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: [2, 3] },
    ],
    ['single interleaved channel', 'RTP/AVP/TCP;interleaved=4', { profile: 'RTP/AVP/TCP', lowerTransport: 'TCP', interleaved: [4, 5] }],
    ['server_port=0 kept for the client to judge', 'RTP/AVP;unicast;client_port=5000-5001;server_port=0', { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: [5000, 5001], serverPort: [0, 1] }],
    ['SAVP profile', 'RTP/SAVP;unicast;client_port=5000-5001', { profile: 'RTP/SAVP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: [5000, 5001] }],
  ];
  it.each(cases)('%s', (_name, value, expected) => {
    expect(one(value)).toEqual(expected);
  });

  it('comma-separated alternatives', () => {
    const r = parseTransport('RTP/AVP;unicast;client_port=5000-5001, RTP/AVP/TCP;unicast;interleaved=0-1');
    expect(r.ok && r.value.map((t) => t.lowerTransport)).toEqual(['UDP', 'TCP']);
  });

  it('rejects values with no transport-protocol at all', () => {
    expect(parseTransport('unicast;client_port=1-2').ok).toBe(false);
    expect(parseTransport('').ok).toBe(false);
  });

  it('formatTransport round-trips', () => {
    const specs: TransportSpec[] = [
      { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: [5000, 5001] },
      { profile: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: [0, 1], ssrc: 0x0d6d6627 },
      { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'multicast', destination: '239.1.1.1', port: [7000, 7001], ttl: 127 },
    ];
    expect(formatTransport(specs[0]!)).toBe('RTP/AVP;unicast;client_port=5000-5001');
    expect(formatTransport(specs[1]!)).toBe('RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=0D6D6627');
    for (const s of specs) expect(one(formatTransport(s))).toEqual(s);
  });
});

describe('Session', () => {
  it.each([
    ['708345999;timeout=60', { id: '708345999', timeout: 60 }],
    ['9a90de54; timeout=120', { id: '9a90de54', timeout: 120 }],
    ['       708345999', { id: '708345999' }],
    ['F8F8E425', { id: 'F8F8E425' }],
    ['abc;timeout=junk', { id: 'abc' }],
    ['abc;Timeout = 30', { id: 'abc', timeout: 30 }],
  ])('%j', (v, expected) => {
    expect(parseSession(v)).toEqual({ ok: true, value: expected });
  });
  it('rejects an empty id', () => {
    expect(parseSession('').ok).toBe(false);
    expect(parseSession(';timeout=60').ok).toBe(false);
  });
});

describe('RTP-Info', () => {
  it('URLs with query strings and semicolons survive', () => {
    expect(parseRtpInfo('url=rtsp://h/a;b=1/trackID=1;seq=5;rtptime=10, url=rtsp://h/x?y=1,2;seq=6')).toEqual({
      ok: true,
      value: [
        { url: 'rtsp://h/a;b=1/trackID=1', seq: 5, rtptime: 10 },
        { url: 'rtsp://h/x?y=1,2', seq: 6 },
      ],
    });
  });
  it('out-of-range values are left unset', () => {
    expect(parseRtpInfo('url=a;seq=70000;rtptime=4294967296')).toEqual({ ok: true, value: [{ url: 'a' }] });
  });
  it('no url is an error', () => {
    expect(parseRtpInfo('seq=1;rtptime=2').ok).toBe(false);
  });
});

describe('Range', () => {
  it.each([
    ['npt=0.000-', { unit: 'npt', start: '0.000' }],
    ['npt=now-', { unit: 'npt', start: 'now' }],
    ['npt=0- 596.48', { unit: 'npt', start: '0', end: '596.48' }],
    ['npt=-20', { unit: 'npt', end: '20' }],
    ['clock=19961108T143720.25Z-', { unit: 'clock', start: '19961108T143720.25Z' }],
    ['smpte=10:07:00-10:07:33:05', { unit: 'smpte', start: '10:07:00', end: '10:07:33:05' }],
    ['npt=5-;time=19970123T143720Z', { unit: 'npt', start: '5' }],
  ])('%j', (v, expected) => {
    expect(parseRange(v)).toEqual({ ok: true, value: expected });
  });
  it('rejects unknown units', () => {
    expect(parseRange('bytes=0-').ok).toBe(false);
    expect(parseRange('npt').ok).toBe(false);
  });
});

describe('Public', () => {
  it('upper-cases and trims', () => {
    expect([...parsePublic(' options, describe ,SETUP,,PLAY ')]).toEqual(['OPTIONS', 'DESCRIBE', 'SETUP', 'PLAY']);
    expect(parsePublic(undefined).size).toBe(0);
  });
});
