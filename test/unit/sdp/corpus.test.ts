import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseSdp, isBackchannel } from '../../../src/sdp/index.ts';
import type { SessionDescription, SdpMedia } from '../../../src/sdp/index.ts';

const dir = fileURLToPath(new URL('../../fixtures/sdp/', import.meta.url));

function load(name: string): SessionDescription {
  const r = parseSdp(readFileSync(dir + name));
  if (!r.ok) throw new Error(`${name}: ${r.error}`);
  return r.value;
}

/** The fields a person reading the SDP would write down for each media. */
type Expect = Partial<Pick<SdpMedia, 'kind' | 'encoding' | 'payloadType' | 'clockRate' | 'channels' | 'control' | 'direction' | 'framerate' | 'dimensions'>> & {
  fmtp?: Record<string, string>;
};

const cases: Record<string, { control?: string; medias: Expect[]; skipped?: number; warnings?: string[] }> = {
  'anjvision_describe.txt': {
    control: '*',
    medias: [
      {
        kind: 'video', encoding: 'H265', payloadType: 96, clockRate: 90000, control: 'trackID=1', framerate: 5,
        dimensions: { width: 1280, height: 720 },
        fmtp: { 'sprop-vps': 'QAEMAf//AUAAAAMAAAMAAAMAAAMAmawJ', 'sprop-pps': 'RAHAc8BBgwk=', 'level-id': '153', 'packetization-mode': '0' },
      },
    ],
  },
  'anpviz_sdp.txt': {
    control: '*',
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'trackID=1', framerate: 12, dimensions: { width: 704, height: 576 },
        fmtp: { 'profile-level-id': '4D401F', 'packetization-mode': '0', 'sprop-parameter-sets': 'Z01AH5WgLASabAQ=,aO48gA==' } },
      // AAC on static PT 0: the rtpmap wins over the static table (PCMU)
      { kind: 'audio', encoding: 'MPEG4-GENERIC', payloadType: 0, clockRate: 16000, channels: 2, control: 'trackID=2', fmtp: { config: '1408' } },
    ],
    warnings: ['missing final newline'],
  },
  'bunny_describe.txt': {
    control: '*',
    medias: [
      { kind: 'audio', encoding: 'MPEG4-GENERIC', payloadType: 96, clockRate: 12000, channels: 2, control: 'trackID=1',
        fmtp: { mode: 'AAC-hbr', sizelength: '13', indexlength: '3', indexdeltalength: '3', config: '1490' } },
      { kind: 'video', encoding: 'H264', payloadType: 97, clockRate: 90000, control: 'trackID=2', framerate: 24, dimensions: { width: 240, height: 160 },
        fmtp: { 'profile-level-id': '42C01E', 'sprop-parameter-sets': 'Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==' } },
    ],
  },
  'dahua_describe_h264_aac_onvif.txt': {
    control: '*',
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'trackID=0', direction: 'recvonly', framerate: 15,
        fmtp: { 'profile-level-id': '64001E', 'sprop-parameter-sets': 'Z2QAHqwsaoLA9puCgIKgAAADACAAAAMD0IAA,aO4xshsA' } },
      { kind: 'audio', encoding: 'MPEG4-GENERIC', payloadType: 97, clockRate: 48000, channels: 1, control: 'trackID=1', direction: 'recvonly',
        fmtp: { streamtype: '5', config: '1188', sizelength: '13' } },
      { kind: 'application', encoding: 'VND.ONVIF.METADATA', payloadType: 107, clockRate: 90000, control: 'trackID=4' },
    ],
  },
  'dahua_describe_h265_pcma.txt': {
    control: '*',
    medias: [
      { kind: 'video', encoding: 'H265', payloadType: 98, clockRate: 90000, control: 'trackID=0', framerate: 12,
        fmtp: { 'sprop-pps': 'RAHA8saNA7NA', 'profile-id': '1' } },
      { kind: 'audio', encoding: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1, control: 'trackID=1' },
    ],
  },
  'foscam_describe.txt': {
    control: '*',
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'track1',
        fmtp: { 'profile-level-id': '4D001F', 'sprop-parameter-sets': 'Z00AH5WoFAFuQA==,aO48gA==' } },
      // PT 0 without rtpmap: static table (Q42)
      { kind: 'audio', encoding: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1, control: 'track2' },
    ],
  },
  'geovision_sdp.txt': {
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 105, clockRate: 90000, control: 'rtsp://192.168.5.237/media/video1/video', direction: 'recvonly',
        fmtp: { 'profile-level-id': '4d4032', 'packetization-mode': '1' } },
      { kind: 'application', encoding: 'VND.ONVIF.METADATA', payloadType: 107, control: 'rtsp://192.168.5.237/media/video1/metadata',
        fmtp: { decodertag: 'h3c-v3', rtcp: '0' } },
    ],
    warnings: ['missing t= line'],
  },
  'gw_main_describe.txt': {
    control: '*',
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'video',
        fmtp: { 'profile-level-id': '5046314', 'sprop-parameter-sets': 'Z00AKpWoHgCJ+WbgICAgQAAAAAE=,aO48gAAAAAE=' } },
      // rtpmap "PCMU/8000/1" overrides static PT 8 (PCMA), as retina does
      { kind: 'audio', encoding: 'PCMU', payloadType: 8, clockRate: 8000, channels: 1, control: 'audio', fmtp: { vad: 'no' } },
    ],
  },
  'gw_sub_describe.txt': {
    control: '*',
    medias: [{ kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'video', fmtp: { 'profile-level-id': '5046302' } }],
  },
  'h264dvr_describe.txt': {
    control: '*',
    medias: [
      // `a=framerate:0S` then `a=framerate:25`; rtpmap with a trailing space
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'trackID=3', framerate: 25,
        fmtp: { 'profile-level-id': '420029', 'packetization-mode': '1', 'sprop-parameter-sets': 'Z0IAKZY1QPAET8s3AQEBQAAAAwBAAAAHoQ==,aM4xsg==' } },
      { kind: 'audio', encoding: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1, control: 'trackID=4' },
    ],
    warnings: ['trailing whitespace'],
  },
  'hikvision_describe.txt': {
    control: 'rtsp://192.168.5.106:554/Streaming/Channels/101/?transportmode=unicast&profile=Profile_1',
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, direction: 'recvonly', dimensions: { width: 1920, height: 1080 },
        control: 'rtsp://192.168.5.106:554/Streaming/Channels/101/trackID=1?transportmode=unicast&profile=Profile_1',
        fmtp: { 'sprop-parameter-sets': 'Z00AKZpkA8ARPyzUBAQFAAADA+gAAOpgBA==,aO48gA==' } },
      { kind: 'application', encoding: 'VND.ONVIF.METADATA', payloadType: 107, clockRate: 90000,
        control: 'rtsp://192.168.5.106:554/Streaming/Channels/101/trackID=3?transportmode=unicast&profile=Profile_1' },
    ],
  },
  'ipcam_describe.txt': {
    control: '*',
    medias: [{ kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'trackID=1', framerate: 25,
      fmtp: { 'profile-level-id': '4d0020', 'sprop-parameter-sets': 'J00AII1qBQB5oQAAAwABAAADACiE,KO48gA==' } }],
  },
  'macrovideo_describe.txt': {
    control: '*',
    medias: [{ kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'track1', fmtp: { 'profile-level-id': 'TeAo' } }],
    warnings: ['missing o= line'],
  },
  'missing_content_type_describe.txt': {
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'streamid=0', fmtp: { 'profile-level-id': '64000D' } },
      { kind: 'audio', encoding: 'MPEG4-GENERIC', payloadType: 97, clockRate: 48000, channels: 2, control: 'streamid=1', fmtp: { config: '119056E500' } },
    ],
  },
  'reolink_describe.txt': {
    control: '*',
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'trackID=1',
        fmtp: { 'profile-level-id': '640033', 'sprop-parameter-sets': 'Z2QAM6zoAoALWQ==,aO48MA==' } },
      // `config=1408; profile=1;` — trailing ';' and a space
      { kind: 'audio', encoding: 'MPEG4-GENERIC', payloadType: 97, clockRate: 16000, channels: 1, control: 'trackID=2', fmtp: { config: '1408', profile: '1' } },
    ],
  },
  'reolink_describe_control_first.txt': {
    control: '*',
    medias: [
      { kind: 'video', encoding: 'H264', control: 'trackID=1' },
      { kind: 'audio', encoding: 'MPEG4-GENERIC', clockRate: 16000, control: 'trackID=2' },
    ],
  },
  'tplink_sdp.txt': {
    medias: [
      { kind: 'video', encoding: 'H265', payloadType: 96, clockRate: 90000, control: 'track1', fmtp: { 'sprop-pps': 'RAHAcvAbJA==' } },
      { kind: 'audio', encoding: 'PCMA', payloadType: 8, clockRate: 8000, control: 'track2' },
    ],
    skipped: 1, // m=application/TP-LINK … smart/1/90000
  },
  'ubiquiti_sdp.txt': {
    control: '*',
    medias: [
      // session-level a=recvonly applies; `SizeLength` etc. lower-cased (Q40)
      { kind: 'audio', encoding: 'MPEG4-GENERIC', payloadType: 96, clockRate: 48000, channels: 1, control: 'trackID=0', direction: 'recvonly',
        fmtp: { config: '1188', sizelength: '13', indexlength: '3', indexdeltalength: '3', mode: 'AAC-hbr' } },
      { kind: 'audio', encoding: 'OPUS', payloadType: 96, clockRate: 48000, channels: 2, control: 'trackID=1', fmtp: {} },
      { kind: 'video', encoding: 'H264', payloadType: 97, clockRate: 90000, control: 'trackID=2', fmtp: { 'profile-level-id': '4d402a' } },
    ],
    warnings: ['fmtp without parameters'],
  },
  'vstarcam_describe.txt': {
    medias: [
      { kind: 'video', encoding: 'H264', payloadType: 96, clockRate: 90000, control: 'track0', fmtp: { 'profile-level-id': '4d002a' } },
      // `m=audio 0 RTP/AVP 8\t ` (tab + space after the PT)
      { kind: 'audio', encoding: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1, control: 'track1' },
    ],
  },
};

