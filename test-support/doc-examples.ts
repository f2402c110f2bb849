/**
 * Runs the `@example`s of the public API: finds every export of `src/index.ts` (following
 * `export * from`, `export { X } from` and `export * as ns from`), reads the `@example` tags of
 * their doc comments (and of their class and interface members, and a file's module-level doc
 * comment where it names one of the file's exports), compiles each example as TypeScript against
 * the built package and runs it.
 *
 * In an example, `import ... from 'tessera'` (or `'tessera/dist/src/...'`) means this checkout, and
 * the exports of `tessera` it uses without importing are imported for it. A line
 * `expr; // → value` asserts that `expr` equals `value` (any expression; `// → ≈ 5.6e8` compares to
 * the digits shown), and `stmt; // prints text` that the last line `stmt` logged is `text`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { format } from 'node:util';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/** One `@example`: where it is written and its code. */
export interface DocExample {
  /** the export it documents (`DataLoader.epoch` for a member) */
  readonly name: string;
  /** the file it is written in, relative to the project root */
  readonly file: string;
  /** the 1-based line of its first code line in `file` */
  readonly line: number;
  readonly code: string;
}

/** An example compiled to a runnable module, or the compiler's errors. */
export type CompiledExample = { readonly module: string } | { readonly errors: readonly string[] };

const MARKER_SHOWN = /^(\s*)(.+?);\s*\/\/\s*→\s*(≈\s*)?(.+?)\s*$/;
const MARKER_PRINTS = /^(\s*)(.+;)\s*\/\/\s*prints\s+(.+?)\s*$/;

function compilerOptions(root: string): ts.CompilerOptions {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
  });
  assert.ok(config, `cannot read ${join(root, 'tsconfig.json')}`);
  return config.options;
}

// ---- finding the examples -------------------------------------------------------------------------

function exampleTags(node: ts.Node): ts.JSDocTag[] {
  return ts.getJSDocTags(node).filter((t) => t.tagName.text === 'example');
}

function toExample(name: string, tag: ts.JSDocTag, root: string): DocExample {
  const source = tag.getSourceFile();
  const code = (ts.getTextOfJSDocComment(tag.comment) ?? '').replace(/^\n+/, '');
  // the code starts on the line after `@example` when the tag line holds nothing else
  const tagLine = source.getLineAndCharacterOfPosition(tag.tagName.end).line + 1;
  const sameLine = source.text.slice(tag.tagName.end, source.text.indexOf('\n', tag.tagName.end)).trim() !== '';
  return { name, file: relative(root, source.fileName), line: sameLine ? tagLine : tagLine + 1, code };
}

function memberName(owner: string, m: ts.ClassElement | ts.TypeElement): string {
  return `${owner}.${m.name && !ts.isComputedPropertyName(m.name) ? m.name.getText() : 'constructor'}`;
}

/** The file's module-level doc comment: the one before its first statement when that declares nothing. */
function moduleDocTags(source: ts.SourceFile): ts.JSDocTag[] {
  const first = source.statements[0];
  if (!first || !(ts.isImportDeclaration(first) || ts.isExportDeclaration(first))) return [];
  return exampleTags(first);
}

function identifiersIn(code: string): Set<string> {
  const names = new Set<string>();
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n)) names.add(n.text);
    ts.forEachChild(n, visit);
  };
  visit(ts.createSourceFile('example.ts', code, ts.ScriptTarget.ES2022, true));
  return names;
}

