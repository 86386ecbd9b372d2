// Browser and OS names from user agents (src/pages/bench/environment.ts).
import { describe, expect, it } from 'vitest';
import { browserOf, osOf } from '../../../src/pages/bench/environment.ts';

const CHROMIUM =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';
const SAFARI =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';

describe('browserOf / osOf', () => {
  it('names Chromium, Chrome, Firefox and Safari', () => {
    expect(browserOf(CHROMIUM, [{ brand: 'Chromium', version: '156' }])).toEqual({
      name: 'Chromium',
      version: '156.0.0.0',
    });
    expect(browserOf(CHROMIUM, [{ brand: 'Google Chrome', version: '156' }]).name).toBe('Chrome');
    expect(browserOf(FIREFOX)).toEqual({ name: 'Firefox', version: '153.0' });
    expect(browserOf(SAFARI)).toEqual({ name: 'Safari', version: '17.4' });
  });

  it('names the OS', () => {
    expect(osOf(CHROMIUM)).toBe('Linux x86_64');
    expect(osOf(SAFARI)).toBe('macOS 10.15.7');
    expect(osOf('Mozilla/5.0 (Windows NT 10.0; Win64; x64)')).toBe('Windows 10.0');
  });
});