describe('SDP corpus (real cameras)', () => {
  it('has an expectation for every fixture', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.txt') && f !== 'LICENSE-MIT.txt').sort();
    expect(files).toEqual(Object.keys(cases).sort());
  });

  for (const [file, exp] of Object.entries(cases)) {
    it(file, () => {
      const s = load(file);
      expect(s.control).toBe(exp.control);
      expect(s.medias.length).toBe(exp.medias.length);
      exp.medias.forEach((m, i) => {
        const got = s.medias[i];
        const { fmtp, ...fields } = m;
        expect(got).toMatchObject(fields);
        if (fmtp) expect(got.fmtp).toMatchObject(fmtp);
        // fmtp keys are always lower-case
        for (const k of Object.keys(got.fmtp)) expect(k).toBe(k.toLowerCase());
        expect(got.payloadTypes).toContain(got.payloadType);
      });
      expect(s.skipped.length).toBe(exp.skipped ?? 0);
      for (const w of exp.warnings ?? []) expect(s.warnings).toContain(w);
      // none of these real cameras offers a backchannel
      expect(s.medias.filter((m) => isBackchannel(m, s))).toEqual([]);
    });
  }

  it('keeps origin, name and session connection', () => {
    const s = load('bunny_describe.txt');
    expect(s.origin).toBe('- 1642021126 1642021126 IN IP4 34.227.104.115');
    expect(s.name).toBe('BigBuckBunny_115k.mov');
    expect(s.connection).toEqual({ address: '34.227.104.115' });
    expect(s.medias[0].connection).toEqual({ address: '34.227.104.115' });
    const h = load('h264dvr_describe.txt');
    expect(h.medias[1].connection).toEqual({ address: '192.168.168.100' });
  });

  it('TP-Link: the non-RTP application media is skipped with a reason (Q33)', () => {
    const s = load('tplink_sdp.txt');
    expect(s.skipped[0]).toMatch(/TP-LINK/);
    expect(s.medias.map((m) => m.control)).toEqual(['track1', 'track2']);
  });
});
