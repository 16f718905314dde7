/**
 * `init --type <family>` without a model or --cyls names models that exist (issue 18.8: `--type 3380`
 * suggested "3380-3", which is not a model).
 */
import { describe, expect, it } from 'vitest';
import { parseGeometry } from '../../src/geometry/volume-geometry.js';
import { UsageError } from '../../src/errors/snaptape-error.js';

function messageOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('parseGeometry of a family without a size', () => {
  for (const family of ['3390', '3380']) {
    it(`${family}: every model it suggests is one that parses`, () => {
      const message = messageOf(() => parseGeometry(family, {}));
      const suggested = message.match(new RegExp(`${family}-[0-9A-Z]+`, 'g')) ?? [];
      expect(suggested.length).toBeGreaterThan(0);
      for (const model of suggested) expect(() => parseGeometry(model, {}), model).not.toThrow();
    });
  }
});
