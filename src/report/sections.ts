/**
 * Sections a plugin adds to its run's report.html (MAE's reconstruction grid): kept in
 * report-sections.json beside metrics.jsonl as `[{title, html}]`, one per title (a newer one
 * replaces it), written atomically; `runPage` appends them after the validation.
 *
 * @example
 * writeReportSection('runs/a', { title: 'reconstructions', html: '<p>…</p>' });
 * readReportSections('runs/a').map((s) => s.title); // ['reconstructions']
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/files.js';
import type { Section } from './html.js';

export const REPORT_SECTIONS = 'report-sections.json';

const isSection = (x: unknown): x is { title: string; html: string } =>
  typeof x === 'object' && x !== null && typeof Reflect.get(x, 'title') === 'string' && typeof Reflect.get(x, 'html') === 'string';

/** The sections a run's plugins wrote (none when the file is missing or unreadable). */
export function readReportSections(dir: string): Section[] {
  const file = join(dir, REPORT_SECTIONS);
  if (!existsSync(file)) return [];
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return Array.isArray(parsed) ? parsed.filter(isSection).map((s) => ({ title: s.title, body: s.html })) : [];
  } catch {
    return [];
  }
}

/** Adds or replaces (by title) one section. */
export function writeReportSection(dir: string, section: { readonly title: string; readonly html: string }): void {
  const others = readReportSections(dir).filter((s) => s.title !== section.title).map((s) => ({ title: s.title, html: s.body }));
  writeFileAtomic(join(dir, REPORT_SECTIONS), `${JSON.stringify([...others, section])}\n`);
}
