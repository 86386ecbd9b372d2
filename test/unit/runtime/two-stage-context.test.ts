// The local context a page gives a ranker (src/runtime/local-context.ts): the hour and weekday
// of the device's clock, the device class from the user agent, the locale; a request's
// context checked before it crosses to the worker, and merged over the local one.
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../src/runtime/errors.ts';
import {
  CONTEXT_LIMITS,
  checkContext,
  deviceClass,
  localContext,
  mergeContext,
} from '../../../src/runtime/local-context.ts';

const UA = {
  iphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  androidPhone:
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  androidTablet:
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  ipad: 'Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  mac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  windows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  headless:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
};

describe('localContext', () => {
  it('reads the hour and weekday of the local clock as the storefront writes them', () => {
    // 2026-03-01 was a Sunday; 2026-03-02 a Monday.
    expect(localContext({ now: new Date(2026, 2, 1, 0, 5), navigator: null })).toEqual({
      hour: '0',
      weekday: 'sun',
    });
    expect(localContext({ now: new Date(2026, 2, 2, 23, 59), navigator: null })).toEqual({
      hour: '23',
      weekday: 'mon',
    });
    const week = Array.from(
      { length: 7 },
      (_, d) => localContext({ now: new Date(2026, 2, 2 + d, 12), navigator: null }).weekday,
    );
    expect(week).toEqual(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
  });

  it('adds the device class and the locale when there is a navigator', () => {
    const now = new Date(2026, 2, 3, 9);
    expect(localContext({ now, navigator: { userAgent: UA.iphone, language: 'de-DE' } })).toEqual({
      hour: '9',
      weekday: 'tue',
      device: 'mobile',
      locale: 'de-DE',
    });
    // No user agent, no device; an empty language, no locale.
    expect(localContext({ now, navigator: { language: '' } })).toEqual({
      hour: '9',
      weekday: 'tue',
    });
  });

  it('tells phones, tablets and desktops apart', () => {
    expect(deviceClass({ userAgent: UA.iphone })).toBe('mobile');
    expect(deviceClass({ userAgent: UA.androidPhone })).toBe('mobile');
    expect(deviceClass({ userAgent: UA.androidTablet })).toBe('tablet');
    expect(deviceClass({ userAgent: UA.ipad })).toBe('tablet');
    // iPadOS asks for the desktop site: a Mac with a touch screen.
    expect(deviceClass({ userAgent: UA.mac, maxTouchPoints: 5 })).toBe('tablet');
    expect(deviceClass({ userAgent: UA.mac, maxTouchPoints: 0 })).toBe('desktop');
    expect(deviceClass({ userAgent: UA.windows })).toBe('desktop');
    expect(deviceClass({ userAgent: UA.headless })).toBe('desktop');
    // Client hints say so even when the user agent is reduced.
    expect(deviceClass({ userAgent: UA.windows, userAgentData: { mobile: true } })).toBe('mobile');
  });
});

describe('a request context', () => {
  const bad = (context: unknown, message: RegExp) => {
    let error: unknown;
    try {
      checkContext(context);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RuntimeError);
    expect(error).toMatchObject({ code: 'bad-request' });
    expect((error as Error).message).toMatch(message);
  };

  it('takes strings, finite numbers, and undefined or null to leave a field out', () => {
    expect(() =>
      checkContext({ hour: 9, device: 'mobile', locale: undefined, weekday: null }),
    ).not.toThrow();
    expect(() => checkContext(Object.create(null))).not.toThrow();
  });

  it('refuses anything else, naming the field', () => {
    bad(null, /context must be an object/);
    bad(['mobile'], /context must be an object/);
    bad(new Date(), /context must be an object/);
    bad({ hour: Number.POSITIVE_INFINITY }, /"hour" is Infinity/);
    bad({ device: ['mobile'] }, /"device" is \["mobile"\]/);
    bad({ device: () => 'mobile' }, /"device"/);
    bad({ locale: 'x'.repeat(CONTEXT_LIMITS.maxValueLength + 1) }, /"locale"/);
    const many = Object.fromEntries(
      Array.from({ length: CONTEXT_LIMITS.maxFields + 1 }, (_, i) => [`f${i}`, 'v']),
    );
    bad(many, /at most 64/);
  });

  it('overrides the local context field by field; undefined or null removes one', () => {
    const local = { hour: '9', weekday: 'tue', device: 'mobile', locale: 'en-GB' };
    expect(mergeContext(local, { hour: 21, locale: null, device: undefined, shop: 'de' })).toEqual({
      hour: 21,
      weekday: 'tue',
      shop: 'de',
    });
    expect(mergeContext(local, undefined)).toEqual(local);
    // A field named like an Object.prototype key is a field like any other.
    const odd = mergeContext({}, JSON.parse('{"__proto__": "x", "constructor": "y"}'));
    expect(Object.keys(odd)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(odd)).toBe(Object.prototype);
  });
});
