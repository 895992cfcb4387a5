// Accessibility check of one HTML file, as reference/snapshots-web-postgres.md §3.1 describes:
// axe-core injected into Debian's chromium through playwright-core, WCAG 2.0/2.1 A and AA rules.
// Also saves a full-page screenshot, so that a person can look at the page.
//
// usage: node check.mjs PAGE.html SCREENSHOT.png
// Prints {"violations": [...], "passes": N} and exits 1 when there is any violation.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [page_path, png_path] = process.argv.slice(2);
if (!page_path || !png_path) {
  console.error('usage: node check.mjs PAGE.html SCREENSHOT.png');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const axe_source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(pathToFileURL(page_path).href);
  await page.addScriptTag({ content: axe_source });
  const result = await page.evaluate(() =>
    axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    }),
  );
  await page.screenshot({ path: png_path, fullPage: true });
  const violations = result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.html),
  }));
  console.log(JSON.stringify({ violations, passes: result.passes.length }));
  process.exitCode = violations.length === 0 ? 0 : 1;
} finally {
  await browser.close();
}
