// Processes: the list, deploying a BPMN or DMN file (picked or dropped) with its diagnostics as a
// list and as markers on the diagram, and a process's page with its versions, the XML of any
// version (view, download) and its diagram.
import { api } from './api.js';
import { h, fill, page, when, errorBox } from './dom.js';
import { Diagram } from './diagram.js';

export async function processesPage() {
  const list = h('div', { id: 'process-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const result = h('section', { id: 'deploy-result' });
  const create = h('p', {}, h('a', { class: 'button', href: '/modeller', id: 'new-model' }, 'Draw a new model'));
  page('Processes', create, deployForm(list, result), result, h('h2', {}, 'Deployed'), list);
  await refreshList(list);
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

function deployForm(list, result) {
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
      const { processes } = await api('POST', '/api/v1/processes', xml, 'application/xml');
      fill(
        result,
        h(
          'p',
          { class: 'ok', id: 'deployed' },
          `Deployed ${file.name}: `,
          processes.map((p, i) => [
            i > 0 ? ', ' : '',
            h('a', { href: `/processes/${encodeURIComponent(p.key)}` }, `${p.key} v${p.version}`),
          ]),
        ),
      );
      await refreshList(list);
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

/** The Requests of the process, newest first, with a status filter and pages. */
function requestFilters(key, versionSelect, box) {
  const status = h('select', { id: 'filter-status' }, h('option', { value: '' }, 'any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  const onlyVersion = h('input', { type: 'checkbox', id: 'filter-version' });
  const more = h('button', { type: 'button', class: 'secondary', id: 'more-requests', hidden: true }, 'More');
  let cursor = null;
  let rows = [];
  const load = async (next) => {
    const q = new URLSearchParams({ process: key, limit: '50' });
    if (status.value) q.set('status', status.value);
    if (next) q.set('cursor', next);
    const pageOf = await api('GET', `/api/v1/requests?${q}`);
    const version = Number(versionSelect.value);
    const kept = onlyVersion.checked ? pageOf.requests.filter((r) => r.process_version === version) : pageOf.requests;
    rows = next ? [...rows, ...kept] : kept;
    cursor = pageOf.next_cursor || null;
    more.hidden = !cursor;
    fill(box, requestTable(rows), more);
  };
  const reload = () => load(null).catch((e) => fill(box, errorBox(e)));
  status.addEventListener('change', reload);
  onlyVersion.addEventListener('change', reload);
  more.addEventListener('click', () => load(cursor).catch((e) => fill(box, errorBox(e))));
  const form = h(
    'div',
    { class: 'filters', id: 'request-filters' },
    h('label', { for: 'filter-status' }, 'Status '),
    status,
    ' ',
    h('label', { class: 'check' }, onlyVersion, ' only the version shown'),
  );
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
