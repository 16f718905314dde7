/**
 * Data set organisation and record format: the DSCB bits and the names operators use
 * (PS, PO, DA; F, FB, V, VB, U), following DS1DSORG and DS1RECFM (native-layout/dscb-format1.md).
 */
import { UsageError } from '../errors/snaptape-error.js';

export const DSORG_BITS = { IS: 0x8000, PS: 0x4000, DA: 0x2000, PO: 0x0200 } as const;
export type Dsorg = keyof typeof DSORG_BITS;

export const RECFM_BITS = { F: 0x80, V: 0x40, U: 0xc0, blocked: 0x10, spanned: 0x08, trackOverflow: 0x20, asa: 0x04, machine: 0x02 } as const;

export function dsorgName(bits: number): string {
  const high = (bits >> 8) & (0x40 | 0x20 | 0x02);
  if (high === 0x40) return 'PS';
  if (high === 0x20) return 'DA';
  if (high === 0x02) return 'PO';
  if ((bits & 0x0008) !== 0) return 'VS';
  return high === 0 ? '' : '??';
}

export function recfmName(bits: number): string {
  const format = bits & 0xc0;
  let name = format === 0x80 ? 'F' : format === 0x40 ? 'V' : 'U';
  if (bits & RECFM_BITS.blocked) name += 'B';
  if (bits & RECFM_BITS.spanned) name += 'S';
  const control = bits & (RECFM_BITS.asa | RECFM_BITS.machine);
  if (control === RECFM_BITS.asa) name += 'A';
  else if (control === RECFM_BITS.machine) name += 'M';
  else if (control !== 0) name += '?';
  if (bits & RECFM_BITS.trackOverflow) name += 'T';
  return name;
}

/** Parses a record format (F, FB, V, VB, U, optionally with S, A or M) into its DSCB bits. Throws UsageError for anything else. */
export function parseRecfm(name: string): number {
  const match = /^(F|V|U)(B?)(S?)(A|M)?$/.exec(name.trim().toUpperCase());
  if (!match) throw new UsageError(`Cannot use record format "${name}": expected F, FB, V, VB, U (optionally with S, A or M)`);
  let bits = match[1] === 'F' ? RECFM_BITS.F : match[1] === 'V' ? RECFM_BITS.V : RECFM_BITS.U;
  if (match[2]) bits |= RECFM_BITS.blocked;
  if (match[3]) bits |= RECFM_BITS.spanned;
  if (match[4] === 'A') bits |= RECFM_BITS.asa;
  if (match[4] === 'M') bits |= RECFM_BITS.machine;
  return bits;
}

/** Parses a data set organisation (PS, PO or DA). Throws UsageError for anything else. */
export function parseDsorg(name: string): Dsorg {
  const upper = name.trim().toUpperCase();
  if (upper === 'PS' || upper === 'PO' || upper === 'DA') return upper;
  throw new UsageError(`Cannot use data set organisation "${name}": expected PS, PO or DA`);
}

/** Data set names: 1 to 44 characters, qualifiers of 1 to 8 starting with a letter or national. */
export function checkDatasetName(name: string): string {
  const upper = name.trim().toUpperCase();
  const qualifier = /^[A-Z@#$][A-Z0-9@#$-]{0,7}$/;
  if (upper.length < 1 || upper.length > 44 || !upper.split('.').every((q) => qualifier.test(q))) {
    throw new UsageError(
      `Cannot use data set name "${name}": qualifiers are 1-8 of A-Z 0-9 @ # $ - (starting with a letter, @, # or $), joined by dots, 44 characters at most`,
    );
  }
  return upper;
}

/** Volume serials: 1 to 6 of A-Z 0-9 @ # $ -. */
export function checkVolser(volser: string): string {
  const upper = volser.trim().toUpperCase();
  if (!/^[A-Z0-9@#$-]{1,6}$/.test(upper)) throw new UsageError(`Cannot use volume serial "${volser}": 1-6 characters of A-Z 0-9 @ # $ -`);
  return upper;
}
