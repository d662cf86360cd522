// Processes: the list, deploying a BPMN or DMN file (picked or dropped) with its diagnostics as a
// list and as markers on the diagram, the deployed decisions (DMN) with the XML of any version,
// and a process's page with its versions, the XML of any version (view, download), its diagram
// and its Requests with filters (status, version, data field, started by, date range).
import { api } from './api.js';
import { h, fill, page, when, errorBox } from './dom.js';
import { Diagram } from './diagram.js';

export async function processesPage() {
  const list = h('div', { id: 'process-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const result = h('section', { id: 'deploy-result' });
  const create = h('p', {}, h('a', { class: 'button', href: '/modeller', id: 'new-model' }, 'Draw a new model'));
  const decisions = h('div', { id: 'decision-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const refresh = () => Promise.all([refreshList(list), refreshDecisions(decisions)]);
  page('Processes', create, deployForm(refresh, result), result, h('h2', {}, 'Deployed'), list, h('h2', {}, 'Decisions'), decisions);
  await refresh();
}

/** The deployed decisions (latest version of each); a row opens its versions and their XML. */
async function refreshDecisions(box) {
  try {
    const { decisions } = await api('GET', '/api/v1/decisions');
    if (decisions.length === 0) {
      fill(box, h('p', { class: 'muted' }, 'No decision is deployed yet.'));
      return;
    }
    const detail = h('div', { id: 'decision-detail' });
    fill(
      box,
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, h('th', {}, 'Decision'), h('th', {}, 'Name'), h('th', {}, 'Latest version'), h('th', {}, 'File'), h('th', {}, ''))),
        h(
          'tbody',
          {},
          decisions.map((d) =>
            h(
              'tr',
              { dataset: { decision: d.id } },
              h('td', {}, h('code', {}, d.id)),
              h('td', {}, d.name || ''),
              h('td', {}, `v${d.version}${d.version_tag ? ` (${d.version_tag})` : ''}`),
              h('td', {}, d.file),
              h(
                'td',
                {},
                h('button', { type: 'button', class: 'secondary small show-decision', onclick: () => showDecision(detail, d.id, null).catch((e) => fill(detail, errorBox(e))) }, 'XML'),
              ),
            ),
          ),
        ),
      ),
      detail,
    );
  } catch (e) {
    fill(box, errorBox(e));
  }
}

/** One decision: a version picker, and the XML of that version's file to read and download. */
async function showDecision(box, id, version) {
  const d = await api('GET', `/api/v1/decisions/${encodeURIComponent(id)}${version ? `?version=${version}` : ''}`);
  const select = h(
    'select',
    { id: 'decision-version' },
    [...d.versions]
      .reverse()
      .map((v) => h('option', { value: v.version, selected: v.version === d.version }, `v${v.version} (${when(v.deployed_at)})${v.version_tag ? ` ${v.version_tag}` : ''}`)),
  );
  select.addEventListener('change', () => showDecision(box, id, Number(select.value)).catch((e) => fill(box, errorBox(e))));
  const blob = new Blob([d.xml], { type: 'application/xml' });
  fill(
    box,
    h('h3', {}, `${d.id}${d.name ? ` · ${d.name}` : ''}`),
    h('label', { for: 'decision-version' }, 'Version '),
    select,
    ` · from ${d.file} · `,
    h('a', { href: URL.createObjectURL(blob), download: `${d.id}-v${d.version}.dmn`, id: 'decision-download' }, 'Download'),
    h('pre', { class: 'xml', id: 'decision-xml' }, d.xml),
  );
}

async function refreshList(list) {
  try {
    const { processes } = await api('GET', '/api/v1/processes');
    if (processes.length === 0) {
      fill(list, h('p', { class: 'muted' }, 'No process is deployed yet.'));
      return;
    }
    fill(
      list,
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, h('th', {}, 'Process'), h('th', {}, 'Name'), h('th', {}, 'Latest version'))),
        h(
          'tbody',
          {},
          processes.map((p) =>
            h(
              'tr',
              {},
              h('td', {}, h('a', { href: `/processes/${encodeURIComponent(p.key)}` }, p.key)),
              h('td', {}, p.name || ''),
              h('td', {}, `v${p.version}`),
            ),
          ),
        ),
      ),
    );
  } catch (e) {
    fill(list, errorBox(e));
  }
}

