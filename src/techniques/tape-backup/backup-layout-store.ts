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
import type { BackupElement, BackupSet, ElementKind } from './backup-elements.js';
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

/** The layout of a backup of a volume of `unitCount` units. */
export function loadLayout(tapePath: string, unitCount: number): StoredLayout {
  const path = layoutPath(tapePath);
  if (!existsSync(path)) throw new SessionError(`Cannot resume the backup to ${tapePath}: its layout (${path}) is missing`, { path });
  const text = readRegularFileText(path, 'the backup layout', layoutMaxBytes(unitCount));
  let file: LayoutFile;
  try {
    file = JSON.parse(text) as LayoutFile;
  } catch (error) {
    throw translateIoError(error, 'read the backup layout', path);
  }
  if (file.version !== LAYOUT_VERSION)
    throw new SessionError(`Cannot resume the backup to ${tapePath}: layout version ${file.version} is not ${LAYOUT_VERSION}`, { path });
  const firstUnit = fromBase64(file.slots.firstUnit);
  const unitSpan = fromBase64(file.slots.unitSpan);
  const unitToSlot = new Int32Array(file.unitCount).fill(-1);
  for (let s = 0; s < firstUnit.length; s++)
    for (let u = firstUnit[s] as number; u < (firstUnit[s] as number) + (unitSpan[s] as number); u++) unitToSlot[u] = s;
  const elements: BackupElement[] = file.elements.map((e) => ({ name: e.name, kind: e.kind, firstSlot: e.firstSlot, slotCount: e.slotCount }));
  return {
    set: {
      volser: file.volser,
      elements,
      slots: { firstUnit, unitSpan, lengths: fromBase64(file.slots.lengths), element: fromBase64(file.slots.element), unitToSlot },
    },
    source: file.source,
    tapeVolser: file.tapeVolser,
    creationDate: file.creationDate,
    headerLabels: file.elements.map((e) => e.headerLabels.map((h) => Buffer.from(h, 'hex'))),
  };
}
