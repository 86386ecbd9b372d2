/**
 * The context storefront's impression log as CTR rows (src/data/storefront-context.ts):
 * every event of every shopper × each item of its slate, label 1 for the clicked item and
 * 0 for the others, rows in shopper order. Fields are CONTEXT_FIELDS then ITEM_FIELDS (or
 * the item fields alone: the ranker with the context off), all categorical, each value's
 * text exactly what contextFieldValues / itemFieldValues give, which is what a browser page
 * sends. The split is by shopper (the storefront's `split`), so that no shopper's clicks
 * are in two splits and held-out shoppers can be ranked end to end.
 */
import {
  CONTEXT_FIELDS,
  type ContextStorefront,
  contextFieldValues,
  ITEM_FIELDS,
  itemFieldValues,
  type ShopperContext,
} from '../storefront-context.ts';
import { Interner, type RawColumn, type RawTable, type SplitRows } from './encode.ts';

/** Which fields the rows carry: context and item fields, or item fields only. */
export type StorefrontClickFields = 'all' | 'items';

export function storefrontClicksTable(
  storefront: ContextStorefront,
  fields: StorefrontClickFields = 'all',
): { table: RawTable; splits: SplitRows } {
  const { shoppers, contexts, slates, split } = storefront;
  const numItems = storefront.products.length;
  let numRows = 0;
  for (const slate of slates) numRows += slate.length;

  // Item fields: each item's codes once, through the very strings a client sends.
  const itemInterners = ITEM_FIELDS.map(() => new Interner<string>());
  const itemCodes = ITEM_FIELDS.map(() => new Int32Array(numItems + 1));
  for (let item = 1; item <= numItems; item++) {
    const values = itemFieldValues(storefront, item);
    ITEM_FIELDS.forEach((field, f) => {
      (itemCodes[f] as Int32Array)[item] = (itemInterners[f] as Interner<string>).code(
        values[field],
      );
    });
  }
  const contextInterners = CONTEXT_FIELDS.map(() => new Interner<string>());
  const contextColumns = CONTEXT_FIELDS.map(() => new Int32Array(fields === 'all' ? numRows : 0));
  const itemColumns = ITEM_FIELDS.map(() => new Int32Array(numRows));
  const labels = new Uint8Array(numRows);
  const splitRows: number[][] = [[], [], []];

  let row = 0;
  let last: ShopperContext | undefined;
  const contextCodes = new Int32Array(CONTEXT_FIELDS.length);
  shoppers.forEach((history, s) => {
    const slate = slates[s] as Int32Array;
    const slateSize = history.length > 0 ? slate.length / history.length : 0;
    const rows = splitRows[split[s] as number] as number[];
    for (let e = 0; e < history.length; e++) {
      const context = (contexts[s] as ShopperContext[])[e] as ShopperContext;
      if (fields === 'all' && context !== last) {
        // Events of a visit share its context object: encode it once per visit.
        last = context;
        const values = contextFieldValues(context);
        CONTEXT_FIELDS.forEach((field, f) => {
          contextCodes[f] = (contextInterners[f] as Interner<string>).code(values[field]);
        });
      }
      const clicked = history[e] as number;
      for (let k = 0; k < slateSize; k++, row++) {
        const item = slate[e * slateSize + k] as number;
        labels[row] = item === clicked ? 1 : 0;
        for (let f = 0; f < ITEM_FIELDS.length; f++) {
          (itemColumns[f] as Int32Array)[row] = (itemCodes[f] as Int32Array)[item] as number;
        }
        if (fields === 'all') {
          for (let f = 0; f < CONTEXT_FIELDS.length; f++) {
            (contextColumns[f] as Int32Array)[row] = contextCodes[f] as number;
          }
        }
        rows.push(row);
      }
    }
  });

  const column = (name: string, codes: Int32Array, interner: Interner<string>): RawColumn => ({
    kind: 'categorical',
    name,
    codes,
    valueText: (code) => interner.valueAt(code),
  });
  const columns = [
    ...(fields === 'all'
      ? CONTEXT_FIELDS.map((name, f) =>
          column(name, contextColumns[f] as Int32Array, contextInterners[f] as Interner<string>),
        )
      : []),
    ...ITEM_FIELDS.map((name, f) =>
      column(name, itemColumns[f] as Int32Array, itemInterners[f] as Interner<string>),
    ),
  ];
  const [train, validation, test] = splitRows.map((rows) => Int32Array.from(rows)) as [
    Int32Array,
    Int32Array,
    Int32Array,
  ];
  return { table: { numRows, labels, columns }, splits: { train, validation, test } };
}