function deployForm(refresh, result) {
  const input = h('input', { type: 'file', id: 'deploy-file', accept: '.bpmn,.dmn,.xml,application/xml,text/xml' });
  const zone = h(
    'div',
    { class: 'dropzone', id: 'dropzone' },
    h('p', {}, 'Drop a BPMN or DMN file here, or pick one: '),
    input,
  );
  const deploy = async (file) => {
    fill(result, h('p', { class: 'muted' }, `Deploying ${file.name}…`));
    const xml = await file.text();
    try {
      const answer = await api('POST', '/api/v1/processes', xml, 'application/xml');
      const processes = answer.processes || [];
      const decisions = answer.decisions || [];
      const items = [
        ...processes.map((p) => h('a', { href: `/processes/${encodeURIComponent(p.key)}` }, `${p.key} v${p.version}`)),
        ...decisions.map((d) => h('span', { class: 'deployed-decision' }, `decision ${d.id} v${d.version}`)),
      ];
      fill(
        result,
        h(
          'p',
          { class: 'ok', id: 'deployed' },
          `Deployed ${file.name}: `,
          items.length > 0 ? items.map((el, i) => [i > 0 ? ', ' : '', el]) : 'nothing new',
        ),
      );
      await refresh();
    } catch (e) {
      showDiagnostics(result, file.name, xml, e);
    }
  };
  input.addEventListener('change', () => {
    const file = input.files && input.files[0];
    if (file) deploy(file).finally(() => (input.value = ''));
  });
  zone.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('over');
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (file) deploy(file);
  });
  return h('section', { class: 'card' }, h('h2', {}, 'Deploy'), zone);
}

/** A refused deploy: the message, every diagnostic with line and column, and the diagram with markers. */
function showDiagnostics(result, name, xml, e) {
  const diagnostics = (e.body && e.body.error && e.body.error.diagnostics) || [];
  const canvas = h('div', { class: 'diagram', id: 'diagnostics-diagram' });
  fill(
    result,
    h('p', { class: 'error', role: 'alert' }, `${name} was not deployed: ${e.message}`),
    diagnostics.length > 0
      ? h(
          'ul',
          { class: 'diagnostics', id: 'diagnostics' },
          diagnostics.map((d) =>
            h(
              'li',
              {},
              h('span', { class: 'pos' }, d.line > 0 ? `line ${d.line}, column ${d.column}` : 'file'),
              ' ',
              d.element ? h('code', {}, d.element) : null,
              ' ',
              h('span', { class: 'code' }, d.code),
              ': ',
              d.message,
            ),
          ),
        )
      : null,
    canvas,
  );
  const diagram = new Diagram(canvas);
  diagram
    .show(xml)
    .then(() => {
      const byElement = new Map();
      for (const d of diagnostics) {
        if (!d.element) continue;
        byElement.set(d.element, [...(byElement.get(d.element) || []), d]);
      }
      diagram.decorate(
        [...byElement.keys()].map((id) => ({ id, cls: 'diag-error' })),
        [...byElement].map(([id, list]) => ({
          id,
          el: h('div', { class: 'badge badge-error', title: list.map((d) => d.message).join('\n') }, `${list.length} ✕`),
        })),
      );
    })
    .catch((err) => {
      canvas.replaceWith(h('p', { class: 'muted' }, `The diagram cannot be drawn: ${err.message || err}`));
      diagram.destroy();
    });
}

