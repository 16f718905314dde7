/**
 * DSCB dates, `YDD`: one byte of year − 1900 and a big-endian day of the year (native-layout/dscb-format1.md).
 * snaptape writes the IBM convention (Jan 1 = day 1). Hercules 3.13 dasdload writes the 0-based
 * day, one day early; readers accept both because they only show the stored numbers.
 */
export interface DscbDate {
  readonly year: number;
  readonly dayOfYear: number;
}

export const DSCB_DATE_BYTES = 3;

export function encodeDscbDate(date: DscbDate | null): Buffer {
  const out = Buffer.alloc(DSCB_DATE_BYTES);
  if (date) {
    out.writeUInt8(date.year - 1900, 0);
    out.writeUInt16BE(date.dayOfYear, 1);
  }
  return out;
}

export function decodeDscbDate(bytes: Uint8Array): DscbDate | null {
  const buf = Buffer.from(bytes);
  const yearByte = buf.readUInt8(0);
  const day = buf.readUInt16BE(1);
  if (yearByte === 0 && day === 0) return null;
  return { year: 1900 + yearByte, dayOfYear: day };
}

export function dscbDateOf(when: Date): DscbDate {
  const start = Date.UTC(when.getUTCFullYear(), 0, 1);
  const dayOfYear = Math.floor((when.getTime() - start) / 86_400_000) + 1;
  return { year: when.getUTCFullYear(), dayOfYear };
}

/** "26324": the two-digit year and day, as `dasdls -info` prints CREDT. */
export function formatDscbDate(date: DscbDate | null): string {
  if (!date) return '-----';
  return `${String(date.year % 100).padStart(2, '0')}${String(date.dayOfYear).padStart(3, '0')}`;
}
