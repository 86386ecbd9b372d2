/**
 * The backend names a page may ask for, without tfjs: the client (on the page's thread)
 * checks them, and importing backend.ts there would load all of tfjs into the page.
 */
export type BackendName = 'webgpu' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'webgpu', 'wasm', 'cpu'];
