/**
 * Dev server only: `/pocketrec-widget.js`, the file `npm run build` emits, is served from
 * the widget's source (src/widget/index.ts), so storefront.html embeds the widget with the
 * same one script tag in `npm start` as in the build. The tag carries `vite-ignore` so that
 * the build leaves it as written instead of bundling the widget into the page.
 */
import type { Plugin } from 'vite';

export const WIDGET_FILE = 'pocketrec-widget.js';
const WIDGET_SOURCE = '/src/widget/index.ts';

export function widgetDevEntry(): Plugin {
  return {
    name: 'pocketrec-widget-dev-entry',
    apply: 'serve',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        const [path, query] = (req.url ?? '').split('?', 2);
        if (path === `/${WIDGET_FILE}`) req.url = WIDGET_SOURCE + (query ? `?${query}` : '');
        next();
      });
    },
  };
}
