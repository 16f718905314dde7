/**
 * One codec for every fixed byte layout in snaptape: a layout is a table of fields (name, offset,
 * length, kind), and `encodeFields` / `decodeFields` build and parse a record from it. The same
 * tables are written out in native-layout/*.json, and test/layout checks the two agree, so no
 * offset lives anywhere as a bare number.
 *
 * Field kinds:
 * - `u8`, `u16be`, `u16le`, `u24be`, `u32be`, `u32le`: unsigned binary integers;
 * - `ebcdic`: EBCDIC text, blank padded, decoded with trailing blanks removed;
 * - `ascii`: ASCII text, NUL padded on encode, decoded with trailing NULs and blanks removed;
 * - `digits`: an unsigned decimal number as EBCDIC digits, zero padded (tape label counts);
 * - `bytes`: raw bytes, copied as they are.
 *
 * Invariant: fields never overlap and lie inside `size` (checked when a layout is defined).
 */
import { assert } from './assert.js';
import { decodeEbcdic, decodeEbcdicTrimmed, encodeEbcdic, encodeEbcdicPadded } from './ebcdic.js';

export type FieldKind = 'u8' | 'u16be' | 'u16le' | 'u24be' | 'u32be' | 'u32le' | 'ebcdic' | 'ascii' | 'digits' | 'bytes';

export interface FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly kind: FieldKind;
  readonly description: string;
}

export interface Layout {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly FieldSpec[];
  /** Byte written where no field is (reserved bytes): 0x00, or 0x40 for EBCDIC labels. */
  readonly fill: number;
}

const INTEGER_WIDTH: Partial<Record<FieldKind, number>> = { u8: 1, u16be: 2, u16le: 2, u24be: 3, u32be: 4, u32le: 4 };

export function defineLayout(layout: Layout): Layout {
  const covered = new Uint8Array(layout.size);
  for (const field of layout.fields) {
    assert(field.offset >= 0 && field.offset + field.length <= layout.size, `${layout.name}.${field.name} lies inside the record`);
    const width = INTEGER_WIDTH[field.kind];
    assert(width === undefined || width === field.length, `${layout.name}.${field.name} width matches ${field.kind}`);
    for (let i = field.offset; i < field.offset + field.length; i++) {
      assert(covered[i] === 0, `${layout.name}.${field.name} overlaps another field at byte ${i}`);
      covered[i] = 1;
    }
  }
  return layout;
}

export function field(layout: Layout, name: string): FieldSpec {
  const found = layout.fields.find((f) => f.name === name);
  assert(found !== undefined, `${layout.name} has a field ${name}`);
  return found;
}

export type FieldValue = number | string | Uint8Array;
export type FieldValues = Readonly<Record<string, FieldValue>>;

function readInteger(buf: Uint8Array, at: number, kind: FieldKind): number {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (kind) {
    case 'u8':
      return view.readUInt8(at);
    case 'u16be':
      return view.readUInt16BE(at);
    case 'u16le':
      return view.readUInt16LE(at);
    case 'u24be':
      return view.readUIntBE(at, 3);
    case 'u32be':
      return view.readUInt32BE(at);
    case 'u32le':
      return view.readUInt32LE(at);
    default:
      throw new Error(`not an integer kind: ${kind}`);
  }
}

function writeInteger(buf: Buffer, at: number, kind: FieldKind, value: number): void {
  switch (kind) {
    case 'u8':
      buf.writeUInt8(value, at);
      return;
    case 'u16be':
      buf.writeUInt16BE(value, at);
      return;
    case 'u16le':
      buf.writeUInt16LE(value, at);
      return;
    case 'u24be':
      buf.writeUIntBE(value, at, 3);
      return;
    case 'u32be':
      buf.writeUInt32BE(value, at);
      return;
    case 'u32le':
      buf.writeUInt32LE(value, at);
      return;
    default:
      throw new Error(`not an integer kind: ${kind}`);
  }
}

