/** RFC 3551 §6 static RTP payload types (tables 4 and 5), used when a camera omits the rtpmap. */
export interface StaticPayload {
  encoding: string;
  kind: 'audio' | 'video';
  clockRate: number;
  channels?: number;
}

export const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, StaticPayload> = new Map<number, StaticPayload>([
  [0, { encoding: 'PCMU', kind: 'audio', clockRate: 8000, channels: 1 }],
  [3, { encoding: 'GSM', kind: 'audio', clockRate: 8000, channels: 1 }],
  [4, { encoding: 'G723', kind: 'audio', clockRate: 8000, channels: 1 }],
  [5, { encoding: 'DVI4', kind: 'audio', clockRate: 8000, channels: 1 }],
  [6, { encoding: 'DVI4', kind: 'audio', clockRate: 16000, channels: 1 }],
  [7, { encoding: 'LPC', kind: 'audio', clockRate: 8000, channels: 1 }],
  [8, { encoding: 'PCMA', kind: 'audio', clockRate: 8000, channels: 1 }],
  [9, { encoding: 'G722', kind: 'audio', clockRate: 8000, channels: 1 }],
  [10, { encoding: 'L16', kind: 'audio', clockRate: 44100, channels: 2 }],
  [11, { encoding: 'L16', kind: 'audio', clockRate: 44100, channels: 1 }],
  [12, { encoding: 'QCELP', kind: 'audio', clockRate: 8000, channels: 1 }],
  [13, { encoding: 'CN', kind: 'audio', clockRate: 8000, channels: 1 }],
  [14, { encoding: 'MPA', kind: 'audio', clockRate: 90000 }],
  [15, { encoding: 'G728', kind: 'audio', clockRate: 8000, channels: 1 }],
  [16, { encoding: 'DVI4', kind: 'audio', clockRate: 11025, channels: 1 }],
  [17, { encoding: 'DVI4', kind: 'audio', clockRate: 22050, channels: 1 }],
  [18, { encoding: 'G729', kind: 'audio', clockRate: 8000, channels: 1 }],
  [25, { encoding: 'CELB', kind: 'video', clockRate: 90000 }],
  [26, { encoding: 'JPEG', kind: 'video', clockRate: 90000 }],
  [28, { encoding: 'NV', kind: 'video', clockRate: 90000 }],
  [31, { encoding: 'H261', kind: 'video', clockRate: 90000 }],
  [32, { encoding: 'MPV', kind: 'video', clockRate: 90000 }],
  [33, { encoding: 'MP2T', kind: 'video', clockRate: 90000 }],
  [34, { encoding: 'H263', kind: 'video', clockRate: 90000 }],
]);
