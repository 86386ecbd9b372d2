/**
 * The shopper's local context, as a ranker reads it (src/model/ctr/ranker.ts): what the page
 * itself knows, read on the device and never sent anywhere but the inference worker.
 *
 *   hour     String(new Date().getHours())        '0' .. '23', the device's local time
 *   weekday  'mon' | 'tue' | ... | 'sun'          the device's local day
 *   device   'mobile' | 'tablet' | 'desktop'      from navigator.userAgentData / userAgent
 *   locale   navigator.language                   e.g. 'en-GB'
 *
 * The raw strings are exactly what the generated context storefront writes
 * (src/data/storefront-context.ts: contextFieldValues), so a ranker trained on it finds them
 * in its vocabularies. A field that cannot be read here (no navigator: a test in Node) is
 * left out; the ranker then scores it as unknown. Browser-safe: no Node API, no tfjs.
 */
import { RuntimeError } from './errors.ts';

export const WEEKDAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAY_NAMES)[number];
export type DeviceClass = 'mobile' | 'tablet' | 'desktop';

/** A type, not an interface: it is assignable to a record of context values. */
export type LocalContext = {
  hour: string;
  weekday: Weekday;
  device?: DeviceClass;
  locale?: string;
};

/** A context value as a page gives it: a raw value, written as the model's vocabulary has it. */
export type ContextValue = string | number;
/**
 * What `recommend({ context })` takes: raw values that override the local context field by
 * field; undefined or null leaves a field out (the default's too).
 */
export type RecommendContext = Readonly<Record<string, ContextValue | null | undefined>>;
/** A checked context, as it crosses to the worker. */
export type ContextValues = Readonly<Record<string, ContextValue>>;

export const CONTEXT_LIMITS = {
  /** Fields in one request's context. */
  maxFields: 64,
  /** Characters of one string value. */
  maxValueLength: 256,
} as const;

/** What navigator offers for the context; a subset, so tests can pass their own. */
export interface NavigatorLike {
  userAgent?: string;
  language?: string;
  maxTouchPoints?: number;
  userAgentData?: { mobile?: boolean } | undefined;
}

export interface LocalContextSource {
  /** Default: now. */
  now?: Date;
  /** Default: globalThis.navigator; null: none (device and locale are left out). */
  navigator?: NavigatorLike | null;
}

/** The device class of a navigator (see the file comment): tablets first, then phones. */
export function deviceClass(navigator: NavigatorLike): DeviceClass {
  const ua = navigator.userAgent ?? '';
  // iPadOS 13+ asks for the desktop site: a Mac with a touch screen is an iPad.
  const ipad = /iPad/.test(ua) || (/Macintosh/.test(ua) && (navigator.maxTouchPoints ?? 0) > 1);
  if (ipad || /Tablet|PlayBook|Silk/i.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua))) {
    return 'tablet';
  }
  if (navigator.userAgentData?.mobile === true) return 'mobile';
  return /Mobi|iPhone|iPod|Android|Windows Phone/i.test(ua) ? 'mobile' : 'desktop';
}

/** The local context now (see the file comment). */
export function localContext(source: LocalContextSource = {}): LocalContext {
  const now = source.now ?? new Date();
  const nav =
    source.navigator === undefined
      ? (globalThis.navigator as NavigatorLike | undefined)
      : source.navigator;
  // getDay: 0 is Sunday.
  const weekday = WEEKDAY_NAMES[(now.getDay() + 6) % 7] as Weekday;
  const context: LocalContext = { hour: String(now.getHours()), weekday };
  if (nav) {
    if (typeof nav.userAgent === 'string') context.device = deviceClass(nav);
    if (typeof nav.language === 'string' && nav.language !== '') context.locale = nav.language;
  }
  return context;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

const show = (v: unknown): string => {
  const text = typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/**
 * A request's context checked (a plain object of at most CONTEXT_LIMITS.maxFields strings
 * or finite numbers; undefined or null to leave a field out), else RuntimeError
 * ('bad-request'). Run on the page before postMessage, so nothing structured clone cannot
 * copy (a function, a DOM node) ever reaches it.
 */
export function checkContext(context: unknown): asserts context is RecommendContext {
  if (!isPlainObject(context)) {
    throw new RuntimeError(
      'bad-request',
      `context must be an object of field names to strings or numbers, got ${show(context)}`,
    );
  }
  const entries = Object.entries(context);
  if (entries.length > CONTEXT_LIMITS.maxFields) {
    throw new RuntimeError(
      'bad-request',
      `context has ${entries.length} fields; at most ${CONTEXT_LIMITS.maxFields} are taken`,
    );
  }
  for (const [field, value] of entries) {
    if (value === undefined || value === null) continue;
    const ok =
      (typeof value === 'string' && value.length <= CONTEXT_LIMITS.maxValueLength) ||
      (typeof value === 'number' && Number.isFinite(value));
    if (!ok) {
      throw new RuntimeError(
        'bad-request',
        `context field ${JSON.stringify(field)} is ${show(value)}: a value is a string (at most ${CONTEXT_LIMITS.maxValueLength} characters) or a finite number`,
      );
    }
  }
}

/** `defaults` with `overrides` applied (both checked): undefined or null removes a field. */
export function mergeContext(
  defaults: Readonly<Record<string, ContextValue | undefined>>,
  overrides: RecommendContext | undefined,
): ContextValues {
  // A Map, so that a field named "__proto__" is a field like any other.
  const out = new Map<string, ContextValue>();
  for (const [field, value] of Object.entries(defaults)) {
    if (value !== undefined) out.set(field, value);
  }
  for (const [field, value] of Object.entries(overrides ?? {})) {
    if (value === undefined || value === null) out.delete(field);
    else out.set(field, value);
  }
  return Object.fromEntries(out);
}
