// pocketrec's public surface for pages and apps. The browser client API joins here;
// the Node toolkit (training, the CLI) is deliberately not exported from this entry.

export { PocketrecError } from './errors.ts';
export * from './package/index.ts';