/** Every `@example` on an export of `entry` (a path relative to `root`), in export order. */
export function collectDocExamples(root: string, entry = 'src/index.ts'): DocExample[] {
  const program = ts.createProgram([join(root, entry)], compilerOptions(root));
  const checker = program.getTypeChecker();
  const entryFile = program.getSourceFile(join(root, entry));
  const entrySymbol = entryFile && checker.getSymbolAtLocation(entryFile);
  assert.ok(entrySymbol, `${entry} is not a module`);
  const examples: DocExample[] = [];
  const exportsByFile = new Map<ts.SourceFile, Set<string>>();
  const seen = new Set<ts.JSDocTag>();
  const add = (name: string, tag: ts.JSDocTag) => {
    if (seen.has(tag)) return;
    seen.add(tag);
    examples.push(toExample(name, tag, root));
  };

  const walk = (module: ts.Symbol, prefix: string): void => {
    for (const exported of checker.getExportsOfModule(module)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const name = prefix + exported.name;
      const declarations = symbol.declarations ?? [];
      if (declarations.some(ts.isSourceFile)) {
        walk(symbol, `${name}.`);
        continue;
      }
      for (const d of declarations) {
        const file = d.getSourceFile();
        exportsByFile.set(file, (exportsByFile.get(file) ?? new Set()).add(name));
        for (const tag of exampleTags(d)) add(name, tag);
        if (!ts.isClassDeclaration(d) && !ts.isInterfaceDeclaration(d)) continue;
        const members: readonly (ts.ClassElement | ts.TypeElement)[] = d.members;
        for (const m of members) for (const tag of exampleTags(m)) add(memberName(name, m), tag);
      }
    }
  };
  walk(entrySymbol, '');

  // a module-level example counts where it uses one of its file's exports (index.ts's documents the package)
  const shortName = (n: string) => n.slice(n.lastIndexOf('.') + 1);
  for (const source of [entryFile, ...exportsByFile.keys()]) {
    for (const tag of moduleDocTags(source)) {
      const used = identifiersIn(ts.getTextOfJSDocComment(tag.comment) ?? '');
      const documented = source === entryFile ? ['tessera'] : [...(exportsByFile.get(source) ?? [])].filter((n) => used.has(shortName(n)));
      if (documented.length > 0) add(`${documented.join(', ')} (module doc)`, tag);
    }
  }
  return examples;
}

// ---- compiling them -----------------------------------------------------------------------------------

/** What an import specifier of an example written in `file` means in the built checkout. */
function builtSpecifier(spec: string, file: string, root: string): string {
  if (spec === 'tessera') return join(root, 'dist/src/index.js');
  if (spec.startsWith('tessera/')) return join(root, spec.slice('tessera/'.length));
  if (spec.startsWith('.')) return resolve(root, 'dist', dirname(file), spec);
  return spec;
}

/** Names declared at the top level of the example (and so not to be imported for it). */
function topLevelNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const bind = (n: ts.BindingName): void => {
    if (ts.isIdentifier(n)) names.add(n.text);
    else for (const e of n.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const s of source.statements) {
    if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) bind(d.name);
    else if ((ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) && s.name) names.add(s.name.text);
    else if (ts.isImportDeclaration(s) && s.importClause) {
      if (s.importClause.name) names.add(s.importClause.name.text);
      const bindings = s.importClause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
      else if (bindings) for (const e of bindings.elements) names.add(e.name.text);
    }
  }
  return names;
}

/** `expr; // → value` and `stmt; // prints text` lines as assertions (same line count). */
function withAssertions(code: string, ex: DocExample): string {
  return code
    .split('\n')
    .map((line, i) => {
      const where = JSON.stringify(`${ex.file}:${ex.line + i}`);
      const shown = MARKER_SHOWN.exec(line);
      if (shown) {
        const [, indent, expr, about, expected] = shown;
        if (about) return `${indent}__about(${expr}, ${JSON.stringify(expected)}, ${where});`;
        return `${indent}__shown(${expr}, ${expected}, ${where});`;
      }
      const prints = MARKER_PRINTS.exec(line);
      if (prints) return `${prints[1]}${prints[2]} __printed(${JSON.stringify(prints[3])}, ${where});`;
      return line;
    })
    .join('\n');
}

/** The example as a module of this checkout: one prelude line of imports, then its code. */
function exampleModule(ex: DocExample, root: string, publicNames: ReadonlySet<string>): string {
  const code = withAssertions(ex.code, ex);
  const source = ts.createSourceFile('example.ts', code, ts.ScriptTarget.ES2022, true);
  let rewritten = code;
  const specifiers = source.statements
    .filter((s): s is ts.ImportDeclaration => ts.isImportDeclaration(s) && ts.isStringLiteral(s.moduleSpecifier))
    .map((s) => s.moduleSpecifier)
    .reverse();
  for (const spec of specifiers) {
    const text = JSON.stringify(builtSpecifier(spec.getText(source).slice(1, -1), ex.file, root));
    rewritten = rewritten.slice(0, spec.getStart(source)) + text + rewritten.slice(spec.end);
  }
  const declared = topLevelNames(source);
  const implicit = [...identifiersIn(code)].filter((n) => publicNames.has(n) && !declared.has(n));
  const support = JSON.stringify(join(root, 'dist/test-support/doc-examples.js'));
  const index = JSON.stringify(join(root, 'dist/src/index.js'));
  const prelude =
    `import { shown as __shown, about as __about, printed as __printed } from ${support}; ` +
    (implicit.length > 0 ? `import { ${implicit.join(', ')} } from ${index}; ` : '') +
    'export {};';
  return `${prelude}\n${rewritten}\n`;
}