/** Reads one field. Integers come back as numbers, text as strings, `bytes` as a Buffer copy. */
export function readField(buf: Uint8Array, spec: FieldSpec): FieldValue {
  const raw = buf.subarray(spec.offset, spec.offset + spec.length);
  switch (spec.kind) {
    case 'ebcdic':
      return decodeEbcdicTrimmed(raw);
    case 'ascii':
      return Buffer.from(raw)
        .toString('latin1')
        .replace(/[\0 ]+$/, '');
    case 'digits':
      return decodeEbcdic(raw);
    case 'bytes':
      return Buffer.from(raw);
    default:
      return readInteger(buf, spec.offset, spec.kind);
  }
}

/** Writes one field into `buf`, whose record starts at `recordOffset` (0: `buf` is the whole record). */
export function writeField(buf: Buffer, spec: FieldSpec, value: FieldValue, recordOffset = 0): void {
  const at = recordOffset + spec.offset;
  switch (spec.kind) {
    case 'ebcdic':
      encodeEbcdicPadded(String(value), spec.length).copy(buf, at);
      return;
    case 'ascii': {
      const text = Buffer.alloc(spec.length, 0);
      Buffer.from(String(value), 'latin1').copy(text, 0, 0, spec.length);
      text.copy(buf, at);
      return;
    }
    case 'digits': {
      const digits = typeof value === 'number' ? String(value).padStart(spec.length, '0') : String(value);
      assert(digits.length === spec.length, `${spec.name} fits ${spec.length} columns: "${digits}"`);
      encodeEbcdic(digits).copy(buf, at);
      return;
    }
    case 'bytes': {
      assert(value instanceof Uint8Array && value.length === spec.length, `${spec.name} is ${spec.length} raw bytes`);
      Buffer.from(value).copy(buf, at);
      return;
    }
    default:
      assert(typeof value === 'number', `${spec.name} is a number`);
      writeInteger(buf, at, spec.kind, value);
  }
}

/** Builds a record from a layout: fields not given are left as the layout's fill byte. */
export function encodeFields(layout: Layout, values: FieldValues): Buffer {
  const buf = Buffer.alloc(layout.size, layout.fill);
  encodeFieldsInto(layout, values, buf, 0);
  return buf;
}

/**
 * `encodeFields` into `target` at `offset`, with no record allocated: for a table of many records
 * at once (a tape's block headers, one per track). The record's bytes are all written, the fill
 * byte where no value is given.
 */
export function encodeFieldsInto(layout: Layout, values: FieldValues, target: Buffer, offset: number): void {
  assert(offset >= 0 && offset + layout.size <= target.length, `${layout.name} record fits at ${offset} of ${target.length} bytes`);
  target.fill(layout.fill, offset, offset + layout.size);
  let written = 0;
  for (const spec of layout.fields) {
    const value = values[spec.name];
    if (value === undefined) continue;
    writeField(target, spec, value, offset);
    written++;
  }
  // A value whose name is not a field of the layout is a mistake, as it is for encodeFields.
  if (written !== Object.keys(values).length) for (const name of Object.keys(values)) field(layout, name);
}

/** Parses every field of a record. */
export function decodeFields(layout: Layout, buf: Uint8Array): Record<string, FieldValue> {
  assert(buf.length >= layout.size, `${layout.name} record has ${layout.size} bytes (got ${buf.length})`);
  const out: Record<string, FieldValue> = {};
  for (const spec of layout.fields) out[spec.name] = readField(buf, spec);
  return out;
}

/** Typed accessors for decoded records. */
export function num(values: Record<string, FieldValue>, name: string): number {
  const value = values[name];
  assert(typeof value === 'number', `field ${name} is a number`);
  return value;
}

export function str(values: Record<string, FieldValue>, name: string): string {
  const value = values[name];
  assert(typeof value === 'string', `field ${name} is text`);
  return value;
}

export function bytes(values: Record<string, FieldValue>, name: string): Buffer {
  const value = values[name];
  assert(value instanceof Uint8Array, `field ${name} is bytes`);
  return Buffer.from(value);
}

/** The machine-readable form written to native-layout/*.json. */
export function layoutToJson(layout: Layout): object {
  return {
    name: layout.name,
    size: layout.size,
    fill: layout.fill,
    fields: layout.fields.map((f) => ({ name: f.name, offset: f.offset, length: f.length, kind: f.kind, description: f.description })),
  };
}
