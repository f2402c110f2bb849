/**
 * Debian's headless Chromium driven with puppeteer-core (no downloaded browser), for the tests
 * that open Tessera's pages: every console error and failed request is recorded, and charts are
 * counted from their SVG marks.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { Browser, Page } from 'puppeteer-core';

/** Where the tests expect Chromium (Debian's `chromium` package); TESSERA_CHROMIUM overrides it. */
export const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Flags that give the page a WebGPU adapter (SwiftShader's, in software: with --disable-gpu
 * and without this flag Debian's headless Chromium 150 has none) and a fake camera that
 * needs no permission prompt.
 */
export const WEBGPU_AND_FAKE_CAMERA = ['--enable-unsafe-webgpu', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A page opened from a file, with what went wrong while it loaded. */
export interface OpenedPage {
  readonly page: Page;
  readonly consoleErrors: readonly string[];
  readonly failedRequests: readonly string[];
  /** every request that was not for the file itself or a data: URI (a self-contained page makes none) */
  readonly externalRequests: readonly string[];
}

/** One chart on a page, counted from its SVG. */
export interface ChartCounts {
  readonly name: string;
  readonly svg: boolean;
  /** lines (`g.mark-line.role-mark > path`) */
  readonly series: number;
  /** marked points (`g.mark-symbol.role-mark > path`) */
  readonly points: number;
  /** heat-map cells (`g.mark-rect.role-mark > path`) */
  readonly cells: number;
}

/** A running Chromium with a fresh profile; `close` removes the profile. */
export class HeadlessChromium {
  private constructor(
    private readonly browser: Browser,
    private readonly profile: string,
  ) {}

  /** Starts Chromium with `flags` beside the usual ones; fails (never skips) when it is not installed. */
  static async launch(flags: readonly string[] = []): Promise<HeadlessChromium> {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium; npm test's pretest step tries to)`);
    const profile = mkdtempSync(join(tmpdir(), 'tessera-chromium-'));
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: [...FLAGS, ...flags, `--user-data-dir=${profile}`] });
    return new HeadlessChromium(browser, profile);
  }

  /** Opens an HTML file (file://) and waits for it to load. */
  async open(file: string, viewport = { width: 1280, height: 900 }): Promise<OpenedPage> {
    return this.openUrl(pathToFileURL(file).href, viewport);
  }

  /** Opens a URL (a page served over HTTP, or file://) and waits for it to load; `initScript` runs in the page before its own scripts. */
  async openUrl(url: string, viewport = { width: 1280, height: 900 }, initScript?: string): Promise<OpenedPage> {
    const page = await this.browser.newPage();
    await page.setViewport(viewport);
    if (initScript) await page.evaluateOnNewDocument(initScript);
    const consoleErrors: string[] = [];
    const failedRequests: string[] = [];
    const externalRequests: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && consoleErrors.push(m.text())));
    page.on('pageerror', (e) => void consoleErrors.push(e instanceof Error ? e.message : String(e)));
    page.on('requestfailed', (r) => void failedRequests.push(`${r.url().slice(0, 100)}: ${r.failure()?.errorText ?? '?'}`));
    page.on('request', (r) => void (r.url() !== url && !r.url().startsWith('data:') && externalRequests.push(r.url())));
    await page.goto(url, { waitUntil: 'load' });
    return { page, consoleErrors, failedRequests, externalRequests };
  }

  async close(): Promise<void> {
    await this.browser.close();
    rmSync(this.profile, { recursive: true, force: true });
  }
}

/** Every chart (`figure.chart[data-chart]`) of the page, counted. */
export function countCharts(page: Page): Promise<ChartCounts[]> {
  return page.$$eval('figure.chart', (figures) =>
    figures.map((f) => ({
      name: f.getAttribute('data-chart') ?? '',
      svg: f.querySelector(':scope > svg') !== null,
      series: f.querySelectorAll('g.mark-line.role-mark > path').length,
      points: f.querySelectorAll('g.mark-symbol.role-mark > path').length,
      cells: f.querySelectorAll('g.mark-rect.role-mark > path').length,
    })),
  );
}
