// The runtime test page: puts the client API on `window` so a test can drive it with
// page.evaluate, exactly as a page would call it.
import { createRecommender } from '../../../src/runtime/client.ts';

declare global {
  interface Window {
    pocketrec: { createRecommender: typeof createRecommender };
  }
}

window.pocketrec = { createRecommender };
document.body.dataset.ready = 'true';
