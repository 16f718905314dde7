/**
 * snaptape's own NBD option for a mirror's link (issue 20), sent by the primary's link worker
 * before NBD_OPT_GO. It tells the secondary's server what the mirror is now, so that the export
 * protects itself the way SRDF's write-disabled R2 does:
 *
 *   mode 1 PROTECT  the mirror is not split: the export is read-only to every other client (they
 *                   get EPERM on WRITE, WRITE_ZEROES and TRIM); this connection alone writes it.
 *                   The ACK carries the units written while the export was split (a bitmap), for
 *                   the rejoin to resend; the server keeps them.
 *   mode 2 SPLIT    the mirror is split: any client may write, and each unit written is recorded.
 *   mode 3 RELEASE  the mirror is removed: the export is nobody's secondary any more.
 *   mode 4 FORGET   PROTECT, and the record is forgotten once this connection's GO lands. The
 *                   primary sends it only after the units a PROTECT listed are invalid in its own
 *                   state file, durably: a crash of either side in between loses no record.
 *
 * Request data: u8 mode, u32 name length, the export name (UTF-8). Reply: NBD_REP_ACK with, for
 * PROTECT and FORGET, u32 unit count and ceil(count / 8) bytes of bitmap (bit u % 8 of byte u / 8: unit u was
 * written while split); an empty ACK otherwise. An export that cannot be a secondary answers
 * NBD_REP_ERR_POLICY, an unknown export NBD_REP_ERR_UNKNOWN, a server that does not know the option
 * NBD_REP_ERR_UNSUP (the link then refuses that secondary: it could not be protected).
 *
 * Decision: the option number is outside the spec's assigned range (ASCII "SNML"), so no
 * standard server mistakes it for anything but unknown.
 */
import { NbdProtocolError } from '../errors/snaptape-error.js';
import { MAX_NAME_BYTES } from './nbd-constants.js';

export const NBD_OPT_SNAPTAPE_MIRROR_LINK = 0x534e_4d4c;

export const MIRROR_LINK_MODES = { protect: 1, split: 2, release: 3, forget: 4 } as const;
export type MirrorLinkMode = keyof typeof MIRROR_LINK_MODES;

/** Largest bitmap reply accepted: 8 Mi units (a 3390-54 has under 1 Mi tracks). */
export const MAX_MIRROR_LINK_REPLY_BYTES = 4 + (8 << 20) / 8;

/** What the export grants a mirror's link. */
export interface MirrorLinkGrant<Backend> {
  /** What this connection serves: the export as the mirror writes it. */
  readonly backend: Backend;
  /** Units (tracks or FBA blocks) of the export: the size of the PROTECT reply's bitmap. */
  readonly unitCount: number;
  /** Units written while split (PROTECT and FORGET). */
  readonly writtenUnits: readonly number[];
  /** The link reached transmission: it has the reply, so the written units may be forgotten. */
  commit(): void;
}

export function encodeMirrorLinkRequest(mode: MirrorLinkMode, exportName: string): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const data = Buffer.alloc(5 + name.length);
  data.writeUInt8(MIRROR_LINK_MODES[mode], 0);
  data.writeUInt32BE(name.length, 1);
  name.copy(data, 5);
  return data;
}

export function decodeMirrorLinkRequest(data: Buffer): { mode: MirrorLinkMode; exportName: string } | undefined {
  if (data.length < 5) return undefined;
  const code = data.readUInt8(0);
  const mode = (Object.keys(MIRROR_LINK_MODES) as MirrorLinkMode[]).find((m) => MIRROR_LINK_MODES[m] === code);
  const length = data.readUInt32BE(1);
  if (mode === undefined || length > MAX_NAME_BYTES || data.length !== 5 + length) return undefined;
  return { mode, exportName: data.toString('utf8', 5) };
}

export function encodeWrittenUnits(unitCount: number, units: readonly number[]): Buffer {
  const data = Buffer.alloc(4 + Math.ceil(unitCount / 8));
  data.writeUInt32BE(unitCount, 0);
  for (const u of units) data[4 + (u >> 3)] = (data[4 + (u >> 3)] ?? 0) | (1 << (u & 7));
  return data;
}

export function decodeWrittenUnits(data: Buffer, exportName: string): number[] {
  if (data.length === 0) return [];
  const count = data.length >= 4 ? data.readUInt32BE(0) : -1;
  if (count < 0 || data.length !== 4 + Math.ceil(count / 8))
    throw new NbdProtocolError(`Cannot open export '${exportName}' as a mirror link: malformed reply to the mirror-link option`, { exportName });
  const units: number[] = [];
  for (let u = 0; u < count; u++) if (((data[4 + (u >> 3)] ?? 0) & (1 << (u & 7))) !== 0) units.push(u);
  return units;
}
