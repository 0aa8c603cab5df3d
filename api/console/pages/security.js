// security.js: placeholder of the console shell, to be written.
import { html } from '../lib/html.js';
import { PageTitle } from '../lib/ui.js';
export function SecurityPage() { return html`<${PageTitle}>SecurityPage<//><p class="muted">Not built yet.</p>`; }
