/**
 * "Your context": the local context the ranker reads (hour, weekday, device class), shown
 * as this device has it and changeable, so a visitor can watch the ranker move items when
 * it is morning rather than evening, or a phone rather than a desktop. Nothing here leaves
 * the page: the values go to the worker with the request, as the real ones would.
 */
import { type DeviceClass, localContext } from '../../index.ts';
import { WEEKDAY_NAMES } from '../../runtime/local-context.ts';
import { byId, el } from './dom.ts';

const DAY_TEXT = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const DEVICES: readonly DeviceClass[] = ['mobile', 'tablet', 'desktop'];

/** The context fields this panel sets; the locale stays the browser's own. */
export interface SimulatedContext {
  hour: string;
  weekday: string;
  device: string;
}

export class ContextPanel {
  private readonly panel = byId('context-panel');
  private readonly hour = byId<HTMLInputElement>('context-hour');
  private readonly hourText = byId('context-hour-text');
  private readonly weekday = byId<HTMLSelectElement>('context-weekday');
  private readonly device = byId<HTMLSelectElement>('context-device');

  constructor(private readonly onChange: () => void) {
    this.weekday.replaceChildren(
      ...WEEKDAY_NAMES.map((day, i) => el('option', { text: DAY_TEXT[i], attrs: { value: day } })),
    );
    this.device.replaceChildren(
      ...DEVICES.map((d) => el('option', { text: d, attrs: { value: d } })),
    );
    this.reset();
    for (const input of [this.hour, this.weekday, this.device]) {
      input.addEventListener('input', () => this.changed());
    }
    byId('context-reset').addEventListener('click', () => {
      this.reset();
      this.changed();
    });
  }

  /** Shown only when a ranker is open: without one the context changes nothing. */
  show(ranker: boolean): void {
    this.panel.hidden = !ranker;
  }

  value(): SimulatedContext {
    return { hour: this.hour.value, weekday: this.weekday.value, device: this.device.value };
  }

  /** This device's own context, as the client would send it. */
  private reset(): void {
    const own = localContext();
    this.hour.value = String(own.hour ?? new Date().getHours());
    this.weekday.value = String(own.weekday ?? 'mon');
    this.device.value = String(own.device ?? 'desktop');
    this.showHour();
  }

  private changed(): void {
    this.showHour();
    this.onChange();
  }

  private showHour(): void {
    this.hourText.textContent = `${this.hour.value.padStart(2, '0')}:00`;
  }
}
