/**
 * Helpers shared by the browser tests (vitest project 'browser', node environment).
 *
 * - startServer(): a Vite dev server built from the project's vite.config.ts (same CSP headers as
 *   `npm start`) on 127.0.0.1 and a free port, so it never clashes with a running `npm start`.
 * - launchChromium() / launchPersistentChromium(): Debian's Chromium driven by playwright-core
 *   (never a downloaded browser build), with the flags that give WebGPU on SwiftShader.
 * - collectErrors(): console errors + uncaught page errors, to assert there were none.
 * - recordRequests(): every network request (method, url, postData), to assert nothing leaves
 *   the origin.
 * - startRecordingServer(): a second origin on 127.0.0.1 (say, an image host) that records what
 *   it receives: path, query, Referer, Cookie and Origin.
 * - SHOP_CSP: the strict CSP a shop serves the built widget under.
 * - serveBuilt(): a built dist/ served as a shop would, models beside it.
 *
 * `npm run test:browser` runs scripts/ensure-chromium.js first, which installs the browser.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Browser,
  type BrowserContext,
  type ConsoleMessage,
  chromium,
  type Page,
  type Request,
} from 'playwright-core';
import { createServer, type InlineConfig, mergeConfig, type ViteDevServer } from 'vite';

/** The project root (where vite.config.ts lives). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Debian's Chromium binary (not the /usr/bin/chromium shell wrapper). */
export const DEBIAN_CHROMIUM = '/usr/lib/chromium/chromium';

/** The browser the tests drive: $POCKETREC_CHROMIUM, else Debian's package. */
export function chromiumPath(): string {
  return process.env.POCKETREC_CHROMIUM || DEBIAN_CHROMIUM;
}

/** Flags from shared/ENVIRONMENT.md. Playwright adds its own user-data-dir and pipe flags. */
export const BASE_CHROMIUM_ARGS: readonly string[] = [
  '--headless=new',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Without this flag navigator.gpu.requestAdapter() resolves null on this machine. */
export const WEBGPU_ARGS: readonly string[] = ['--enable-unsafe-webgpu'];

/**
 * The flags a launch gets: the base ones, WebGPU's when asked, `extraArgs`, then
 * $POCKETREC_CHROMIUM_ARGS (space-separated): a machine with a real GPU needs Vulkan flags.
 */
export function chromiumArgs(opts: { webgpu?: boolean; extraArgs?: readonly string[] } = {}) {
  const envArgs = (process.env.POCKETREC_CHROMIUM_ARGS ?? '').split(' ').filter((a) => a !== '');
  return [
    ...BASE_CHROMIUM_ARGS,
    ...(opts.webgpu ? WEBGPU_ARGS : []),
    ...(opts.extraArgs ?? []),
    ...envArgs,
  ];
}

/**
 * What a shop's CSP needs to allow for the built widget, and no more: no inline styles (the
 * widget's are a constructed stylesheet) and no blob: scripts or workers (the built worker
 * is a file).
 */
export const SHOP_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
].join('; ');

// ---------------------------------------------------------------------------------------------
// Vite dev server

export interface TestServer {
  /** Origin of the server, without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Closes the server (idempotent). */
  close(): Promise<void>;
  /** The underlying Vite dev server, for anything the helpers do not cover. */
  vite: ViteDevServer;
}

/**
 * Starts a Vite dev server from the project's vite.config.ts on 127.0.0.1 and a free port
 * (port 0: the OS picks one). File watching is off (a test never needs a reload mid-run);
 * `overrides` are merged over the config.
 */
