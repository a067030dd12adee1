/**
 * Parsers in camgate return a Result instead of throwing, so that bad bytes from a camera can never
 * throw across a socket handler.
 */
export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const err = <T = never>(error: string): Result<T> => ({ ok: false, error });
