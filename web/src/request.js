// A Request's page (where every Slack link points): its diagram with tokens, incidents (with a
// Retry button) and the elements done; its waiting tasks, data, history, parent and children;
// Cancel. It polls (the Request and its open tasks) while the Request can still move.
import { api } from './api.js';
import { h, fill, page, when, errorBox, jsonBlock } from './dom.js';
import { Diagram } from './diagram.js';
import { requestTable } from './processes.js';

const POLL_MS = 1500;

export async function requestPage(_me, id) {
  const summary = h('section', { id: 'summary' });
  const actions = h('div', { class: 'actions', id: 'actions' });
  const message = h('div', { id: 'message' });
  const canvas = h('div', { class: 'diagram', id: 'request-diagram' });
  const incidents = h('section', { id: 'incidents' });
  const tasks = h('section', { id: 'tasks' });
  const family = h('section', { id: 'family' });
  const data = h('section', { id: 'data' });
  const history = h('section', { id: 'history' });
  page(`Request ${id}`, summary, actions, message, canvas, incidents, tasks, family, h('div', { class: 'columns' }, data, history));

  const path = `/api/v1/requests/${encodeURIComponent(id)}`;
  const tasksPath = `/api/v1/tasks?request=${encodeURIComponent(id)}&status=active`;
  let request = await api('GET', path);
  const process = await api(
    'GET',
    `/api/v1/processes/${encodeURIComponent(request.process_key)}?version=${request.process_version}`,
  );
  const diagram = new Diagram(canvas);
  let drawn = false;
  try {
    await diagram.show(process.xml, request.process_key);
    drawn = true;
    if (diagram.laidOut) canvas.append(h('p', { class: 'note' }, 'This model has no diagram: it was laid out automatically.'));
  } catch (e) {
    fill(canvas, errorBox(`The diagram cannot be drawn: ${e.message || e}`));
  }

  const act = async (what, call) => {
    fill(message);
    try {
      request = await call();
      await refresh(true);
    } catch (e) {
      fill(message, errorBox(`${what}: ${e.message}`));
    }
  };
  const retry = () => act('Retry', () => api('POST', `${path}/retry`));
  const cancel = () => {
    if (confirm('Cancel this Request? Its tokens, tasks and timers end.')) act('Cancel', () => api('POST', `${path}/cancel`));
  };

  let last = '';
  let lastRequest = '';
  const refresh = async (have) => {
    if (!have) request = await api('GET', path);
    const [events, open, children] = await Promise.all([
      allEvents(path),
      api('GET', tasksPath),
      api('GET', `/api/v1/requests?parent=${encodeURIComponent(id)}&limit=200`),
    ]);
    lastRequest = JSON.stringify([request, open.tasks]);
    const key = JSON.stringify([request, events.length, open.tasks, children.requests.map((r) => [r.id, r.status])]);
    if (key === last) return;
    last = key;
    renderSummary(summary, request, process);
    fill(
      actions,
      request.status === 'active' || request.status === 'error'
        ? h('button', { type: 'button', id: 'cancel', class: 'danger', onclick: cancel }, 'Cancel Request')
        : null,
    );
    renderIncidents(incidents, request, retry);
    renderTasks(tasks, open.tasks);
    renderFamily(family, request, children.requests);
    fill(data, h('h2', {}, 'Data'), jsonBlock(request.data));
    renderHistory(history, events);
    if (drawn) decorate(diagram, request, events, retry);
  };
  await refresh(true);
  // Each poll reads the Request; its history, tasks and children are read again when it changed
  // (and every tenth poll, for what changes around it: child Requests, notifications).
  let polls = 0;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    if (request.status === 'completed' || request.status === 'canceled') {
      clearInterval(timer);
      return;
    }
    busy = true;
    try {
      // The open tasks too: a claim changes who a task is for, not the Request.
      const [now, open] = await Promise.all([api('GET', path), api('GET', tasksPath)]);
      request = now;
      polls += 1;
      if (JSON.stringify([request, open.tasks]) !== lastRequest || polls % 10 === 0) await refresh(true);
    } catch (e) {
      fill(message, errorBox(e));
    } finally {
      busy = false;
    }
  }, POLL_MS);
}