export async function processPage(_me, key) {
  const versionsBox = h('div', { id: 'versions' });
  const canvas = h('div', { class: 'diagram', id: 'process-diagram' });
  const countsNote = h('p', { class: 'note', id: 'counts-note' });
  const xmlBox = h('div', { id: 'xml' });
  const requests = h('div', { id: 'requests' });
  page(key, versionsBox, canvas, countsNote, h('h2', {}, 'Requests'), requests, xmlBox);
  const detail = await api('GET', `/api/v1/processes/${encodeURIComponent(key)}`);
  document.title = `${detail.name || key} · Sluice`;
  const diagram = new Diagram(canvas);
  const select = h(
    'select',
    { id: 'version' },
    [...detail.versions]
      .reverse()
      .map((v) => h('option', { value: v.version }, `v${v.version} (${when(v.deployed_at)})${v.name ? ` ${v.name}` : ''}`)),
  );
  const showVersion = async (version) => {
    const v = version === detail.version ? detail : await api('GET', `/api/v1/processes/${encodeURIComponent(key)}?version=${version}`);
    const blob = new Blob([v.xml], { type: 'application/xml' });
    fill(
      xmlBox,
      h('h2', {}, `XML of v${v.version}`),
      h('a', { href: URL.createObjectURL(blob), download: `${key}-v${v.version}.bpmn`, id: 'download' }, 'Download'),
      h('pre', { class: 'xml', id: 'xml-text' }, v.xml),
    );
    try {
      await diagram.show(v.xml, key);
    } catch (e) {
      fill(canvas, errorBox(e));
      return;
    }
    await showCounts(diagram, countsNote, key, v.version);
  };
  const edit = h('a', { id: 'edit', class: 'button', href: `/modeller/${encodeURIComponent(key)}` }, 'Edit in the modeller');
  const filters = requestFilters(key, select, requests);
  select.addEventListener('change', () => {
    edit.setAttribute('href', `/modeller/${encodeURIComponent(key)}?version=${select.value}`);
    showVersion(Number(select.value)).catch((e) => fill(xmlBox, errorBox(e)));
    filters.reload();
  });
  fill(versionsBox, h('label', { for: 'version' }, 'Version '), select, ` · ${detail.versions.length} version(s) · `, edit);
  requests.before(filters.form);
  await showVersion(detail.version);
  await filters.reload();
}

/** Per element of the version shown: its active tokens and open incidents over all its Requests. */
async function showCounts(diagram, note, key, version) {
  let counts;
  try {
    counts = await api('GET', `/api/v1/processes/${encodeURIComponent(key)}/counts?version=${version}`);
  } catch (e) {
    // A participant may read the process but not the figures over everyone's Requests.
    fill(note, e.status === 403 ? '' : `Counts: ${e.message}`);
    diagram.decorate([], []);
    return;
  }
  const marks = [];
  const overlays = [];
  let active = 0;
  let incidents = 0;
  for (const [id, c] of Object.entries(counts.elements)) {
    active += c.active;
    incidents += c.incidents;
    if (c.incidents > 0) marks.push({ id, cls: 'el-incident' });
    const badges = [];
    if (c.active > 0) badges.push(h('span', { class: 'badge badge-token count-active', title: `${c.active} active token(s)` }, String(c.active)));
    if (c.incidents > 0) badges.push(h('span', { class: 'badge badge-error count-incidents', title: `${c.incidents} open incident(s)` }, String(c.incidents)));
    overlays.push({ id, position: { bottom: 10, left: -8 }, el: h('div', { class: 'counts', dataset: { element: id } }, badges) });
  }
  diagram.decorate(marks, overlays);
  fill(note, `v${version}: ${active} active token(s), ${incidents} open incident(s) over its open Requests.`);
}

const STATUSES = ['active', 'error', 'completed', 'canceled'];
/** The data operators offered, as the API spells each in a query parameter (see docs/api.md). */
const DATA_OPS = ['=', '!=', '<', '<=', '>', '>='];

/**
 * The query parameter of a data condition: `data.PATH` + operator + value. A form-encoded pair
 * splits at its first `=`, so `>=`, `<=` and `!=` end the name (`data.amount>` = `1000`) while
 * `>` and `<` carry the value in the name (`data.amount>1000`, empty value).
 */
export function dataParam(path, op, value) {
  const name = `data.${path}`;
  switch (op) {
    case '!=':
      return [`${name}!`, value];
    case '>=':
      return [`${name}>`, value];
    case '<=':
      return [`${name}<`, value];
    case '>':
    case '<':
      return [`${name}${op}${value}`, ''];
    default:
      return [name, value];
  }
}

/** A `datetime-local` value (the reader's local time) as RFC 3339, or '' when empty or unreadable. */
function rfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/**
 * The Requests of the process, newest first, with filters the API applies (status, the version
 * shown, a data field, who started it, when it was created) and pages.
 */
