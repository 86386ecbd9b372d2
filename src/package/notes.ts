/**
 * A package's `training.notes` as an object. The format lets a tool write any text there:
 * pocketrec writes JSON, a package repacked from one without notes has none, another tool
 * may write prose. Such notes carry no fields, rather than stopping whatever reads them.
 */
export function notesRecord(text: string | undefined): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text ?? '{}');
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