/** The whole history, page after page (up to 20,000 events). */
async function allEvents(path) {
  let events = [];
  let cursor = '';
  for (let i = 0; i < 20; i++) {
    const pageOf = await api('GET', `${path}/events?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    events = events.concat(pageOf.events);
    if (!pageOf.next_cursor) break;
    cursor = pageOf.next_cursor;
  }
  return events;
}

function renderSummary(el, r, process) {
  fill(
    el,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Status'),
      h('dd', {}, h('span', { class: `status status-${r.status}`, id: 'status' }, r.status)),
      h('dt', {}, 'Process'),
      h('dd', {}, h('a', { href: `/processes/${encodeURIComponent(r.process_key)}` }, process.name || r.process_key), ` v${r.process_version}`),
      h('dt', {}, 'Started'),
      h('dd', {}, when(r.created_at), r.started_by ? ` by ${r.started_by}` : ''),
      r.completed_at ? [h('dt', {}, 'Ended'), h('dd', {}, when(r.completed_at))] : null,
    ),
  );
}

function renderIncidents(el, r, retry) {
  if (r.incidents.length === 0) {
    fill(el);
    return;
  }
  fill(
    el,
    h('h2', {}, 'Incidents'),
    h(
      'ul',
      { class: 'incidents' },
      r.incidents.map((i) =>
        h('li', {}, h('code', {}, i.element_id), ' ', h('span', { class: 'code' }, i.code), ': ', h('span', { class: 'incident-message' }, i.message)),
      ),
    ),
    h('button', { type: 'button', id: 'retry', onclick: retry }, 'Retry'),
  );
}

/** Who a task is for: its assignee, else its candidate users and groups, else anyone who may see it. */
export function taskFor(t) {
  if (t.assignee) return `assigned to ${t.assignee}`;
  const who = [...t.candidate_users, ...t.candidate_groups.map((g) => `group ${g}`)];
  return who.length > 0 ? `may be claimed by ${who.join(', ')}` : 'not assigned (its requester or an operator works it)';
}

function renderTasks(el, list) {
  if (list.length === 0) {
    fill(el);
    return;
  }
  fill(
    el,
    h('h2', {}, 'Waiting tasks'),
    h(
      'ul',
      {},
      list.map((t) =>
        h(
          'li',
          { class: 'waiting-task', dataset: { element: t.element_id } },
          h('a', { href: `/tasks/${t.id}` }, t.name || t.element_id),
          ' ',
          h('span', { class: 'task-for' }, taskFor(t)),
          ` · since ${when(t.created_at)}`,
        ),
      ),
    ),
  );
}

function renderFamily(el, r, children) {
  const parent = r.parent_request_id;
  if (!parent && children.length === 0) {
    fill(el);
    return;
  }
  fill(
    el,
    parent ? h('p', {}, 'Started by the Request ', h('a', { href: `/requests/${parent}`, id: 'parent' }, parent)) : null,
    children.length > 0 ? [h('h2', {}, 'Child Requests'), requestTable(children)] : null,
  );
}

function renderHistory(el, events) {
  fill(
    el,
    h('h2', {}, 'History'),
    h(
      'ol',
      { class: 'timeline', id: 'timeline' },
      events.map((e) => {
        const extra = Object.entries(e).filter(([k]) => !['at', 'type', 'element_id'].includes(k));
        return h(
          'li',
          { class: `event event-${e.type}` },
          h('time', {}, when(e.at)),
          ' ',
          h('strong', {}, e.type.replaceAll('_', ' ')),
          e.element_id ? [' ', h('code', {}, e.element_id)] : null,
          extra.length > 0 ? h('div', { class: 'extra' }, extra.map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' · ')) : null,
        );
      }),
    ),
  );
}

/** Tokens (with their count) and incidents (with their message and Retry) on their elements; done elements marked. */
function decorate(diagram, r, events, retry) {
  const done = new Set(events.filter((e) => e.type === 'element_completed' && e.element_id).map((e) => e.element_id));
  const counts = new Map();
  for (const t of r.tokens) {
    const k = `${t.element_id}\u0000${t.state}`;
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  const marks = [...done].map((id) => ({ id, cls: 'el-done' }));
  // The flows taken, derived from the history (the runtime records no event per flow): a flow
  // whose source completed and whose target was then reached. A target reached through another
  // flow as well can mark both.
  const completedAt = new Map();
  const lastAt = new Map();
  events.forEach((e, i) => {
    if (!e.element_id) return;
    if (e.type === 'element_completed' && !completedAt.has(e.element_id)) completedAt.set(e.element_id, i);
    lastAt.set(e.element_id, i);
  });
  for (const t of r.tokens) lastAt.set(t.element_id, events.length);
  for (const f of diagram.flows()) {
    const from = completedAt.get(f.source);
    if (from === undefined) continue;
    if ((lastAt.get(f.target) ?? -1) > from) marks.push({ id: f.id, cls: 'flow-taken' });
  }
  const overlays = [];
  for (const [k, n] of counts) {
    const [id, state] = k.split('\u0000');
    marks.push({ id, cls: `el-token-${state}` });
    overlays.push({
      id,
      el: h('div', { class: `badge badge-token token-${state}`, dataset: { element: id }, title: `${n} token(s), ${state}` }, `${n} ${state}`),
    });
  }
  for (const i of r.incidents) {
    marks.push({ id: i.element_id, cls: 'el-incident' });
    overlays.push({
      id: i.element_id,
      position: { bottom: -8, left: 0 },
      el: h(
        'div',
        { class: 'incident-overlay', dataset: { element: i.element_id } },
        h('span', {}, i.message),
        ' ',
        h('button', { type: 'button', class: 'retry-overlay', onclick: retry }, 'Retry'),
      ),
    });
  }
  diagram.decorate(marks, overlays);
}
