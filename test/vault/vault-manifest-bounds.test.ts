/**
 * Layer: behaviour, hostile input. A manifest read back from the store is the store's word: its
 * data sets are walked block by block (labelBlockNumbers, a restore's ranged fetch), so data sets
 * that overlap (each naming the whole index, many times over) would make a 64 MB manifest cost
 * billions of steps. parseVaultManifest refuses them; a manifest of disjoint data sets passes.
 */
import { describe, expect, it } from 'vitest';
import { VaultError } from '../../src/errors/snaptape-error.js';
import { labelBlockNumbers } from '../../src/vault/vault-fetch.js';
import { parseVaultManifest } from '../../src/vault/vault-manifest.js';

const SHA = 'a'.repeat(64);

function manifestText(dataSets: readonly { firstBlockNumber: number; blockCount: number }[], blocks: number): string {
  return JSON.stringify({
    format: 'snaptape-vault-manifest',
    version: 1,
    volser: 'BOMB01',
    sizeBytes: blocks * 100,
    sha256: SHA,
    labels: [],
    dataSets: dataSets.map((d, i) => ({ name: `DS${i}`, fileSequence: i + 1, sha256: SHA, ...d })),
    index: Array.from({ length: blocks }, (_, b) => [b * 100, 100, 94, 0]),
  });
}

describe('vault manifest data sets', () => {
  it('data sets that overlap are refused, naming the manifest', () => {
    const overlapping = Array.from({ length: 1000 }, () => ({ firstBlockNumber: 0, blockCount: 10_000 }));
    expect(() => parseVaultManifest(manifestText(overlapping, 10_000), 's3://vault/x/BOMB01.manifest.json')).toThrow(VaultError);
    expect(() => parseVaultManifest(manifestText(overlapping, 10_000), 's3://vault/x/BOMB01.manifest.json')).toThrow(
      /^Cannot use the vault manifest s3:\/\/vault\/x\/BOMB01.manifest.json: its data sets overlap/,
    );
    const twoOverlapping = [
      { firstBlockNumber: 3, blockCount: 5 },
      { firstBlockNumber: 7, blockCount: 2 },
    ];
    expect(() => parseVaultManifest(manifestText(twoOverlapping, 20), 'm')).toThrow(/its data sets overlap/);
  });

  it('disjoint data sets in any order pass, and the labels are the blocks outside them', () => {
    const manifest = parseVaultManifest(
      manifestText(
        [
          { firstBlockNumber: 10, blockCount: 5 },
          { firstBlockNumber: 2, blockCount: 3 },
        ],
        20,
      ),
      'm',
    );
    expect(labelBlockNumbers(manifest)).toEqual([0, 1, 5, 6, 7, 8, 9, 15, 16, 17, 18, 19]);
  });
});
