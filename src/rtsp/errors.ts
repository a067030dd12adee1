/**
 * Errors the RTSP client surfaces to its owner (the camera supervisor).
 *
 * The message is always built from redacted text: a camera URL may carry a password and these
 * messages end up in logs, the status API and the UI.
 */
export type RtspErrorKind =
  | 'auth' // credentials missing, rejected, or the challenge is unusable
  | 'timeout' // a request got no response in time, or media stopped arriving
  | 'network' // TCP/TLS/UDP failure, connection closed by the peer
  | 'protocol' // the peer broke RTSP in a way we cannot work around
  | 'status' // a non-2xx status we cannot recover from
  | 'redirect-loop' // more 3xx hops than allowed
  | 'no-media'; // nothing in the SDP we can (or were asked to) SETUP

export class RtspError extends Error {
  readonly kind: RtspErrorKind;
  readonly statusCode?: number;

  constructor(kind: RtspErrorKind, message: string, statusCode?: number) {
    super(message);
    this.name = 'RtspError';
    this.kind = kind;
    if (statusCode !== undefined) this.statusCode = statusCode;
  }
}

export const isRtspError = (e: unknown): e is RtspError => e instanceof RtspError;
