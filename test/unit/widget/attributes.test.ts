// The widget's `ranker` attribute: none by default, the URL as given (trimmed), and one of
// the attributes whose change opens a new recommender. What a ranker does is checked
// through the client API (test/unit/runtime/two-stage.test.ts, test/browser/two-stage.test.ts).
import { describe, expect, it } from 'vitest';
import { RESTART_ATTRIBUTES, readConfig } from '../../../src/widget/attributes.ts';

/** readConfig only asks getAttribute, so a map stands in for the element. */
function element(attributes: Record<string, string>): Element {
  return { getAttribute: (name: string) => attributes[name] ?? null } as unknown as Element;
}

describe('the ranker attribute', () => {
  it('is none by default, the URL given otherwise, and a change starts the widget again', () => {
    expect(readConfig(element({ model: '/m' })).ranker).toBeNull();
    expect(readConfig(element({ model: '/m', ranker: ' /r ' })).ranker).toBe('/r');
    expect(readConfig(element({ model: '/m', ranker: '' })).ranker).toBeNull();
    expect(RESTART_ATTRIBUTES).toContain('ranker');
  });
});
