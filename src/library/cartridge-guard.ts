/**
 * The library's rules on every tape write: `lockTape` (tape/tape-lock.ts), the one door through
 * which every tape writer opens a tape for writing, asks `checkCartridgeWritable` first. Inside a
 * library directory only a scratch cartridge mounted in a drive may be written: a private
 * cartridge is retained until it expires and `library expire` returns it to scratch, and a WORM
 * cartridge once written is never written again. Files outside a library are not its business.
 */
import { CartridgeProtectedError, LibraryError } from '../errors/snaptape-error.js';
import { Catalog } from '../catalog/catalog.js';
import { getCartridge, getLibrary, type CartridgeRecord } from './library-store.js';
import { libraryOfFile, volserOfCartridgeFile } from './library-marker.js';

/** Why `cartridge` may not be written now, or undefined if it may (a scratch cartridge in a drive). */
export function writeRefusal(
  cartridge: CartridgeRecord,
  now: Date,
): { readonly protectedBy: 'worm' | 'retention' | 'library'; readonly why: string } | undefined {
  if (cartridge.state === 'private') {
    if (cartridge.worm) return { protectedBy: 'worm', why: `it is a WORM cartridge, written ${cartridge.writtenAt ?? 'before'}, and is never written again` };
    if (cartridge.expiresAt !== null && cartridge.expiresAt > now.toISOString())
      return { protectedBy: 'retention', why: `it is private and retained until ${cartridge.expiresAt}` };
    return { protectedBy: 'retention', why: `it is private (expired ${cartridge.expiresAt ?? ''}): return it to scratch with \`library expire\` first` };
  }
  if (cartridge.location !== 'drive')
    return {
      protectedBy: 'library',
      why: `it is a scratch cartridge in ${cartridge.location} ${cartridge.slot ?? ''}: the library writes only a cartridge mounted in a drive`.replace(
        ' :',
        ':',
      ),
    };
  return undefined;
}

/** Throws CartridgeProtectedError or LibraryError if `path` is a library cartridge that may not be written now. */
export function checkCartridgeWritable(path: string, what: string): void {
  const found = libraryOfFile(path);
  if (found === undefined) return;
  const volser = volserOfCartridgeFile(found.name);
  // The marker may be anybody's: the catalog it names is used only if it is one already, never made.
  const catalog = Catalog.open(found.marker.catalog, { mustExist: true });
  try {
    if (getLibrary(catalog.db, found.library) === undefined)
      throw new LibraryError(`Cannot ${what}: ${found.library} is marked as a tape library, but catalog ${found.marker.catalog} does not hold it`, { path });
    const cartridge = volser === undefined ? undefined : getCartridge(catalog.db, found.library, volser);
    if (cartridge === undefined)
      throw new LibraryError(
        `Cannot ${what}: ${path} is in tape library ${found.library} and is not one of its cartridges (bring a tape in with \`library inject\`)`,
        {
          path,
        },
      );
    const refusal = writeRefusal(cartridge, new Date());
    if (refusal === undefined) return;
    const details = { path, volser: cartridge.volser, protectedBy: refusal.protectedBy };
    const message = `Cannot ${what}: cartridge ${cartridge.volser} of library ${found.library}: ${refusal.why}`;
    if (refusal.protectedBy === 'library') throw new LibraryError(message, details);
    throw new CartridgeProtectedError(message, details);
  } finally {
    catalog.close();
  }
}
