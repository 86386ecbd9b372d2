/**
 * The element's styles, adopted as a constructed stylesheet: no <style> element and no
 * style attribute, so a host page whose CSP forbids inline styles can still embed it.
 * Hosts theme it with the custom properties below (set on `pocket-recs` or any ancestor)
 * and, for more, with ::part(container | heading | note | list | item | thumb | name | meta |
 * price | message).
 */
const CSS = `
:host {
  display: block;
  container-type: inline-size;
  color: var(--pocketrec-color, #1f2328);
  font: var(--pocketrec-font, inherit);
  --_accent: var(--pocketrec-accent, #0b6bcb);
  --_muted: var(--pocketrec-muted, #59636e);
  --_border: var(--pocketrec-border, #d1d9e0);
  --_radius: var(--pocketrec-radius, 10px);
  --_gap: var(--pocketrec-gap, 12px);
  --_card-bg: var(--pocketrec-card-background, #ffffff);
}
:host([hidden]) { display: none; }
section {
  background: var(--pocketrec-background, transparent);
  padding: var(--pocketrec-padding, 0);
  border-radius: var(--_radius);
}
h2 {
  margin: 0 0 2px;
  font-size: var(--pocketrec-heading-size, 1.15em);
  font-weight: 650;
}
.note { margin: 0 0 var(--_gap); color: var(--_muted); font-size: 0.85em; }
.note:empty { display: none; }
ol {
  list-style: none;
  margin: 0;
  padding: 0;
  display: grid;
  grid-template-columns: repeat(auto-fill, minmax(var(--pocketrec-card-width, 150px), 1fr));
  gap: var(--_gap);
}
.card {
  all: unset;
  box-sizing: border-box;
  display: flex;
  flex-direction: column;
  gap: 4px;
  width: 100%;
  height: 100%;
  padding: 8px;
  cursor: pointer;
  background: var(--_card-bg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  transition: border-color 120ms, box-shadow 120ms;
}
.card:hover { border-color: var(--_accent); }
.card:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
.thumb {
  display: grid;
  place-items: center;
  aspect-ratio: 4 / 3;
  border-radius: calc(var(--_radius) - 4px);
  overflow: hidden;
  color: #fff;
  font-size: 1.6em;
  font-weight: 700;
  background: linear-gradient(135deg, hsl(var(--_hue, 210) 70% 62%), hsl(calc(var(--_hue, 210) + 40) 70% 45%));
}
.thumb img { width: 100%; height: 100%; object-fit: cover; }
.name {
  font-weight: 600;
  line-height: 1.25;
  overflow-wrap: anywhere;
  display: -webkit-box;
  -webkit-line-clamp: 2;
  -webkit-box-orient: vertical;
  overflow: hidden;
}
.meta { color: var(--_muted); font-size: 0.85em; }
.price { margin-top: auto; color: var(--_accent); font-weight: 650; }
.skeleton {
  min-height: 150px;
  border-radius: var(--_radius);
  background: linear-gradient(90deg, var(--_border) 0%, transparent 50%, var(--_border) 100%);
  background-size: 200% 100%;
  opacity: 0.5;
  animation: shimmer 1.4s linear infinite;
}
@keyframes shimmer { from { background-position: 200% 0; } to { background-position: 0 0; } }
@media (prefers-reduced-motion: reduce) { .skeleton { animation: none; } }
.message { margin: 0; padding: 12px; color: var(--_muted); border: 1px dashed var(--_border); border-radius: var(--_radius); }
.message.error { color: var(--pocketrec-error-color, #b42318); }
`;

let sheet: CSSStyleSheet | null = null;

export function widgetStyleSheet(): CSSStyleSheet {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
  }
  return sheet;
}
