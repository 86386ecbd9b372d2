// What the demo-page tests (demo.test.ts, privacy-demo.test.ts) both ask of the page.
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/** Waits until the page has opened its model, and fails with the page's message if it could not. */
export async function demoReady(page: Page): Promise<void> {
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', {
    timeout: 120_000,
  });
  const error = await page.locator('#error').textContent();
  expect(await page.getAttribute('body', 'data-state'), error ?? '').toBe('ready');
}

/** The item ids of the elements `selector` matches, in page order. */
export const itemsOf = (page: Page, selector: string) =>
  page.locator(selector).evaluateAll((nodes) => nodes.map((n) => (n as HTMLElement).dataset.item));
