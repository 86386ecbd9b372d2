/**
 * The model's download, shown while it happens. A visit that finds the model in IndexedDB
 * gets no progress events at all, and says so.
 */
import { byId } from './dom.ts';
import { formatBytes } from './format.ts';

export class LoadProgress {
  private readonly box = byId('loader');
  private readonly bar = byId<HTMLProgressElement>('load-bar');
  private readonly text = byId('load-text');
  private downloaded = false;

  constructor() {
    this.box.hidden = false;
    this.box.dataset.state = 'opening';
    this.text.textContent = 'Opening the model…';
  }

  update(loaded: number, total: number): void {
    this.downloaded = true;
    this.box.dataset.state = 'downloading';
    this.box.dataset.loaded = String(loaded);
    this.box.dataset.total = String(total);
    this.bar.max = total;
    this.bar.value = loaded;
    this.text.textContent =
      loaded < total
        ? `Downloading the model once: ${formatBytes(loaded)} of ${formatBytes(total)}`
        : `Downloaded ${formatBytes(total)}; verifying and warming up…`;
  }

  done(): void {
    this.box.dataset.state = this.downloaded ? 'downloaded' : 'from-device';
    this.box.hidden = true;
  }

  failed(): void {
    this.box.dataset.state = 'failed';
    this.box.hidden = true;
  }
}
