// The one way the browser tests start a browser: Debian's chromium through playwright-core
// (no downloaded browser), headless, with the output folder made and a step logger.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const env = process.env;

/** Start chromium ($CHROMIUM or /usr/bin/chromium); returns the browser and OUT_DIR. */
export async function launch() {
  const outDir = path.resolve(env.OUT_DIR || 'test-artifacts');
  mkdirSync(outDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run'
    ]
  });
  return { browser, outDir };
}

/** A step logger that records into result.steps and prints to stderr. */
export function stepper(result, label) {
  return name => {
    result.steps.push(name);
    process.stderr.write(`[${label}] ${name}\n`);
  };
}