function describe(d: ts.Diagnostic, ex: DocExample): string {
  const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
  if (!d.file || d.start === undefined) return message;
  const line = d.file.getLineAndCharacterOfPosition(d.start).line;
  return line === 0 ? `(imports) ${message}` : `${ex.file}:${ex.line + line - 1}: ${message}`;
}

/**
 * Compiles every example (type-checked against the built package under the project's compiler
 * options) into `dir`, a folder inside the project so that its packages resolve.
 */
export function compileDocExamples(examples: readonly DocExample[], root: string, dir: string): CompiledExample[] {
  const publicNames = new Set(collectPublicNames(root));
  const sources = examples.map((ex, i) => {
    const path = join(dir, `example-${i}.ts`);
    writeFileSync(path, exampleModule(ex, root, publicNames));
    return path;
  });
  const options: ts.CompilerOptions = { ...compilerOptions(root), rootDir: dir, outDir: dir, declaration: false, noEmitOnError: false };
  const program = ts.createProgram(sources, options);
  program.emit();
  return sources.map((path, i) => {
    const source = program.getSourceFile(path);
    assert.ok(source, `${path} was not compiled`);
    const errors = ts.getPreEmitDiagnostics(program, source).map((d) => describe(d, examples[i]));
    return errors.length > 0 ? { errors } : { module: path.replace(/\.ts$/, '.js') };
  });
}

function collectPublicNames(root: string): string[] {
  const program = ts.createProgram([join(root, 'src/index.ts')], compilerOptions(root));
  const entry = program.getSourceFile(join(root, 'src/index.ts'));
  const symbol = entry && program.getTypeChecker().getSymbolAtLocation(entry);
  assert.ok(symbol, 'src/index.ts is not a module');
  return program.getTypeChecker().getExportsOfModule(symbol).map((s) => s.name);
}

/** A scratch folder for compiled examples under `root/dist`, removed by `dispose`. */
export function exampleDir(root: string): { readonly dir: string; dispose(): void } {
  const dir = mkdtempSync(join(root, 'dist', 'doc-examples-'));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---- running them ---------------------------------------------------------------------------------

let logged: string[] = [];

/**
 * Runs a compiled example to its end (it throws on a compile error, a thrown error or a failed
 * `// →` or `// prints`); what it logs is kept for `// prints` and returned.
 */
export async function runDocExample(compiled: CompiledExample): Promise<{ completed: boolean; logged: string[] }> {
  if ('errors' in compiled) assert.fail(`the example does not compile:\n  ${compiled.errors.join('\n  ')}`);
  const log = console.log;
  logged = [];
  console.log = (...args: unknown[]) => void logged.push(format(...args));
  try {
    await import(pathToFileURL(compiled.module).href);
    return { completed: true, logged };
  } finally {
    console.log = log;
  }
}

/** `expr; // → value`: `actual` equals `expected` */
export function shown(actual: unknown, expected: unknown, where: string): void {
  assert.deepStrictEqual(actual, expected, `${where}: the example shows ${format(expected)}, the code gives ${format(actual)}`);
}

/** `expr; // → ≈ 5.6e8`: `actual` rounds to the digits shown */
export function about(actual: unknown, expected: string, where: string): void {
  const digits = expected.replace(/e.*$/i, '').split('.')[1]?.length ?? 0;
  const exponent = Number(/e(.*)$/i.exec(expected)?.[1] ?? 0);
  const halfUnit = 0.5 * 10 ** (exponent - digits);
  assert.ok(typeof actual === 'number', `${where}: the example shows a number (≈ ${expected}), the code gives ${format(actual)}`);
  assert.ok(Math.abs(actual - Number(expected)) <= halfUnit, `${where}: the example shows ≈ ${expected}, the code gives ${actual}`);
}

/** `stmt; // prints text`: the last line logged is `text` */
export function printed(expected: string, where: string): void {
  assert.equal(logged.at(-1), expected, `${where}: the example prints ${JSON.stringify(expected)}`);
}
