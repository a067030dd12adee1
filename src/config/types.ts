/**
 * Typed form of cameras.yaml (schema fixed in ARCHITECTURE.md, "cameras.yaml").
 * Everything here is plain data: safe to structuredClone, compare and serialise.
 */

/** How the RTSP client carries RTP (RFC 2326 §12.39 Transport). 'auto' tries TCP-interleaved first, then UDP. */
export type Transport = 'auto' | 'tcp' | 'udp' | 'multicast';

export type AudioMode = 'auto' | 'off' | 'transcode';

export type Role = 'admin' | 'viewer';

export interface CameraConfig {
  /** The key under `cameras:`; must match CAMERA_ID_RE (it is used in URLs). */
  id: string;
  /** Display name; defaults to id. */
  name: string;
  /** rtsp://…, rtsps://…, 'builtin:demo' or 'publisher'. Userinfo stays in the URL string as given. */
  url: string;
  /** Credentials as separate fields; they override the URL's userinfo (see credentials.ts). */
  username?: string;
  password?: string;
  /** Optional sub-stream URL (rtsp:// or rtsps://). */
  sub?: string;
  /** Default 'auto'. */
  transport: Transport;
  /** Default 'auto'. */
  audio: AudioMode;
  /** Default false: connect only while someone watches when true. */
  onDemand: boolean;
  /** Default true. */
  enabled: boolean;
  /** Default []. */
  tags: string[];
}

export interface UserConfig {
  name: string;
  password?: string;
  /** scrypt hash */
  passwordHash?: string;
  /** Bearer token (also accepted as ?token= for HLS and the wall). */
  token?: string;
  role: Role;
  /** Glob patterns (`*`, `?`) of camera ids a viewer may see; absent = all cameras. */
  cameras?: string[];
}

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/**
 * The restream's defaults. UDP pairs stop below the WebRTC range (8555-8655): the two used to share
 * 8555-8655, where a restream pair and a WebRTC port could take each other's place.
 */
export const RESTREAM_DEFAULTS = {
  udpPorts: { min: 8000, max: 8499 },
  multicastGroups: '239.255.42.0/24',
  multicastPorts: { min: 9000, max: 9999 },
  multicastTtl: 1,
} as const;

/** `server.restream`: UDP server ports for UDP readers and publishers, and multicast. */
export interface RestreamConfig {
  /** Server RTP/RTCP port pairs (default 8000-8499: 250 pairs, one per track of a UDP session). */
  udpPorts?: { min: number; max: number };
  /** IPv4 multicast range in CIDR form, one group per stream (default 239.255.42.0/24). */
  multicastGroups?: string;
  /** Multicast RTP/RTCP ports (default 9000-9999). */
  multicastPorts?: { min: number; max: number };
  /** Multicast TTL (default 1: the local subnet only). */
  multicastTtl?: number;
  /** IPv4 address of the interface multicast leaves from (default: the system's choice). */
  multicastInterface?: string;
}

export interface Config {
  server: {
    http: { host: string; port: number };
    rtsp: { host: string; port: number };
    webrtc: { udpPorts: { min: number; max: number }; additionalHosts: string[]; iceServers: IceServer[] };
    /** HTTPS (and HTTP/2) on the HTTP port: PEM certificate chain and private key files, resolved against the config file's folder. */
    tls?: { cert: string; key: string };
    /** RTSPS restream listener (RTSP over TLS with `tls`'s certificate); off unless set. */
    rtsps?: { host: string; port: number };
    /** RTSP server transports; the RTSP server's defaults where a key is absent. */
    restream?: RestreamConfig;
  };
  hls: { partDurationMs: number; segmentDurationMs: number; segmentCount: number; alwaysRemux: boolean };
  users: UserConfig[];
  /** In file order. */
  cameras: CameraConfig[];
}

export interface ConfigError {
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
  /** Dotted path of the offending key, e.g. 'cameras.lobby.transport' or 'users[1].role'; '' for the document. */
  path: string;
  message: string;
}

export const TRANSPORTS: readonly Transport[] = ['auto', 'tcp', 'udp', 'multicast'];
export const AUDIO_MODES: readonly AudioMode[] = ['auto', 'off', 'transcode'];
export const ROLES: readonly Role[] = ['admin', 'viewer'];
/** Camera ids appear in URLs (/hls/<id>/…, rtsp://host/<id>), so they are restricted to URL-safe characters. */
export const CAMERA_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
