/**
 * Errors are named by their class (src/errors.ts reads `new.target.name`), they cross the
 * worker boundary by that name (src/runtime/protocol.ts) and pages show it. A minifier
 * renames classes, so each exported class of src/ gets its name as a property, which no
 * minifier touches. This replaces the bundlers' `keepNames`, which also wraps every
 * function in a naming helper: tfjs's threaded WASM backend starts its pthread workers from
 * its factory function's source text (`toString()`), where that helper is not defined.
 * A Vite and a Rolldown plugin alike (both call `transform(code, id)`).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE_DIR = join(resolve(fileURLToPath(new URL('..', import.meta.url))), 'src/');

export function classNamesThatLast(): {
  name: string;
  transform(code: string, id: string): string | null;
} {
  return {
    name: 'pocketrec-class-names-that-last',
    transform(code, id) {
      const file = id.split('?')[0] as string;
      if (!file.startsWith(SOURCE_DIR) || !file.endsWith('.ts')) return null;
      const names = [...code.matchAll(/^export (?:abstract )?class (\w+)/gm)].map((m) => m[1]);
      if (names.length === 0) return null;
      const named = names.map(
        (n) => `Object.defineProperty(${n}, 'name', { value: '${n}', configurable: true });`,
      );
      return `${code}\n${named.join('\n')}\n`;
    },
  };
}
