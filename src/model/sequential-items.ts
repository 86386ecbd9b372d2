/** The items of the window the encoder sees (the latest maxLen), each once. */
export function windowItems(history: ArrayLike<number>, maxLen: number): number[] {
  const items = new Set<number>();
  for (let i = Math.max(0, history.length - maxLen); i < history.length; i++) {
    items.add(history[i] as number);
  }
  return [...items];
}

/** Whether `window` begins with `prefix` (a window the encoder saw, which this one extends). */
export function windowStartsWith(window: Int32Array, prefix: Int32Array): boolean {
  if (prefix.length > window.length) return false;
  for (let i = 0; i < prefix.length; i++) if (window[i] !== prefix[i]) return false;
  return true;
}
