/**
 * The `cyyddd` dates of tape labels (native-layout/tape-data-set-label-1.md): c is blank for 19xx, '0' for 20xx,
 * '1' for 21xx …; yy the year in the century; ddd the day of the year from 001. "000000" (and
 * blanks) mean "no date".
 */
import { assert } from '../base/assert.js';

export const NO_LABEL_DATE = '000000';
/** Milliseconds in a UTC day (no leap seconds in Date arithmetic). */
const MS_PER_DAY = 86_400_000;

/** Formats a date (its UTC calendar day) as cyyddd. */
export function formatLabelDate(date: Date): string {
  const year = date.getUTCFullYear();
  assert(year >= 1900 && year <= 2899, `year ${year} fits a cyyddd date`);
  const century = year < 2000 ? ' ' : String(Math.floor(year / 100) - 20);
  const dayOfYear = Math.floor((Date.UTC(year, date.getUTCMonth(), date.getUTCDate()) - Date.UTC(year, 0, 1)) / MS_PER_DAY) + 1;
  return `${century}${String(year % 100).padStart(2, '0')}${String(dayOfYear).padStart(3, '0')}`;
}

/** True for a well-formed cyyddd date or one of the "no date" forms. */
export function isLabelDate(text: string): boolean {
  if (text === NO_LABEL_DATE || text.trim() === '') return true;
  const match = /^([ 0-9])(\d\d)(\d\d\d)$/.exec(text);
  if (match === null) return false;
  const day = Number(match[3]);
  return day >= 1 && day <= 366;
}
