/** The package names of each item table's tensors (item-table.ts builds the tables from them). */
export const DENSE_TABLE = 'items.table';
export const ttCoreName = (k: number): string => `items.tt.core${k}`;
export const JPQ_CODEBOOKS = 'items.jpq.codebooks';
export const JPQ_CODES = 'items.jpq.codes';
export const QR_QUOTIENT = 'items.qr.quotient';
export const QR_REMAINDER = 'items.qr.remainder';
