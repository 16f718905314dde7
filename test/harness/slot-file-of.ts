/**
 * The slot file under a volume's backend (read-hooked-backend.ts wraps it, a FaultyBackend may too),
 * for tests that choose where its reads in flight run (base/io-placement.ts).
 */
import { DelegatingBackend } from '../../src/image/delegating-backend.js';
import type { ImageBackend } from '../../src/image/image-backend.js';
import { SlotFile } from '../../src/image/slot-file.js';
import type { Volume } from '../../src/volume/volume.js';

export function slotFileOf(volume: Volume): SlotFile {
  let backend: ImageBackend = volume.backend;
  // Bounded: each turn goes one wrapper down.
  while (backend instanceof DelegatingBackend) backend = backend.inner;
  if (!(backend instanceof SlotFile)) throw new Error(`${volume.path} is not a slot file`);
  return backend;
}
