/**
 * Persists what a backup's layout was built from, once, when the backup starts:
 * `<tape>.session.layout.json` holds the element list, the slot table (base64 of its typed
 * arrays), the label inputs and the source description. A resumed backup rebuilds the very same
 * plan from it, so blocks already on the tape stay where they are.
 */
import { existsSync } from 'node:fs';
import { readRegularFileText } from '../../base/file-io.js';
import { translateIoError } from '../../errors/io-error.js';
import { durableReplace } from '../../image/durable-replace.js';
import { SessionError } from '../../errors/snaptape-error.js';
import { FBA_BLOCKS_PER_TAPE_BLOCK, type BackupElement, type BackupSet, type ElementKind } from './backup-elements.js';
import { unitCount, type VolumeGeometry } from '../../geometry/volume-geometry.js';
import { MAX_USER_LABELS, USER_LABEL_DATA_BYTES } from '../../tape/standard-labels.js';
import type { SourceDescription } from './backup-labels.js';

const LAYOUT_VERSION = 1;

export interface StoredLayout {
  readonly set: BackupSet;
  readonly source: SourceDescription;
  readonly tapeVolser: string;
  readonly creationDate: string;
  readonly headerLabels: readonly (readonly Buffer[])[];
}

interface LayoutFile {
  readonly version: number;
  readonly volser: string;
  readonly source: SourceDescription;
  readonly tapeVolser: string;
  readonly creationDate: string;
  readonly unitCount: number;
  readonly elements: readonly { name: string; kind: ElementKind; firstSlot: number; slotCount: number; headerLabels: string[] }[];
  readonly slots: { firstUnit: string; unitSpan: string; lengths: string; element: string };
}

export function layoutPath(tapePath: string): string {
  return `${tapePath}.session.layout.json`;
}

