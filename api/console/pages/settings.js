// settings.js: placeholder of the console shell, to be written.
import { html } from '../lib/html.js';
import { PageTitle } from '../lib/ui.js';
export function SettingsPage() { return html`<${PageTitle}>SettingsPage<//><p class="muted">Not built yet.</p>`; }
