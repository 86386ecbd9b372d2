// Which catalogue images the widget requests, the pure part: the `image-origins` attribute,
// catalogue image URLs made absolute against the catalogue's URL, and the rule (http(s)
// only; the page's origin, or one the host listed). The <img> itself (no referrer, lazy,
// the drawn thumbnail instead of a refused image) is checked in Chromium, in
// test/browser/privacy-storefront.test.ts.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_IMAGE_ORIGINS,
  parseImageOrigins,
  RENDER_ATTRIBUTES,
  readConfig,
} from '../../../src/widget/attributes.ts';
import { imageSource, parseCatalog } from '../../../src/widget/catalog.ts';
import { WidgetError } from '../../../src/widget/errors.ts';

const SHOP = 'https://shop.example';
const CDN = 'https://cdn.shop.example';

/** readConfig only asks getAttribute, so a map stands in for the element. */
function element(attributes: Record<string, string>): Element {
  return { getAttribute: (name: string) => attributes[name] ?? null } as unknown as Element;
}

function badAttribute(text: string): WidgetError {
  try {
    parseImageOrigins(text);
  } catch (error) {
    expect(error).toBeInstanceOf(WidgetError);
    return error as WidgetError;
  }
  throw new Error(`image-origins="${text}" was accepted`);
}

describe('image-origins', () => {
  it('lists no other origin by default', () => {
    expect(DEFAULT_IMAGE_ORIGINS).toBe('');
    expect(parseImageOrigins(null)).toEqual(new Set());
    expect(readConfig(element({ model: '/m' })).imageOrigins).toEqual(new Set());
  });

  it('is observed like the other attributes that only redraw the list', () => {
    expect(RENDER_ATTRIBUTES).toContain('image-origins');
  });

  it('reads space-separated origins in their serialised form', () => {
    const origins = parseImageOrigins(
      `  ${CDN}  HTTPS://Images.Example:443/\n http://127.0.0.1:8080 `,
    );
    expect(origins).toEqual(new Set([CDN, 'https://images.example', 'http://127.0.0.1:8080']));
    expect(readConfig(element({ model: '/m', 'image-origins': CDN })).imageOrigins).toEqual(
      new Set([CDN]),
    );
  });

  it('takes * for any origin', () => {
    expect(parseImageOrigins(`* ${CDN}`)).toEqual(new Set(['*', CDN]));
  });

  it.each([
    ['a path', `${CDN}/images/`],
    ['a query', `${CDN}/?shop=1`],
    ['credentials', 'https://user:secret@cdn.shop.example'],
    ['another scheme', 'ftp://cdn.shop.example'],
    ['data:', 'data:image/png;base64,AAAA'],
    ['javascript:', 'javascript:alert(1)'],
    ['no scheme', 'cdn.shop.example'],
    ["CSP's 'self'", "'self'"],
  ])('refuses %s as a bad-attribute error naming the token', (_what, token) => {
    const error = badAttribute(`${CDN} ${token}`);
    expect(error.code).toBe('bad-attribute');
    expect(error.message).toContain(`"${token}"`);
  });

  it('makes readConfig fail like any other unusable attribute', () => {
    expect(() => readConfig(element({ model: '/m', 'image-origins': 'nope' }))).toThrow(
      WidgetError,
    );
  });
});

describe('catalogue image URLs', () => {
  const catalogUrl = `${SHOP}/static/catalog/products.json`;
  const imageOf = (image: unknown, base = catalogUrl) =>
    parseCatalog([{ id: 'p1', name: 'Kettle', image }], 'test', base).get('p1')?.image;

  it('are resolved against the catalogue URL, not the page', () => {
    expect(imageOf('thumbs/p1.png')).toBe(`${SHOP}/static/catalog/thumbs/p1.png`);
    expect(imageOf('../img/p1.png')).toBe(`${SHOP}/static/img/p1.png`);
    expect(imageOf('/p1.png')).toBe(`${SHOP}/p1.png`);
    expect(imageOf('//cdn.shop.example/p1.png')).toBe(`${CDN}/p1.png`);
    expect(imageOf(`${CDN}/a b.png`)).toBe(`${CDN}/a%20b.png`);
  });

  it('keep other schemes for the drawing rule to refuse, without failing the catalogue', () => {
    expect(imageOf('javascript:alert(1)')).toBe('javascript:alert(1)');
    expect(imageOf('data:image/gif;base64,R0lGOD')).toBe('data:image/gif;base64,R0lGOD');
    expect(imageOf('http://[oops')).toBe('http://[oops');
  });

  it('leave an empty image out rather than point it at the catalogue', () => {
    expect(imageOf('')).toBeUndefined();
  });

  it('must still be strings', () => {
    expect(() => imageOf(42)).toThrow(/entry 0 has a non-string image/);
  });
});

describe('imageSource', () => {
  const none = new Set<string>();

  it('loads images from the page origin', () => {
    expect(imageSource(`${SHOP}/img/p1.png`, SHOP, none)).toEqual({
      allowed: true,
      url: `${SHOP}/img/p1.png`,
    });
  });

  it('refuses another origin (scheme and port count) unless it is listed', () => {
    for (const other of [CDN, 'http://shop.example', 'https://shop.example:8443']) {
      const refused = imageSource(`${other}/img/p1.png`, SHOP, none);
      expect(refused).toMatchObject({ allowed: false, key: other });
      expect(imageSource(`${other}/img/p1.png`, SHOP, new Set([other]))).toEqual({
        allowed: true,
        url: `${other}/img/p1.png`,
      });
    }
  });

  it('lets * allow any http(s) origin, and nothing else', () => {
    const any = new Set(['*']);
    expect(imageSource('http://images.example/p1.png', SHOP, any).allowed).toBe(true);
    expect(imageSource('javascript:alert(1)', SHOP, any).allowed).toBe(false);
    expect(imageSource('data:image/png;base64,AAAA', SHOP, any).allowed).toBe(false);
  });

  it.each([
    ['javascript:alert(1)', 'javascript:'],
    ['  JaVaScRiPt:alert(1)', 'javascript:'],
    ['data:image/svg+xml,<svg/>', 'data:'],
    [`blob:${SHOP}/0c7d1d6e-2f7a-4d1c-9a5e-1d2f3a4b5c6d`, 'blob:'],
    ['file:///etc/passwd', 'file:'],
    ['ftp://shop.example/p1.png', 'ftp:'],
  ])('never loads %s, even with every origin allowed', (image, scheme) => {
    expect(imageSource(image, SHOP, new Set(['*', SHOP]))).toMatchObject({
      allowed: false,
      key: scheme,
    });
  });

  it('refuses what the URL API cannot read', () => {
    expect(imageSource('p1.png', SHOP, new Set(['*']))).toMatchObject({
      allowed: false,
      key: 'invalid',
    });
  });

  it('refuses every image on a page with an opaque origin unless listed', () => {
    expect(imageSource(`${SHOP}/p1.png`, 'null', none).allowed).toBe(false);
  });
});
