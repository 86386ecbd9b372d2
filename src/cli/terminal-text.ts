/**
 * Text from a model package or a command line (names, data set strings, notes, paths) is
 * someone else's: printed raw, an ESC or CSI sequence in it could set the terminal's title,
 * clear the screen or fake output, and a bidi override could reorder what is shown. Every
 * CLI output goes through these, so such characters arrive as visible escapes.
 */

/**
 * C0 controls but \t and \n, DEL, C1 controls (U+009B is a CSI on many terminals), the
 * bidi marks, embeddings, overrides and isolates, and the line and paragraph separators.
 */
const UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, with \t and \n too: for a value that must stay on its one line. */
const UNSAFE_IN_LINE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function hex(code: number, digits: number): string {
  return code.toString(16).padStart(digits, '0');
}

function visible(char: string): string {
  const named = NAMED[char];
  if (named) return named;
  const code = char.charCodeAt(0);
  return code < 256 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
}

/** Output text with every unsafe character shown as an escape; our own newlines and tabs stay. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, visible);
}

/** A value put into a one-line field: newlines and tabs in it are escaped too, so it cannot forge a line. */
export function oneLine(text: string): string {
  return text.replace(UNSAFE_IN_LINE, visible);
}

/**
 * JSON text with what JSON.stringify leaves raw (DEL, C1, bidi and separators) written in
 * JSON's own \uXXXX form: still valid JSON, parsing back to the same strings.
 */
export function jsonTerminalSafe(json: string): string {
  return json.replace(UNSAFE, (char) => `\\u${hex(char.charCodeAt(0), 4)}`);
}
