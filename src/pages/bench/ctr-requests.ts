/**
 * Rank requests for benchmarking a CTR package, drawn from its own schema and vocabularies
 * with a seed: the categorical field with the largest vocabulary (the item, in frappe and
 * ML-1M) varies per candidate, every other field is one context shared by the candidates,
 * as on a page ranking products for one shopper. Used by `npm run bench:engine` (in Node,
 * from the package directory) and bench.html (in the page, from the package's URL).
 */
import type { CtrField, CtrSchema } from '../../model/ctr/schema.ts';
import { seededRandom } from '../../random.ts';
import type { CtrValue, RankInput } from '../../runtime/ctr-request.ts';

export interface CtrBenchRequestOptions {
  /** Distinct requests (a run cycles through them). */
  requests: number;
  candidates: number;
  seed: number;
}

export const CTR_BENCH_REQUEST_DEFAULTS: CtrBenchRequestOptions = {
  requests: 8,
  candidates: 100,
  seed: 1,
};

/** The field that varies per candidate. */
function candidateField(schema: CtrSchema): CtrField {
  const categorical = schema.fields.filter((f) => f.kind === 'categorical');
  const largest = categorical.sort((a, b) => b.vocabularySize - a.vocabularySize)[0];
  if (!largest) throw new Error('a CTR schema without a categorical field has no candidates');
  return largest;
}

function randomValue(field: CtrField, random: () => number): CtrValue {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  switch (field.kind) {
    case 'numeric': {
      const boundaries = field.boundaries ?? [];
      return boundaries.length > 0 ? pick(boundaries) : 0;
    }
    case 'categorical':
      return pick(field.values ?? ['']);
    case 'multi': {
      const count = 1 + Math.floor(random() * (field.maxValues ?? 1));
      return Array.from({ length: count }, () => pick(field.values ?? ['']));
    }
  }
}

export function ctrBenchRequests(
  schema: CtrSchema,
  options: Partial<CtrBenchRequestOptions> = {},
): RankInput[] {
  const { requests, candidates, seed } = { ...CTR_BENCH_REQUEST_DEFAULTS, ...options };
  const random = seededRandom(seed);
  const varying = candidateField(schema);
  return Array.from({ length: requests }, () => {
    const context: Record<string, CtrValue> = {};
    for (const field of schema.fields) {
      if (field !== varying) context[field.name] = randomValue(field, random);
    }
    return {
      context,
      candidates: Array.from({ length: candidates }, () => ({
        [varying.name]: randomValue(varying, random),
      })),
    };
  });
}
