// limits.js: placeholder of the console shell, to be written.
import { html } from '../lib/html.js';
import { PageTitle } from '../lib/ui.js';
export function LimitsPage() { return html`<${PageTitle}>LimitsPage<//><p class="muted">Not built yet.</p>`; }
