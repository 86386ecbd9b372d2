/** The items of the window the encoder sees (the latest maxLen), each once. */
export function windowItems(history: ArrayLike<number>, maxLen: number): number[] {
  const items = new Set<number>();
  for (let i = Math.max(0, history.length - maxLen); i < history.length; i++) {
    items.add(history[i] as number);
  }
  return [...items];
}
