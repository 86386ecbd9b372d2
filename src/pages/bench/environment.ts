/**
 * Where a report was measured: browser, OS, the WebGPU adapter, WebAssembly features,
 * isolation and what the browser exposes, so two reports can be told apart and a
 * software adapter is never mistaken for a GPU.
 */
import { version } from '@tensorflow/tfjs';
import type { BenchEnvironment, GpuAdapterSummary } from './report.ts';

interface GpuAdapterLike {
  info?: Partial<GpuAdapterSummary> & { isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface NavigatorExtras {
  gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> };
  deviceMemory?: number;
  oscpu?: string;
  userAgentData?: {
    brands: { brand: string; version: string }[];
    getHighEntropyValues(hints: string[]): Promise<Record<string, unknown>>;
  };
}

// From wasm-feature-detect (as tfjs's own flags): a SIMD program, and one with atomics.
const SIMD_PROGRAM = [
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26,
  11,
];
const THREADS_PROGRAM = [
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65,
  0, 254, 16, 2, 0, 26, 11,
];

function validates(program: number[]): boolean {
  try {
    return WebAssembly.validate(new Uint8Array(program));
  } catch {
    return false;
  }
}

function wasmThreads(): boolean {
  if (!globalThis.crossOriginIsolated || typeof SharedArrayBuffer === 'undefined') return false;
  try {
    new MessageChannel().port1.postMessage(new SharedArrayBuffer(1));
  } catch {
    return false;
  }
  return validates(THREADS_PROGRAM);
}

/** Browser name and version from the user agent (Chromium's UA says "Chrome"). */
export function browserOf(
  userAgent: string,
  brands: readonly { brand: string; version: string }[] = [],
): { name: string; version: string } {
  const brand = brands.find((b) => /chromium|chrome|edge|opera/i.test(b.brand));
  const firefox = /Firefox\/([\d.]+)/.exec(userAgent);
  if (firefox) return { name: 'Firefox', version: firefox[1] as string };
  const edge = /Edg\/([\d.]+)/.exec(userAgent);
  if (edge) return { name: 'Edge', version: edge[1] as string };
  const chrome = /Chrome\/([\d.]+)/.exec(userAgent);
  if (chrome) {
    const name = brands.some((b) => b.brand === 'Google Chrome') ? 'Chrome' : 'Chromium';
    return { name, version: chrome[1] as string };
  }
  const safari = /Version\/([\d.]+).*Safari/.exec(userAgent);
  if (safari) return { name: 'Safari', version: safari[1] as string };
  return { name: brand?.brand ?? 'unknown', version: brand?.version ?? '' };
}

export function osOf(userAgent: string): string {
  // Apple writes versions with underscores (10_15_7).
  const rules: [RegExp, string][] = [
    [/Windows NT ([\d.]+)/, 'Windows'],
    [/Mac OS X ([\d_]+)/, 'macOS'],
    [/Android ([\d.]+)/, 'Android'],
    [/(?:iPhone|iPad).*OS ([\d_]+)/, 'iOS'],
    [/CrOS/, 'ChromeOS'],
    [/Linux ?([\w]*)/, 'Linux'],
  ];
  for (const [re, name] of rules) {
    const m = re.exec(userAgent);
    if (!m) continue;
    const version = name === 'macOS' || name === 'iOS' ? m[1]?.replaceAll('_', '.') : m[1];
    return version ? `${name} ${version}` : name;
  }
  return 'unknown';
}

/** The smallest non-zero step between two performance.now() readings. */
function timerResolution(): number {
  let smallest = Number.POSITIVE_INFINITY;
  let last = performance.now();
  const until = last + 20;
  while (last < until) {
    const now = performance.now();
    if (now > last) smallest = Math.min(smallest, now - last);
    last = now;
  }
  return Number.isFinite(smallest) ? smallest : 0;
}

async function webgpu(): Promise<BenchEnvironment['webgpu']> {
  const gpu = (navigator as NavigatorExtras).gpu;
  if (!gpu) {
    return {
      available: false,
      reason: 'this browser exposes no WebGPU (navigator.gpu is missing)',
      adapter: null,
      software: false,
    };
  }
  let adapter: GpuAdapterLike | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (error) {
    return {
      available: false,
      reason: `requestAdapter failed: ${String(error)}`,
      adapter: null,
      software: false,
    };
  }
  if (!adapter) {
    return {
      available: false,
      reason: 'WebGPU has no adapter here',
      adapter: null,
      software: false,
    };
  }
  const info = adapter.info ?? {};
  const isFallbackAdapter = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null;
  const summary: GpuAdapterSummary = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter,
  };
  const software =
    isFallbackAdapter === true ||
    /swiftshader|llvmpipe|lavapipe|software|warp/i.test(
      `${summary.vendor} ${summary.architecture} ${summary.description}`,
    );
  return { available: true, reason: null, adapter: summary, software };
}

export async function collectEnvironment(flags: readonly string[]): Promise<BenchEnvironment> {
  const nav = navigator as Navigator & NavigatorExtras;
  const brands = nav.userAgentData?.brands ?? [];
  const browser = browserOf(nav.userAgent, brands);
  let os = nav.oscpu ?? osOf(nav.userAgent);
  try {
    // Chromium's user agent string is frozen ("156.0.0.0", "Linux x86"): ask for the details.
    const high = await nav.userAgentData?.getHighEntropyValues([
      'platformVersion',
      'architecture',
      'bitness',
      'fullVersionList',
    ]);
    if (high?.platform) {
      const arch =
        high.architecture === 'x86' && high.bitness === '64' ? 'x86_64' : high.architecture;
      os = [high.platform, high.platformVersion, arch].filter(Boolean).join(' ');
    }
    const full = (high?.fullVersionList as { brand: string; version: string }[] | undefined)?.find(
      (b) => /chrom/i.test(b.brand),
    );
    if (full) browser.version = full.version;
  } catch {
    // Not exposed: the user agent's stand.
  }
  return {
    userAgent: nav.userAgent,
    browser,
    os,
    hardwareConcurrency: nav.hardwareConcurrency ?? null,
    deviceMemoryGb: nav.deviceMemory ?? null,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    wasm: { simd: validates(SIMD_PROGRAM), threads: wasmThreads() },
    webgpu: await webgpu(),
    jsHeapExposed: jsHeapBytes() !== null,
    timerResolutionMs: timerResolution(),
    flags: [...flags],
    tfjs: version.tfjs,
    page: location.href,
  };
}

/** The page's JS heap in use (Chromium's performance.memory), or null. */
export function jsHeapBytes(): number | null {
  const memory = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory;
  return memory ? memory.usedJSHeapSize : null;
}
