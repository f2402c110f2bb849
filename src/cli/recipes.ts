/**
 * Recipes: named sets of `tessera train` options, one flat YAML file each (the format --config
 * reads) in the package's `recipes/` folder. A new recipe is a new file there; `tessera train
 * --help` lists them with the first comment line of each file.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { editDistance } from '../util/text.js';
import { UsageError } from './args.js';

/** A shipped recipe. */
export interface RecipeInfo {
  readonly name: string;
  readonly file: string;
  /** the file's first comment line */
  readonly summary: string;
}

/**
 * The package's `recipes/` folder (beside its package.json).
 *
 * @example
 * recipesDir().endsWith('recipes'); // → true
 */
export function recipesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'recipes'))) return join(dir, 'recipes');
    dir = dirname(dir);
  }
  throw new Error('the recipes/ folder of the package is missing');
}

/**
 * The shipped recipes, by name.
 *
 * @example
 * listRecipes().map((r) => r.name).includes('pytorch-cifar'); // → true
 */
export function listRecipes(): RecipeInfo[] {
  const dir = recipesDir();
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      const comment = readFileSync(file, 'utf8')
        .split(/\r?\n/)
        .find((l) => l.startsWith('#'));
      return { name: f.slice(0, -'.yaml'.length), file, summary: comment ? comment.replace(/^#+\s*/, '') : '' };
    });
}

/**
 * The file `--recipe` names: a shipped recipe's name, or a YAML file (a path ending in .yaml or
 * .yml). An unknown name is a UsageError listing the recipes.
 *
 * @example
 * recipeFile('pytorch-cifar').endsWith('pytorch-cifar.yaml'); // → true
 */
export function recipeFile(spec: string): string {
  if (/\.ya?ml$/i.test(spec)) {
    if (!existsSync(spec)) throw new UsageError(`--recipe ${spec}: no such file`);
    return spec;
  }
  const recipes = listRecipes();
  const found = recipes.find((r) => r.name === spec);
  if (found) return found.file;
  const close = recipes.filter((r) => editDistance(r.name, spec) <= 3).map((r) => r.name);
  throw new UsageError(`--recipe ${spec}: unknown recipe${close.length ? `; did you mean ${close.join(' or ')}?` : ''} (recipes: ${recipes.map((r) => r.name).join(', ')}; or give a FILE.yaml)`);
}

/** The `tessera train --help` paragraph that lists the recipes. */
export function recipesHelp(): string {
  const recipes = listRecipes();
  const width = Math.max(...recipes.map((r) => r.name.length)) + 2;
  return ["recipes (--recipe NAME: a file of the package's recipes/ folder; or --recipe FILE.yaml):", ...recipes.map((r) => `  ${r.name.padEnd(width)}${r.summary}`)].join('\n');
}
