/**
 * The form on bench.html: shows the run the URL asks for, and turns an edit back into a
 * URL (so every run is a link that repeats it).
 */
import {
  BENCH_BACKENDS,
  type BenchBackend,
  type BenchParams,
  paramsToSearch,
  parseParams,
  VARIANTS,
  type Variant,
} from './params.ts';

function input(form: HTMLFormElement, name: string): HTMLInputElement {
  return form.elements.namedItem(name) as HTMLInputElement;
}

function checkboxes(form: HTMLFormElement, name: string): HTMLInputElement[] {
  return [...form.querySelectorAll<HTMLInputElement>(`input[name="${name}"]`)];
}

export function fillForm(form: HTMLFormElement, params: BenchParams): void {
  for (const box of checkboxes(form, 'models')) {
    box.checked = params.variants.includes(box.value as Variant);
  }
  for (const box of checkboxes(form, 'backends')) {
    box.checked = params.backends.includes(box.value as BenchBackend);
  }
  input(form, 'warmup').value = String(params.warmup);
  input(form, 'runs').value = String(params.runs);
  input(form, 'seed').value = String(params.seed);
  input(form, 'catalogue').value = String(params.catalogue);
  input(form, 'idb').checked = params.idb;
}

/** The form's run as a URL query that starts it; throws BenchParamError on a bad field. */
export function formToSearch(form: HTMLFormElement): URLSearchParams {
  const picked = (name: string, all: readonly string[]) =>
    checkboxes(form, name)
      .filter((b) => b.checked && all.includes(b.value))
      .map((b) => b.value)
      .join(',');
  const raw = new URLSearchParams({
    models: picked('models', VARIANTS),
    backends: picked('backends', BENCH_BACKENDS),
    warmup: input(form, 'warmup').value,
    runs: input(form, 'runs').value,
    seed: input(form, 'seed').value,
    catalogue: input(form, 'catalogue').value.trim(),
    idb: input(form, 'idb').checked ? '1' : '0',
  });
  // Parsed once here so a bad field is named before the page reloads.
  return paramsToSearch(parseParams(raw).params, true);
}
