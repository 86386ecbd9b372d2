/**
 * The widget's own failures (a bad attribute, a catalogue it cannot use), typed like the
 * runtime's so a host page branches on `error.code` whichever layer failed.
 */
import { PocketrecError } from '../errors.ts';

export type WidgetProblem =
  /** An attribute of <pocket-recs> that cannot be used as given (e.g. k="abc"). */
  | 'bad-attribute'
  /** The catalogue could not be fetched (network, HTTP status). */
  | 'catalog-unavailable'
  /** The catalogue is not a JSON array of products with an id and a name. */
  | 'bad-catalog'
  /**
   * A catalogue image the widget does not request (not http(s), or from an origin missing
   * from image-origins). Not fatal: the card shows its generated thumbnail instead.
   */
  | 'image-refused';

export class WidgetError extends PocketrecError {
  declare readonly code: WidgetProblem;

  constructor(code: WidgetProblem, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
