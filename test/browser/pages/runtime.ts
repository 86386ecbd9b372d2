// The runtime test page: puts the client API on `window` so a test can drive it with
// page.evaluate, exactly as a page would call it.
import { createRecommender, type Recommender } from '../../../src/runtime/client.ts';

declare global {
  interface Window {
    /** `recommender`: where a test keeps one between two page.evaluate calls. */
    pocketrec: { createRecommender: typeof createRecommender; recommender?: Recommender };
  }
}

window.pocketrec = { createRecommender };
document.body.dataset.ready = 'true';