function requestFilters(key, versionSelect, box) {
  const status = h('select', { id: 'filter-status' }, h('option', { value: '' }, 'any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  const onlyVersion = h('input', { type: 'checkbox', id: 'filter-version' });
  const path = h('input', { type: 'text', id: 'filter-data-path', placeholder: 'customer.name', size: 14, autocomplete: 'off' });
  const op = h('select', { id: 'filter-data-op', 'aria-label': 'Operator' }, DATA_OPS.map((o) => h('option', { value: o }, o)));
  const value = h('input', { type: 'text', id: 'filter-data-value', placeholder: 'Acme, 1000, true', size: 12, autocomplete: 'off' });
  const startedBy = h('input', { type: 'text', id: 'filter-started-by', placeholder: 'username', size: 10, autocomplete: 'off' });
  const after = h('input', { type: 'datetime-local', id: 'filter-created-after' });
  const before = h('input', { type: 'datetime-local', id: 'filter-created-before' });
  const apply = h('button', { type: 'submit', id: 'filter-apply' }, 'Filter');
  const clear = h('button', { type: 'button', class: 'secondary', id: 'filter-clear' }, 'Clear');
  const more = h('button', { type: 'button', class: 'secondary', id: 'more-requests', hidden: true }, 'More');
  let cursor = null;
  let rows = [];
  const query = () => {
    const q = new URLSearchParams({ process: key, limit: '50' });
    if (status.value) q.set('status', status.value);
    if (onlyVersion.checked) q.set('version', versionSelect.value);
    const p = path.value.trim().replace(/^data\./, '');
    if (p) q.append(...dataParam(p, op.value, value.value.trim()));
    if (startedBy.value.trim()) q.set('started_by', startedBy.value.trim());
    if (rfc3339(after.value)) q.set('created_after', rfc3339(after.value));
    if (rfc3339(before.value)) q.set('created_before', rfc3339(before.value));
    return q;
  };
  const load = async (next) => {
    const q = query();
    if (next) q.set('cursor', next);
    const pageOf = await api('GET', `/api/v1/requests?${q}`);
    rows = next ? [...rows, ...pageOf.requests] : pageOf.requests;
    cursor = pageOf.next_cursor || null;
    more.hidden = !cursor;
    fill(box, requestTable(rows), more);
  };
  const reload = () => load(null).catch((e) => fill(box, errorBox(e)));
  status.addEventListener('change', reload);
  onlyVersion.addEventListener('change', reload);
  more.addEventListener('click', () => load(cursor).catch((e) => fill(box, errorBox(e))));
  clear.addEventListener('click', () => {
    for (const i of [path, value, startedBy, after, before]) i.value = '';
    op.value = '=';
    status.value = '';
    onlyVersion.checked = false;
    reload();
  });
  const form = h(
    'form',
    { class: 'filters', id: 'request-filters' },
    h('label', { for: 'filter-status' }, 'Status '),
    status,
    h('label', { class: 'check' }, onlyVersion, ' only the version shown'),
    h('span', { class: 'filter-group' }, h('label', { for: 'filter-data-path' }, 'Data '), path, op, value),
    h('span', { class: 'filter-group' }, h('label', { for: 'filter-started-by' }, 'Started by '), startedBy),
    h('span', { class: 'filter-group' }, h('label', { for: 'filter-created-after' }, 'Created after '), after),
    h('span', { class: 'filter-group' }, h('label', { for: 'filter-created-before' }, 'before '), before),
    apply,
    clear,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    reload();
  });
  return { form, reload };
}

export function requestTable(list) {
  if (list.length === 0) return h('p', { class: 'muted' }, 'None.');
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Request'), h('th', {}, 'Version'), h('th', {}, 'Status'), h('th', {}, 'Started'), h('th', {}, 'By'))),
    h(
      'tbody',
      {},
      list.map((r) =>
        h(
          'tr',
          {},
          h('td', {}, h('a', { href: `/requests/${r.id}` }, r.id)),
          h('td', {}, `v${r.process_version}`),
          h('td', {}, h('span', { class: `status status-${r.status}` }, r.status)),
          h('td', {}, when(r.created_at)),
          h('td', {}, r.started_by || ''),
        ),
      ),
    ),
  );
}
