import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';

export type ViewerProtocol = 'hls' | 'webrtc' | 'rtsp';

/** One viewer of one stream, of any output. Outputs register their viewers here. */
export interface ViewerSession {
  /** Unguessable id (also used in URLs, e.g. WHEP resources). */
  id: string;
  protocol: ViewerProtocol;
  /** Stream name: `<camera>` or `<camera>/sub`. */
  stream: string;
  remoteAddress: string;
  user?: string;
  startedAt: Date;
  bytesSent(): number;
  /** Disconnect the viewer (DELETE /api/sessions/<id>). */
  kick(): void;
}

export function newSessionId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * Every viewer across HLS, WebRTC and RTSP. Feeds the camera status `viewers`, `GET /api/sessions`
 * and the on-demand start/stop of cameras. Events: 'add' and 'remove' (ViewerSession).
 */
export class SessionRegistry extends EventEmitter {
  private readonly sessions = new Map<string, ViewerSession>();

  /** Registers a viewer; returns the function that unregisters it (idempotent). */
  add(session: ViewerSession): () => void {
    this.sessions.set(session.id, session);
    this.emit('add', session);
    return () => {
      if (this.sessions.get(session.id) !== session) return;
      this.sessions.delete(session.id);
      this.emit('remove', session);
    };
  }

  get(id: string): ViewerSession | undefined {
    return this.sessions.get(id);
  }

  list(): ViewerSession[] {
    return [...this.sessions.values()];
  }

  kick(id: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    s.kick();
    return true;
  }

  /** Viewers of a camera by protocol (main stream and sub-stream together). */
  viewers(camera: string): { hls: number; webrtc: number; rtsp: number } {
    const v = { hls: 0, webrtc: 0, rtsp: 0 };
    for (const s of this.sessions.values()) {
      if (s.stream === camera || s.stream === `${camera}/sub`) v[s.protocol]++;
    }
    return v;
  }

  count(stream: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.stream === stream) n++;
    return n;
  }
}
