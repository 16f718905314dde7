/**
 * Every function the public face exports (src/api/index.ts, which `import … from 'snaptape'` and
 * the sub-paths resolve to) carries a TSDoc comment: a user reads it in the editor and typedoc
 * builds the API reference from it. The compiler resolves each export to its declaration, so a
 * re-export is checked where the function is written. Classes are checked too (their docs head the
 * class page), and every public method of an exported class.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const INDEX = fileURLToPath(new URL('../../src/api/index.ts', import.meta.url));
const ERRORS = fileURLToPath(new URL('../../src/errors/index.ts', import.meta.url));

function hasDoc(declaration: ts.Declaration): boolean {
  return ts.getJSDocCommentsAndTags(declaration).some((doc) => ts.isJSDoc(doc) && (doc.comment ?? '').toString().trim().length > 0);
}

/** "name (file)" of each exported function, class or public method without a doc comment. */
function undocumented(entry: string): string[] {
  const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  if (!source) throw new Error(`cannot read ${entry}`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${entry} is not a module`);
  const missing: string[] = [];
  const where = (declaration: ts.Declaration) => declaration.getSourceFile().fileName.replace(/^.*\/src\//, 'src/');
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declarations = symbol.declarations ?? [];
    // An overloaded function is documented once, on any of its signatures.
    const functions = declarations.filter(ts.isFunctionDeclaration);
    if (functions[0] && !functions.some(hasDoc)) missing.push(`${exported.name} (${where(functions[0])})`);
    for (const declaration of declarations) {
      if (ts.isClassDeclaration(declaration) && !hasDoc(declaration)) missing.push(`${exported.name} (${where(declaration)})`);
      if (ts.isClassDeclaration(declaration)) {
        for (const member of declaration.members) {
          const isPublicMethod =
            ts.isMethodDeclaration(member) &&
            !(ts.getCombinedModifierFlags(member) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) &&
            !member.name.getText().startsWith('#');
          if (isPublicMethod && !hasDoc(member)) missing.push(`${exported.name}.${member.name.getText()} (${where(declaration)})`);
        }
      }
    }
  }
  return missing;
}

describe('the public API is documented', () => {
  it('every function and class the public index exports has a TSDoc comment', () => {
    expect(undocumented(INDEX)).toEqual([]);
  }, 60_000);

  it('every function and class of snaptape/errors has a TSDoc comment', () => {
    expect(undocumented(ERRORS)).toEqual([]);
  }, 60_000);
});
