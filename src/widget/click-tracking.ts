/**
 * Records the host page's clicks on elements marked `data-pocketrec-item="<id>"` (with an
 * optional `data-pocketrec-type`, default 'click'). One capturing listener on the document:
 * a host handler that stops propagation does not hide the click, and the marked element
 * may sit inside the host's own open shadow roots (the composed path is searched).
 */
export const ITEM_ATTRIBUTE = 'data-pocketrec-item';
export const TYPE_ATTRIBUTE = 'data-pocketrec-type';
const DEFAULT_TYPE = 'click';

export function trackHostClicks(
  target: Document,
  track: (item: string, type: string) => Promise<void>,
): () => void {
  const onClick = (event: Event) => {
    for (const node of event.composedPath()) {
      if (!(node instanceof Element) || !node.hasAttribute(ITEM_ATTRIBUTE)) continue;
      const item = node.getAttribute(ITEM_ATTRIBUTE) ?? '';
      const type = node.getAttribute(TYPE_ATTRIBUTE) || DEFAULT_TYPE;
      // A rejected event is reported as a pocketrec-error event; nothing else to do here.
      track(item, type).catch(() => {});
      return;
    }
  };
  target.addEventListener('click', onClick, { capture: true });
  return () => target.removeEventListener('click', onClick, { capture: true });
}
