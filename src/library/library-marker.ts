/**
 * How a file knows it is a cartridge: a library directory holds `snaptape-library.json`, which
 * names the catalog that holds the library's rows, and each cartridge is `<VOLSER>.aws` directly
 * in that directory. Anything that opens a tape for writing finds the marker beside the file
 * (cartridge-guard.ts), so the library's rules hold whichever command writes.
 */
import { existsSync, realpathSync } from 'node:fs';
import { readRegularFileText } from '../base/file-io.js';
import { basename, dirname, join, resolve } from 'node:path';
import { LibraryError } from '../errors/snaptape-error.js';

export const LIBRARY_MARKER_FILE = 'snaptape-library.json';
/** A cartridge's volser: what names its file in the library directory, and nothing that leaves it. */
const CARTRIDGE_VOLSER = /^[A-Z0-9@#$]{1,6}$/;
const CARTRIDGE_FILE = /^([A-Z0-9@#$]{1,6})\.aws$/;
/** A marker names a format and a catalog path: a few hundred bytes. */
const LIBRARY_MARKER_MAX_BYTES = 64 * 1024;

export interface LibraryMarker {
  readonly format: 'snaptape-library';
  readonly catalog: string;
}

/** The path of cartridge `volser` in library directory `library`. */
export function cartridgePath(library: string, volser: string): string {
  if (!isCartridgeVolser(volser))
    throw new LibraryError(`Cannot use cartridge "${volser}" of library ${library}: a volser is 1 to 6 characters of A-Z, 0-9, @, # or $`, {
      library,
      volser,
    });
  return join(library, `${volser}.aws`);
}

/** Whether `volser` can name a cartridge file (a tape's VOL1 or a catalog row may hold anything). */
export function isCartridgeVolser(volser: string): boolean {
  return CARTRIDGE_VOLSER.test(volser);
}

/** The volser a file name in a library directory stands for, if it is a cartridge's name. */
export function volserOfCartridgeFile(name: string): string | undefined {
  return CARTRIDGE_FILE.exec(name)?.[1];
}

/** A directory's absolute real path (symbolic links resolved), as the catalog keys libraries. */
export function libraryKey(dir: string): string {
  const absolute = resolve(dir);
  return existsSync(absolute) ? realpathSync(absolute) : absolute;
}

export function readMarker(library: string): LibraryMarker | undefined {
  const path = join(library, LIBRARY_MARKER_FILE);
  if (!existsSync(path)) return undefined;
  // Anything but a small regular file is refused as it is, naming it (a FIFO would hang every tape write here).
  const text = readRegularFileText(path, 'the tape library marker', LIBRARY_MARKER_MAX_BYTES);
  try {
    const parsed = JSON.parse(text) as Partial<LibraryMarker>;
    if (parsed.format === 'snaptape-library' && typeof parsed.catalog === 'string') return { format: parsed.format, catalog: parsed.catalog };
  } catch {
    // Falls through to the error below.
  }
  throw new LibraryError(`Cannot read tape library ${library}: ${path} is not a library marker`, { path });
}

/**
 * True when `path` names a file in a tape library's folder (one with a marker), its last component
 * not followed: such a name is a cartridge, written only as a file of its own (file-io.ts
 * SideFileOpen, noFollow), never through a link that whoever can write the library put there.
 */
export function inLibraryFolder(path: string): boolean {
  return readMarker(dirname(resolve(path))) !== undefined;
}

/**
 * The library directory a tape file is in, if any, and the file's name there. Symbolic links are
 * resolved, so a link elsewhere to a cartridge is still the cartridge.
 */
export function libraryOfFile(path: string): { readonly library: string; readonly marker: LibraryMarker; readonly name: string } | undefined {
  const absolute = resolve(path);
  const real = existsSync(absolute) ? realpathSync(absolute) : join(libraryKey(dirname(absolute)), basename(absolute));
  const library = dirname(real);
  const marker = readMarker(library);
  return marker === undefined ? undefined : { library, marker, name: basename(real) };
}
