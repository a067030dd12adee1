import { describe, it, expect } from 'vitest';
import * as sdpTransform from 'sdp-transform';
import { parseSdp, isBackchannel, buildSdp, parseFmtpParams, parseConnection } from '../../../src/sdp/index.ts';
import type { SessionDescription } from '../../../src/sdp/index.ts';

const crlf = (lines: string[]) => lines.join('\r\n') + '\r\n';

function parse(text: string | Buffer): SessionDescription {
  const r = parseSdp(text);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const HEAD = ['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=cam', 'c=IN IP4 0.0.0.0', 't=0 0'];
const VIDEO = ['m=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAKeKQFAe2AtwEBAaQeJEV,aM48gA==', 'a=control:trackID=1'];

describe('Q32 structurally broken SDP', () => {
  it('missing v=/o=/s=/t= lines', () => {
    const s = parse(crlf(['c=IN IP4 0.0.0.0', ...VIDEO]));
    expect(s.medias).toHaveLength(1);
    expect(s.medias[0].encoding).toBe('H264');
    expect(s.warnings).toEqual(expect.arrayContaining(['missing v= line', 'missing o= line', 'missing s= line', 'missing t= line']));
  });

  it('Reolink: glued `a=sendonlym=audio …` is split into two lines', () => {
    const s = parse(crlf([...HEAD, ...VIDEO, 'a=recvonly', 'm=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/16000', 'a=control:trackID=2', 'a=recvonly',
      'm=audio 0 RTP/AVP 0', 'a=control:trackID=3', 'a=sendonlym=audio 0 RTP/AVP 8', 'a=control:trackID=4']).replace('a=control:trackID=3\r\n', 'a=control:trackID=3\r\na=sendonly'));
    expect(s.warnings).toContain('glued lines repaired');
    // the PT 0 media got a=sendonly twice (glued + repaired); the PT 8 media is its own section
    expect(s.medias.map((m) => [m.payloadType, m.control, m.direction])).toEqual([
      [96, 'trackID=1', 'recvonly'],
      [97, 'trackID=2', 'recvonly'],
      [0, 'trackID=3', 'sendonly'],
      [8, 'trackID=4', undefined],
    ]);
  });

  it('glued media line directly after any attribute', () => {
    const s = parse(crlf([...HEAD, 'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=control:trackID=1m=audio 0 RTP/AVP 8', 'a=control:trackID=2']));
    expect(s.medias.map((m) => [m.encoding, m.control])).toEqual([['H264', 'trackID=1'], ['PCMA', 'trackID=2']]);
  });

  it('whitespace-only lines, trailing spaces, LF-only endings, no final newline', () => {
    const text = ['v=0', 'o=- 1 1 IN IP4 10.0.0.1  ', 's=cam', '   ', '\t', 't=0 0', 'm=video 0 RTP/AVP 96  ', 'a=rtpmap:96 H264/90000 ', 'a=control:trackID=1 '].join('\n');
    const s = parse(text);
    expect(s.medias).toHaveLength(1);
    expect(s.medias[0]).toMatchObject({ encoding: 'H264', clockRate: 90000, control: 'trackID=1', payloadTypes: [96] });
    expect(s.warnings).toEqual(expect.arrayContaining(['LF-only line endings', 'whitespace-only lines', 'trailing whitespace', 'missing final newline']));
    expect(s.origin).toBe('- 1 1 IN IP4 10.0.0.1');
  });

  it('CR-only line endings', () => {
    const s = parse([...HEAD, ...VIDEO].join('\r'));
    expect(s.medias[0].control).toBe('trackID=1');
    expect(s.warnings).toContain('CR-only line endings');
  });

  it('broken c= lines: `c=IN`, `c=IN c=IN IP4 …`, `c=IN 198.51.100.1`, multicast TTL', () => {
    expect(parseConnection('IN')).toEqual({ repaired: true });
    expect(parseConnection('IN c=IN IP4 0.0.0.0')).toEqual({ connection: { address: '0.0.0.0' }, repaired: true });
    expect(parseConnection('IN 198.51.100.1')).toEqual({ connection: { address: '198.51.100.1' }, repaired: true });
    expect(parseConnection('IN IP4 239.1.2.3/127')).toEqual({ connection: { address: '239.1.2.3', ttl: 127 }, repaired: false });
    const s = parse(crlf(['v=0', 's=x', 'c=IN', 't=0 0', 'm=video 0 RTP/AVP 96', 'c=IN 198.51.100.1', 'a=rtpmap:96 H264/90000']));
    expect(s.connection).toBeUndefined();
    expect(s.medias[0].connection).toEqual({ address: '198.51.100.1' });
    expect(s.warnings).toContain('broken c= line');
  });

  it('fmtp before rtpmap, `a=fmtp:96` without parameters, b=RR/b=RS/b=TIAS', () => {
    const s = parse(crlf([...HEAD, 'm=video 0 RTP/AVP 96', 'b=AS:5000', 'b=RR:0', 'b=RS:0', 'b=TIAS:64000', 'a=fmtp:96 profile-level-id=42e01f;packetization-mode=1',
      'a=rtpmap:96 H264/90000', 'm=audio 0 RTP/AVP 97', 'a=fmtp:97', 'a=rtpmap:97 PCMA/16000']));
    expect(s.medias[0].fmtp).toEqual({ 'profile-level-id': '42e01f', 'packetization-mode': '1' });
    expect(s.medias[1]).toMatchObject({ encoding: 'PCMA', clockRate: 16000, fmtp: {} });
    expect(s.warnings).toEqual(expect.arrayContaining(['fmtp before rtpmap', 'fmtp without parameters']));
  });

  it('duplicated s=/i= inside media sections and garbage lines are ignored', () => {
    const s = parse(crlf([...HEAD, 'm=video 0 RTP/AVP 96', 's=again', 'i=info', 'garbage here', 'a=rtpmap:96 H264/90000']));
    expect(s.name).toBe('cam');
    expect(s.medias).toHaveLength(1);
    expect(s.skipped.some((x) => x.includes('garbage'))).toBe(true);
  });

  it('fmtp keys are case-insensitive and values trimmed (Q40)', () => {
    expect(parseFmtpParams(' streamtype=5; profile-level-id=15; mode=AAC-hbr; config=1188; SizeLength=13; IndexLength=3; indexDeltalength=3; CTSDeltaLength=0;'))
      .toEqual({ streamtype: '5', 'profile-level-id': '15', mode: 'AAC-hbr', config: '1188', sizelength: '13', indexlength: '3', indexdeltalength: '3', ctsdeltalength: '0' });
    // base64 values keep their '=' padding
    expect(parseFmtpParams('sprop-parameter-sets=Z00AKQ==,aO48gA==')['sprop-parameter-sets']).toBe('Z00AKQ==,aO48gA==');
  });

  it('Q41: fmtp PT that matches nothing is used when it is the only one', () => {
    const s = parse(crlf([...HEAD, 'm=audio 0 RTP/AVP 97', 'a=rtpmap:97 MP4A-LATM/16000/1', 'a=fmtp:40 profile-level-id=1709392648; cpresent=0;config=']));
    expect(s.medias[0]).toMatchObject({ encoding: 'MP4A-LATM', clockRate: 16000, channels: 1, fmtp: { cpresent: '0', config: '', 'profile-level-id': '1709392648' } });
  });

  it('errors only when there is no m= section', () => {
    expect(parseSdp(crlf(HEAD)).ok).toBe(false);
    expect(parseSdp('').ok).toBe(false);
    expect(parseSdp(Buffer.from([0xff, 0xfe, 0x00, 0x01])).ok).toBe(false);
  });
});

describe('Q33 non-standard media types, payload types and names', () => {
  it('m=application/TP-LINK is skipped; m=metadata with a numeric PT is kept as application', () => {
    const s = parse(crlf([...HEAD, ...VIDEO, 'm=application/TP-LINK 0 RTP/AVP smart/1/90000', 'a=rtpmap:95 TP-LINK/90000', 'a=control:track3',
      'm=metadata 0 RTP/AVP 107', 'a=rtpmap:107 vnd.onvif.metadata/90000', 'a=control:track4']));
    expect(s.medias.map((m) => [m.type, m.kind, m.encoding])).toEqual([
      ['video', 'video', 'H264'],
      ['metadata', 'application', 'VND.ONVIF.METADATA'],
    ]);
    expect(s.skipped).toHaveLength(1);
    expect(s.skipped[0]).toContain('application/TP-LINK');
  });

  it('PT 8 with `a=rtpmap:0 pcma/8000/1` ⇒ PCMA on PT 8', () => {
    const s = parse(crlf([...HEAD, 'm=audio 0 RTP/AVP 8', 'a=rtpmap:0 pcma/8000/1', 'a=control:track2']));
    expect(s.medias[0]).toMatchObject({ payloadType: 8, encoding: 'PCMA', clockRate: 8000, channels: 1 });
    expect(s.warnings).toContain('rtpmap payload type does not match m= line');
  });

  it('missing rtpmap on static PT 0/8/26', () => {
    const s = parse(crlf([...HEAD, 'm=audio 0 RTP/AVP 0', 'm=audio 0 RTP/AVP 8', 'm=video 0 RTP/AVP 26', 'm=audio 0 RTP/AVP 14', 'm=audio 0 RTP/AVP 11']));
    expect(s.medias.map((m) => [m.kind, m.payloadType, m.encoding, m.clockRate, m.channels])).toEqual([
      ['audio', 0, 'PCMU', 8000, 1],
      ['audio', 8, 'PCMA', 8000, 1],
      ['video', 26, 'JPEG', 90000, undefined],
      ['audio', 14, 'MPA', 90000, undefined],
      ['audio', 11, 'L16', 44100, 1],
    ]);
  });

  it('lower-case encoding names are upper-cased; Bosch H.264 on PT 35', () => {
    const s = parse(crlf([...HEAD, 'm=video 0 RTP/AVP 35', 'a=rtpmap:35 h264/90000', 'm=audio 0 RTP/AVP 97', 'a=rtpmap:97 mpeg4-generic/8000/1']));
    expect(s.medias.map((m) => [m.payloadType, m.encoding])).toEqual([[35, 'H264'], [97, 'MPEG4-GENERIC']]);
  });

  it('two rtpmaps for one PT: the one agreeing with the static table wins', () => {
    const s = parse(crlf([...HEAD, 'm=audio 0 RTP/AVP 0', 'a=rtpmap:0 PCMA/8000', 'a=rtpmap:0 PCMU/8000']));
    expect(s.medias[0].encoding).toBe('PCMU');
    expect(s.warnings).toContain('duplicate rtpmap');
  });

  it('dynamic PT without any rtpmap is skipped; first usable PT is chosen', () => {
    const s = parse(crlf([...HEAD, 'm=video 0 RTP/AVP 96', 'a=control:x', 'm=audio 0 RTP/AVP 101 0', 'a=control:y']));
    expect(s.medias).toHaveLength(1);
    expect(s.medias[0]).toMatchObject({ payloadTypes: [101, 0], payloadType: 0, encoding: 'PCMU', control: 'y' });
    expect(s.skipped[0]).toMatch(/no rtpmap/);
  });
});

describe('Q34 direction and backchannel', () => {
  it('(a) all medias sendonly ⇒ none is a backchannel', () => {
    const s = parse(crlf([...HEAD, ...VIDEO, 'a=sendonly', 'm=audio 0 RTP/AVP 0', 'a=control:trackID=2', 'a=sendonly']));
    expect(s.medias.map((m) => m.direction)).toEqual(['sendonly', 'sendonly']);
    expect(s.medias.map((m) => isBackchannel(m, s))).toEqual([false, false]);
  });

  it('(b) video recvonly + audio recvonly + audio sendonly ⇒ only the last is a backchannel', () => {
    const s = parse(crlf([...HEAD, ...VIDEO, 'a=recvonly', 'm=audio 0 RTP/AVP 0', 'a=control:trackID=2', 'a=recvonly',
      'm=audio 0 RTP/AVP 0', 'a=control:trackID=3', 'a=sendonly']));
    expect(s.medias.map((m) => isBackchannel(m, s))).toEqual([false, false, true]);
  });

  it('a sendonly video is never a backchannel', () => {
    const s = parse(crlf([...HEAD, ...VIDEO, 'a=sendonly', 'm=audio 0 RTP/AVP 0', 'a=recvonly']));
    expect(isBackchannel(s.medias[0], s)).toBe(false);
  });
});

describe('Q43 Opus', () => {
  it('OPUS/48000/1 and /16000 ⇒ clockRate 48000', () => {
    const s = parse(crlf([...HEAD, 'm=audio 0 RTP/AVP 111', 'a=rtpmap:111 OPUS/48000/1', 'm=audio 0 RTP/AVP 112', 'a=rtpmap:112 opus/16000/2', 'a=fmtp:112 sprop-stereo=1']));
    expect(s.medias.map((m) => [m.encoding, m.clockRate, m.channels])).toEqual([['OPUS', 48000, 1], ['OPUS', 48000, 2]]);
    expect(s.warnings).toContain('Opus clock rate forced to 48000');
  });
});

describe('extra attributes', () => {
  it('framerate, x-dimensions, framesize, cliprect', () => {
    const s = parse(crlf([...HEAD, 'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=x-framerate: 12.5', 'a=cliprect:0,0,576,704',
      'm=video 0 RTP/AVP 97', 'a=rtpmap:97 H265/90000', 'a=framesize:97 1280-720', 'a=framerate:30']));
    expect(s.medias[0]).toMatchObject({ framerate: 12.5, dimensions: { width: 704, height: 576 } });
    expect(s.medias[1]).toMatchObject({ framerate: 30, dimensions: { width: 1280, height: 720 } });
  });
});

describe('buildSdp', () => {
  const built = buildSdp({
    sessionName: 'lobby',
    medias: [
      { kind: 'video', payloadType: 96, encoding: 'H264', clockRate: 90000, fmtp: { 'packetization-mode': '1', 'profile-level-id': '640028', 'sprop-parameter-sets': 'Z2QAKA==,aO48gA==' }, control: 'trackID=0' },
      { kind: 'audio', payloadType: 97, encoding: 'MPEG4-GENERIC', clockRate: 16000, channels: 2, fmtp: { mode: 'AAC-hbr', config: '1410' }, control: 'trackID=1' },
      { kind: 'audio', payloadType: 111, encoding: 'opus', clockRate: 48000, channels: 1, control: 'trackID=2' },
      { kind: 'audio', payloadType: 8, encoding: 'PCMA', clockRate: 8000, control: 'trackID=3' },
    ],
  });

  it('re-parses to the same medias, with no repairs needed', () => {
    expect(built.endsWith('\r\n')).toBe(true);
    const s = parse(built);
    expect(s.warnings).toEqual([]);
    expect(s.skipped).toEqual([]);
    expect(s.name).toBe('lobby');
    expect(s.control).toBe('*');
    expect(s.medias.map((m) => [m.kind, m.payloadType, m.encoding, m.clockRate, m.channels, m.control])).toEqual([
      ['video', 96, 'H264', 90000, undefined, 'trackID=0'],
      ['audio', 97, 'MPEG4-GENERIC', 16000, 2, 'trackID=1'],
      ['audio', 111, 'OPUS', 48000, 2, 'trackID=2'],
      ['audio', 8, 'PCMA', 8000, 1, 'trackID=3'],
    ]);
    expect(s.medias[0].fmtp).toEqual({ 'packetization-mode': '1', 'profile-level-id': '640028', 'sprop-parameter-sets': 'Z2QAKA==,aO48gA==' });
  });

  it('is standard enough for sdp-transform', () => {
    const t = sdpTransform.parse(built);
    expect(t.version).toBe(0);
    expect(t.media.map((m) => m.rtp[0].codec)).toEqual(['H264', 'MPEG4-GENERIC', 'opus', 'PCMA']);
    expect(t.media[2].rtp[0].encoding).toBe(2);
  });

  it('cannot be broken by newlines in user strings', () => {
    const s = parse(buildSdp({ sessionName: 'a\r\nm=video 0 RTP/AVP 99', medias: [{ kind: 'video', payloadType: 26, encoding: 'JPEG', clockRate: 90000, control: 'x\ny' }] }));
    expect(s.medias).toHaveLength(1);
  });
});
