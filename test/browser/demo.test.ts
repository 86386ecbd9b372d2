// The demo page in real Chromium: it downloads the default model package, verifies it with
// the shared reader (Web Crypto SHA-256), shows the same size figures as `pocketrec info`,
// and recommends as the visitor clicks. A corrupted weight file must stop it with a message.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Manifest } from '../../src/package/manifest.ts';
import {
  type ChromiumSession,
  collectErrors,
  launchChromium,
  projectRoot,
  recordRequests,
  startServer,
  type TestServer,
} from './harness.ts';

let server: TestServer;
let session: ChromiumSession;
let manifest: Manifest;

beforeAll(async () => {
  manifest = JSON.parse(
    await readFile(join(projectRoot, 'models/storefront-markov/manifest.json'), 'utf8'),
  );
  server = await startServer();
  session = await launchChromium();
});

afterAll(async () => {
  await session?.close();
  await server?.close();
});

describe('demo page', () => {
  test('loads and verifies the default model, then recommends on click', async () => {
    const page = await session.newPage();
    const errors = collectErrors(page);
    const network = recordRequests(page);
    const response = await page.goto(`${server.url}/`);
    expect(response?.headers()['content-security-policy']).toContain("connect-src 'self'");
    await page.waitForSelector('body[data-model-ready="true"]');

    expect(await page.textContent('#model-name')).toBe(`${manifest.name} (${manifest.kind})`);
    expect(await page.textContent('#model-compression')).toBe(
      `${manifest.size.modelCompression.toFixed(1)}x vs dense`,
    );
    expect(await page.textContent('#model-status')).toContain(
      `verified: ${manifest.files.length} files`,
    );

    const before = await page
      .locator('#recommendations .card')
      .evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.item));
    const clicked = await page.locator('#catalogue .card').first().getAttribute('data-item');
    await page.locator('#catalogue .card').first().click();
    const after = await page
      .locator('#recommendations .card')
      .evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.item));
    expect(after).toHaveLength(6);
    expect(after).not.toContain(clicked);
    expect(after).not.toEqual(before);
    expect(await page.locator('#history li').count()).toBe(1);

    expect(errors.lines()).toEqual([]);
    expect(network.offOrigin(server.url)).toEqual([]);
  });

  test('a bit-flipped weight file is rejected in the browser with a message naming it', async () => {
    const page = await session.newPage();
    await page.route('**/models/storefront-markov/weights-0.bin', async (route) => {
      const original = await route.fetch();
      const body = Buffer.from(await original.body());
      body[100] = (body[100] as number) ^ 0x01;
      await route.fulfill({ response: original, body });
    });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('body[data-model-ready="error"]');
    const message = await page.textContent('#error');
    expect(message).toContain('weights-0.bin');
    expect(message).toContain('SHA-256');
  });
});
