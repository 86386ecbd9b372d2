/** SHA-256 through Web Crypto, which Node 20 and every browser share. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * JSON with object keys sorted at every level, so the manifest digest does not depend
 * on key order or whitespace, only on content.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What identifies a package's weights apart from the rest of it: a digest of the weight
 * files' own SHA-256s (those of the files that hold tensors), so that a package written
 * again with other metadata or attachments (a vocabulary) but the same tensors keeps it.
 * Derived artefacts (a Shapley estimate) name the weights they belong to with it.
 */
export async function weightsSha256(manifest: {
  tensors: readonly { file: string }[];
  files: readonly { path: string; sha256: string }[];
}): Promise<string> {
  const weightFiles = new Set(manifest.tensors.map((t) => t.file));
  const listed = manifest.files
    .filter((f) => weightFiles.has(f.path))
    .map((f) => [f.path, f.sha256])
    .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1));
  return sha256Hex(new TextEncoder().encode(JSON.stringify(listed)));
}
