/**
 * JSON Schemas (TypeBox) of the admin API: they validate params and queries, and document every
 * route in /api/openapi.json. Camera bodies are checked by validateCamera (the same rules and
 * messages as cameras.yaml); their schema here documents them and rejects non-objects.
 */
import { FormatRegistry, Type, type TSchema, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';

// TypeBox checks only formats it knows; these are the ones the API uses.
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v)));

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'machine-readable code, e.g. not_found, invalid_camera' }),
    message: Type.String({ description: 'what went wrong, for people' }),
    errors: Type.Optional(
      Type.Array(Type.Object({ path: Type.String({ description: 'e.g. cameras.lobby.transport' }), message: Type.String() }), {
        description: 'every problem found in a camera body',
      }),
    ),
  },
);

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const TrackStatus = Type.Object(
  {
    kind: Type.String({ description: 'video | audio' }),
    codec: Type.String({ description: 'H264, H265, MJPEG, AAC, PCMA, PCMU, OPUS' }),
    codecString: Type.Optional(Type.String({ description: 'RFC 6381 codec string, e.g. avc1.640028' })),
    width: Type.Optional(Type.Number()),
    height: Type.Optional(Type.Number()),
    fps: Type.Optional(Type.Number()),
    sampleRate: Type.Optional(Type.Number()),
    channels: Type.Optional(Type.Number()),
  },
  { additionalProperties: true },
);

export const Quality = Type.Object(
  {
    bitrateKbps: Type.Number(),
    fps: Type.Number(),
    packetsReceived: Type.Number(),
    packetsLost: Type.Number(),
    lossPercent: Type.Number(),
    jitterMs: Type.Number(),
    keyframeIntervalMs: Type.Number(),
  },
  { additionalProperties: true },
);

export const Viewers = Type.Object({ hls: Type.Number(), webrtc: Type.Number(), rtsp: Type.Number() });

const StatusFields = {
  id: Type.String({ description: 'camera id (`<camera>/sub` for a sub-stream)' }),
  name: Type.String(),
  state: Type.Union([Type.Literal('connecting'), Type.Literal('streaming'), Type.Literal('retrying'), Type.Literal('idle'), Type.Literal('disabled')]),
  lastError: Nullable(Type.String()),
  since: Type.String({ format: 'date-time' }),
  reconnects: Type.Number(),
  transport: Nullable(Type.String({ description: 'negotiated: tcp, udp, multicast (null unless streaming)' })),
  tracks: Type.Array(TrackStatus),
  quality: Quality,
  viewers: Viewers,
  quirks: Type.Array(Type.String(), { description: 'camera bugs worked around' }),
  tags: Type.Array(Type.String()),
  url: Type.String({ description: 'source URL, password replaced by ***' }),
  stream: Type.String(),
};

export const SubStatus = Type.Object(StatusFields, { additionalProperties: true });
export const CameraStatus = Type.Object({ ...StatusFields, sub: Type.Optional(SubStatus) }, { additionalProperties: true });

/** The camera fields of cameras.yaml (ARCHITECTURE.md); validateCamera enforces them. */
export const CameraFields = {
  name: Type.Optional(Type.String({ minLength: 1 })),
  url: Type.String({ description: 'rtsp://…, rtsps://…, builtin:demo or publisher; credentials may be in the userinfo' }),
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String({ description: 'written to cameras.yaml, never shown by the API' })),
  sub: Type.Optional(Type.String({ description: 'sub-stream URL, pulled as `<camera>/sub`' })),
  transport: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('multicast')])),
  audio: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('off'), Type.Literal('transcode')])),
  onDemand: Type.Optional(Type.Boolean()),
  enabled: Type.Optional(Type.Boolean()),
  tags: Type.Optional(Type.Array(Type.String())),
};
export const CameraBody = Type.Object(CameraFields, { additionalProperties: false });
export const NewCameraBody = Type.Object(
  { id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'the key under `cameras:`; used in URLs' }), ...CameraFields },
  { additionalProperties: false },
);

export const CameraIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
export const SessionIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
export const SnapshotQuery = Type.Object({
  width: Type.Optional(Type.Integer({ minimum: 16, maximum: 4096, description: 'scale to this width, keeping the aspect ratio' })),
  token: Type.Optional(Type.String({ description: 'bearer token, for <img> tags that cannot send headers' })),
});
export const TokenQuery = Type.Object({ token: Type.Optional(Type.String()) }, { additionalProperties: true });

export const Session = Type.Object(
  {
    id: Type.String(),
    protocol: Type.Union([Type.Literal('hls'), Type.Literal('webrtc'), Type.Literal('rtsp')]),
    stream: Type.String(),
    camera: Type.String(),
    remoteAddress: Type.String(),
    user: Nullable(Type.String()),
    startedAt: Type.String({ format: 'date-time' }),
    bytesSent: Type.Number(),
  },
);

export const Health = Type.Object(
  {
    status: Type.Literal('ok'),
    version: Type.String(),
    startedAt: Type.String({ format: 'date-time' }),
    uptimeSec: Type.Number(),
    cameras: Type.Object({ total: Type.Number(), streaming: Type.Number(), retrying: Type.Number(), connecting: Type.Number() }, { additionalProperties: true }),
    config: Type.Object({ persistent: Type.Boolean({ description: 'API changes are saved to a config file' }) }),
    access: Type.Union([Type.Literal('open'), Type.Literal('users')]),
  },
  { additionalProperties: true },
);

export const ApplyResult = Type.Object({
  added: Type.Array(Type.String()),
  removed: Type.Array(Type.String()),
  restarted: Type.Array(Type.String()),
  updated: Type.Array(Type.String()),
  unchanged: Type.Array(Type.String()),
  needsRestart: Type.Array(Type.String()),
});

export type SessionT = Static<typeof Session>;

/** Objects only: camera bodies are validated field by field by validateCamera, for file-style messages. */
const objectOnly = (data: unknown) =>
  typeof data === 'object' && data !== null && !Array.isArray(data) ? { value: data } : { error: new Error('body must be a JSON object') };

/**
 * The validator for this API's routes: TypeBox's compiled checker (no ajv coercion or key removal,
 * which would hide mistakes from validateCamera). Query strings are converted first (`?width=320`
 * is the string "320").
 */
export const typeboxValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  if (httpPart === 'body') return objectOnly;
  const check = TypeCompiler.Compile(schema);
  return (data: unknown) => {
    const value = httpPart === 'querystring' || httpPart === 'params' ? Value.Convert(schema, data) : data;
    if (check.Check(value)) return { value };
    const first = check.Errors(value).First();
    const where = first?.path ? `${httpPart} ${first.path.replace(/^\//, '')}` : httpPart;
    return { error: new Error(`${where}: ${first?.message ?? 'invalid'}`) };
  };
};