const toBase64 = (a: Int32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function fromBase64(text: string): Int32Array {
  const bytes = Buffer.from(text, 'base64');
  return new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

export function saveLayout(tapePath: string, layout: StoredLayout): void {
  const { set } = layout;
  const file: Omit<LayoutFile, 'slots'> = {
    version: LAYOUT_VERSION,
    volser: set.volser,
    source: layout.source,
    tapeVolser: layout.tapeVolser,
    creationDate: layout.creationDate,
    unitCount: set.slots.unitToSlot.length,
    elements: set.elements.map((e, i) => ({
      name: e.name,
      kind: e.kind,
      firstSlot: e.firstSlot,
      slotCount: e.slotCount,
      headerLabels: (layout.headerLabels[i] ?? []).map((b) => b.toString('hex')),
    })),
  };
  // The same text as JSON.stringify of the whole file, `slots` last: base64 needs no escaping, so
  // the slot table (MBs on a big volume) is not scanned for it.
  const slots = (['firstUnit', 'unitSpan', 'lengths', 'element'] as const).map((name) => `"${name}":"${toBase64(set.slots[name])}"`).join(',');
  const text = `${JSON.stringify(file).slice(0, -1)},"slots":{${slots}}}`;
  durableReplace(layoutPath(tapePath), Buffer.from(text, 'utf8'), 'persist the backup layout');
}

/**
 * The most bytes the layout of a volume of `unitCount` units can hold: its slot table (at most one
 * slot per unit, four Int32 columns in base64: under 22 characters a slot) and its elements (a
 * standard label numbers at most 9999 files, each a name and at most 8 user labels in hex: under
 * 2 KiB), with room to spare. A sparse file of gigabytes is refused by its size, unread.
 */
export function layoutMaxBytes(unitCount: number): number {
  return 32 * 1024 ** 2 + 32 * unitCount;
}

/**
 * The layout of a backup of a volume of `geometry`. The file is checked whole before any of it is
 * used (it is a file anybody who can write beside the tape could have made): the unit count is
 * the volume's, each slot lies inside the volume with the length its units can have, no unit is
 * in two slots, the elements cover the slots in order, and each element's labels fit a standard
 * label. Anything else is a SessionError naming the file and the slot or element.
 */
export function loadLayout(tapePath: string, geometry: VolumeGeometry): StoredLayout {
  const path = layoutPath(tapePath);
  if (!existsSync(path)) throw new SessionError(`Cannot resume the backup to ${tapePath}: its layout (${path}) is missing`, { path });
  const units = unitCount(geometry);
  const text = readRegularFileText(path, 'the backup layout', layoutMaxBytes(units));
  let file: LayoutFile;
  try {
    file = JSON.parse(text) as LayoutFile;
  } catch (error) {
    throw translateIoError(error, 'read the backup layout', path);
  }
  const bad = (why: string): never => {
    throw new SessionError(`Cannot resume the backup to ${tapePath}: its layout ${path} ${why}`, { path });
  };
  if (typeof file !== 'object' || file === null) return bad('is not a layout');
  if (file.version !== LAYOUT_VERSION) bad(`is version ${String(file.version)}, not ${LAYOUT_VERSION}`);
  if (file.unitCount !== units) bad(`is of a volume of ${String(file.unitCount)} units, not of this one's ${units}: it is not the volume it was made from`);
  const columns = typeof file.slots === 'object' && file.slots !== null ? file.slots : bad('has no slot table');
  const column = (name: keyof LayoutFile['slots']): Int32Array =>
    typeof columns[name] === 'string' ? fromBase64(columns[name]) : bad(`has no slot table column ${name}`);
  const firstUnit = column('firstUnit');
  const unitSpan = column('unitSpan');
  const lengths = column('lengths');
  const element = column('element');
  const slotCount = firstUnit.length;
  if (unitSpan.length !== slotCount || lengths.length !== slotCount || element.length !== slotCount) bad('has slot table columns of different lengths');
  const elements = checkElements(file.elements, slotCount, element, bad);
  const unitToSlot = new Int32Array(units).fill(-1);
  for (let s = 0; s < slotCount; s++) {
    const first = firstUnit[s] as number;
    const span = unitSpan[s] as number;
    if (first < 0 || span < 1 || span > units - first) bad(`has slot ${s} of units ${first}+${span}, outside the volume's ${units}`);
    if (!slotLengthFits(geometry, span, lengths[s] as number)) bad(`has slot ${s} of ${span} units and ${lengths[s] as number} bytes, which they cannot hold`);
    // Bounded: the spans are checked disjoint as they are walked, so all together walk at most `units` units.
    for (let u = first; u < first + span; u++) {
      if (unitToSlot[u] !== -1) bad(`has unit ${u} in slots ${unitToSlot[u] as number} and ${s}`);
      unitToSlot[u] = s;
    }
  }
  for (const name of ['volser', 'tapeVolser', 'creationDate'] as const) {
    const value: unknown = file[name];
    if (typeof value !== 'string' || value.length > 6) bad(`has a ${name} that is not a label field`);
  }
  if (typeof file.source !== 'object' || file.source === null) bad('has no source description');
  return {
    set: { volser: file.volser, elements, slots: { firstUnit, unitSpan, lengths, element, unitToSlot } },
    source: file.source,
    tapeVolser: file.tapeVolser,
    creationDate: file.creationDate,
    headerLabels: file.elements.map((e) => e.headerLabels.map((h) => Buffer.from(h, 'hex'))),
  };
}

const ELEMENT_KINDS: ReadonlySet<unknown> = new Set<ElementKind>(['volume', 'dataset', 'blocks', 'tracks']);
/** A standard label numbers the files of a tape with 4 digits. */
const MAX_ELEMENTS = 9999;

/** The elements, checked: they cover the slots in order, each its own, and their labels fit. */
function checkElements(listed: LayoutFile['elements'], slotCount: number, elementOfSlot: Int32Array, bad: (why: string) => never): BackupElement[] {
  if (!Array.isArray(listed) || listed.length === 0 || listed.length > MAX_ELEMENTS) bad(`has no list of 1 to ${MAX_ELEMENTS} elements`);
  let next = 0;
  return listed.map((e, i) => {
    const { name, kind, firstSlot, slotCount: count, headerLabels } = (typeof e === 'object' && e !== null ? e : {}) as Partial<LayoutFile['elements'][number]>;
    if (typeof name !== 'string' || name.length === 0 || name.length > 44 || !ELEMENT_KINDS.has(kind)) bad(`has element ${i} of no known name and kind`);
    if (firstSlot !== next || !Number.isInteger(count) || (count as number) < 0 || (count as number) > slotCount - next)
      bad(`has element ${i} at slots ${String(firstSlot)}+${String(count)}, not from slot ${next} inside the ${slotCount}`);
    for (let s = next; s < next + (count as number); s++) if (elementOfSlot[s] !== i) bad(`has slot ${s} of element ${String(elementOfSlot[s])}, not ${i}`);
    next += count as number;
    const labelsFit =
      Array.isArray(headerLabels) &&
      headerLabels.length <= MAX_USER_LABELS &&
      headerLabels.every((h) => typeof h === 'string' && /^(?:[0-9a-f]{2})*$/.test(h) && h.length / 2 <= USER_LABEL_DATA_BYTES);
    if (!labelsFit) bad(`has element ${i} whose user labels are not at most ${MAX_USER_LABELS} of at most ${USER_LABEL_DATA_BYTES} bytes`);
    if (i === listed.length - 1 && next !== slotCount) bad(`has elements that cover ${next} of its ${slotCount} slots`);
    return { name: name as string, kind: kind as ElementKind, firstSlot: firstSlot as number, slotCount: count as number };
  });
}

/** Whether a slot of `span` units may hold a tape block of `bytes`: a CKD track its slot's, FBA blocks exactly theirs. */
function slotLengthFits(geometry: VolumeGeometry, span: number, bytes: number): boolean {
  if (geometry.kind === 'ckd') return span === 1 && bytes >= 0 && bytes <= geometry.trackSlotBytes;
  return span <= FBA_BLOCKS_PER_TAPE_BLOCK && bytes === span * geometry.blockBytes;
}