export async function startServer(overrides: InlineConfig = {}): Promise<TestServer> {
  const base: InlineConfig = {
    root: projectRoot,
    configFile: join(projectRoot, 'vite.config.ts'),
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port: 0, strictPort: true, watch: null },
  };
  const server = await createServer(mergeConfig(base, overrides));
  try {
    await server.listen();
  } catch (err) {
    await server.close();
    throw err;
  }
  const address = server.httpServer?.address() as AddressInfo | string | null | undefined;
  if (!address || typeof address === 'string') {
    await server.close();
    throw new Error(`Vite server has no TCP address (${String(address)})`);
  }
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${address.port}`,
    vite: server,
    close: () => {
      closed ??= server.close();
      return closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A built site

export interface BuiltSite {
  /** Origin of the server, without a trailing slash. */
  url: string;
  /** The Content-Security-Policy every response carries. */
  csp: string;
  /** Every header the site adds to its responses (the CSP; COOP and COEP when isolated). */
  headers: Record<string, string>;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain',
};

/**
 * Serves a built dist/ as a shop would: static files with the CSP, and /models/ and /runs/
 * from the project beside them (packages are not part of the build). `isolated`: every
 * response also makes the page cross-origin isolated (COOP and COEP), as a shop that wants
 * SharedArrayBuffer serves its pages.
 */
export async function serveBuilt(
  outDir: string,
  opts: { csp: string; isolated?: boolean },
): Promise<BuiltSite> {
  const { csp } = opts;
  const headers: Record<string, string> = {
    'Content-Security-Policy': csp,
    ...(opts.isolated
      ? {
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
        }
      : {}),
  };
  const http = createHttpServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const fromProject = path.startsWith('/models/') || path.startsWith('/runs/');
    const file = fromProject ? join(projectRoot, path) : join(outDir, path);
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        ...headers,
        'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end('not found');
    }
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    csp,
    headers,
    close: () => new Promise((done) => http.close(() => done())),
  };
}

// ---------------------------------------------------------------------------------------------
// Chromium

export interface LaunchOptions {
  /** Adds --enable-unsafe-webgpu (WebGPU adapter on SwiftShader). */
  webgpu?: boolean;
  /**
   * A profile directory that outlives the browser (IndexedDB, caches survive a restart).
   * When given, the browser is started with launchPersistentContext. Without it, every launch
   * gets a fresh temporary profile that Playwright deletes on close.
   */
  userDataDir?: string;
  /** More Chromium flags ($POCKETREC_CHROMIUM_ARGS, space-separated, go after them). */
  extraArgs?: readonly string[];
}

export interface ChromiumSession {
  /** The browser; null for a persistent context (it has no separate Browser object to use). */
  browser: Browser | null;
  /** The context pages open in (the persistent context itself with a userDataDir). */
  context: BrowserContext;
  /** The profile directory when persistent, else null (Playwright's own temporary one). */
  userDataDir: string | null;
  /** A new page in `context`. */
  newPage(): Promise<Page>;
  /** Closes the context and browser (idempotent). Does not delete a given userDataDir. */
  close(): Promise<void>;
}

/**
 * Launches Debian's Chromium headless. With `userDataDir`, same as launchPersistentChromium.
 */
export async function launchChromium(opts: LaunchOptions = {}): Promise<ChromiumSession> {
  if (opts.userDataDir !== undefined) {
    return launchPersistentChromium(opts.userDataDir, opts);
  }
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: chromiumArgs(opts),
  });
  try {
    const context = await browser.newContext();
    return session(browser, context, null, () => browser.close());
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/**
 * Launches Chromium on a profile directory that persists across restarts: close the session,
 * launch again with the same directory, and IndexedDB etc. are still there.
 */
export async function launchPersistentChromium(
  userDataDir: string,
  opts: Omit<LaunchOptions, 'userDataDir'> = {},
): Promise<ChromiumSession> {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath(),
    args: chromiumArgs(opts),
  });
  return session(context.browser(), context, userDataDir, () => context.close());
}

function session(
  browser: Browser | null,
  context: BrowserContext,
  userDataDir: string | null,
  shutdown: () => Promise<void>,
): ChromiumSession {
  let closed: Promise<void> | undefined;
  return {
    browser,
    context,
    userDataDir,
    newPage: () => context.newPage(),
    close: () => {
      closed ??= shutdown();
      return closed;
    },
  };
}

/** A fresh temporary directory (for launchPersistentChromium); remove it with removeDir. */
export function makeTempDir(prefix = 'pocketrec-chromium-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Console / page errors

export interface CollectedError {
  /** 'console' for console.error (also from workers), 'pageerror' for an uncaught exception. */
  kind: 'console' | 'pageerror';
  text: string;
  /** Where it came from, when known (script URL or the page URL). */
  url: string;
}

export interface ErrorCollector {
  /** Everything collected so far (live array). */
  readonly errors: CollectedError[];
  /** One line per error, handy in assertion messages: expect(c.lines()).toEqual([]). */
  lines(): string[];
  /** Stops collecting. */
  dispose(): void;
}

/**
 * Collects console errors and uncaught errors from a page (console messages of its dedicated
 * workers included), or from every page of a context. Attach before page.goto().
 * `ignore` drops messages whose text matches (e.g. an expected 404). The 404 of the
 * /favicon.ico request Chromium makes on its own for every page is dropped unless
 * `keepFavicon` is set (the project serves no favicon).
 */
export function collectErrors(
  target: Page | BrowserContext,
  opts: { ignore?: readonly RegExp[]; keepFavicon?: boolean } = {},
): ErrorCollector {
  const errors: CollectedError[] = [];
  const ignored = (e: CollectedError) =>
    (opts.ignore ?? []).some((re) => re.test(e.text)) || (!opts.keepFavicon && isFavicon(e));
  const push = (e: CollectedError) => {
    if (!ignored(e)) errors.push(e);
  };
  const onConsole = (msg: ConsoleMessage) => {
    if (msg.type() === 'error') {
      push({ kind: 'console', text: msg.text(), url: msg.location().url });
    }
  };
  const onPageError = (err: Error) => {
    push({ kind: 'pageerror', text: err.stack || String(err), url: '' });
  };
  const onWebError = (webError: { error(): Error; page(): Page | null }) => {
    const err = webError.error();
    push({ kind: 'pageerror', text: err.stack || String(err), url: webError.page()?.url() ?? '' });
  };

  let dispose: () => void;
  if (isPage(target)) {
    target.on('console', onConsole);
    target.on('pageerror', onPageError);
    dispose = () => {
      target.off('console', onConsole);
      target.off('pageerror', onPageError);
    };
  } else {
    target.on('console', onConsole);
    target.on('weberror', onWebError);
    dispose = () => {
      target.off('console', onConsole);
      target.off('weberror', onWebError);
    };
  }
  return {
    errors,
    lines: () => errors.map((e) => `[${e.kind}] ${e.text}${e.url ? ` (${e.url})` : ''}`),
    dispose,
  };
}

// ---------------------------------------------------------------------------------------------
// Network requests

export interface RecordedRequest {
  method: string;
  url: string;
  /** The request body as text, or null (GET, or a body that is not text). */
  postData: string | null;
  /** Playwright's resource type: document, script, fetch, xhr, image... */
  resourceType: string;
}

export interface RequestRecorder {
  /** Every request so far, in order (live array). */
  readonly requests: RecordedRequest[];
  /**
   * Requests to anywhere but `origin` (e.g. the test server's url): should stay empty.
   * data: and blob: URLs never leave the browser and are not counted.
   */
  offOrigin(origin: string): RecordedRequest[];
  /** Stops recording. */
  dispose(): void;
}

/**
 * Records every request the page (or every page of the context) makes, workers included.
 * Requests a CSP blocks never reach the network and are not seen here; they show up as console
 * errors instead (collectErrors). WebSockets (Vite's HMR client) are not requests here.
 */
export function recordRequests(target: Page | BrowserContext): RequestRecorder {
  const requests: RecordedRequest[] = [];
  const onRequest = (req: Request) => {
    requests.push({
      method: req.method(),
      url: req.url(),
      postData: req.postData(),
      resourceType: req.resourceType(),
    });
  };
  target.on('request', onRequest);
  return {
    requests,
    offOrigin: (origin: string) => {
      const want = new URL(origin).origin;
      return requests.filter((r) => {
        if (r.url.startsWith('data:') || r.url.startsWith('blob:')) return false;
        try {
          return new URL(r.url).origin !== want;
        } catch {
          return true;
        }
      });
    },
    dispose: () => {
      target.off('request', onRequest);
    },
  };
}

function isFavicon(e: CollectedError): boolean {
  if (e.kind !== 'console' || !e.text.startsWith('Failed to load resource')) return false;
  try {
    return new URL(e.url).pathname === '/favicon.ico';
  } catch {
    return false;
  }
}

function isPage(target: Page | BrowserContext): target is Page {
  return typeof (target as Page).goto === 'function';
}

// ---------------------------------------------------------------------------------------------
// A second origin

export interface ReceivedRequest {
  method: string;
  path: string;
  /** The query string with its `?`, or '' when there is none. */
  query: string;
  /** The headers that could carry something about the page or the shopper; null if absent. */
  referer: string | null;
  cookie: string | null;
  origin: string | null;
}

export interface RecordingServer {
  /** Origin of the server, e.g. `http://127.0.0.1:41235` (another origin than startServer's). */
  url: string;
  /** Every request it received, in order (live array). */
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * A plain HTTP server on 127.0.0.1 and a free port, standing for a third party (an image
 * host): it records every request as the server sees it, which is what that party learns,
 * and answers each with `respond`'s status, headers and body (default: 404).
 */
export async function startRecordingServer(
  respond: (request: ReceivedRequest) => {
    status: number;
    headers?: Record<string, string>;
    body?: string | Uint8Array;
  } = () => ({ status: 404 }),
): Promise<RecordingServer> {
  const requests: ReceivedRequest[] = [];
  const header = (value: string | string[] | undefined) =>
    value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  const http = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://recording.invalid');
    const received: ReceivedRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: url.search,
      referer: header(req.headers.referer),
      cookie: header(req.headers.cookie),
      origin: header(req.headers.origin),
    };
    requests.push(received);
    const { status, headers, body } = respond(received);
    res.writeHead(status, headers);
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', resolve);
  });
  const { port } = http.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => {
      closed ??= new Promise((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
      return closed;
    },
  };
}
