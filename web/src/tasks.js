// The inbox (my tasks, the tasks I may claim, the other open tasks I see) and a task's page: the
// Request's data, the task's documentation, who it is for, claim/unclaim, and the completion form
// the model declares (`camunda:formData` or `sluice:form`; Approve/Reject for an approval task).
// Completing goes on to the caller's next task of the same Request when there is one.
import { api } from './api.js';
import { h, fill, page, when, errorBox, jsonBlock } from './dom.js';
import { taskFor } from './request.js';

export async function tasksPage() {
  const list = h('div', { id: 'task-list' }, h('p', { class: 'muted' }, 'Loading…'));
  page('Tasks', list);
  await refresh(list);
}

async function all(query) {
  let tasks = [];
  let cursor = '';
  for (let i = 0; i < 10; i++) {
    const p = await api('GET', `/api/v1/tasks?status=active&limit=500${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    tasks = tasks.concat(p.tasks);
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  return tasks;
}

async function refresh(list) {
  let mine;
  let claimable;
  let open;
  try {
    [mine, claimable, open] = await Promise.all([all('&assignee=me'), all('&candidate=me'), all('')]);
  } catch (e) {
    fill(list, errorBox(e));
    return;
  }
  const seen = new Set([...mine, ...claimable].map((t) => t.id));
  const others = open.filter((t) => !seen.has(t.id));
  if (open.length === 0 && mine.length === 0 && claimable.length === 0) {
    fill(list, h('p', { class: 'muted', id: 'no-tasks' }, 'No open task.'));
    return;
  }
  const section = (id, title, tasks) =>
    tasks.length === 0 ? null : h('section', { id }, h('h2', {}, `${title} (${tasks.length})`), tasks.map((t) => taskCard(t, list)));
  fill(
    list,
    section('my-tasks', 'My tasks', mine),
    section('claimable-tasks', 'Tasks I may claim', claimable),
    section('other-tasks', 'Other open tasks', others),
  );
  const wanted = location.hash.slice(1);
  const card = wanted && document.getElementById(`task-${wanted}`);
  if (card) card.scrollIntoView();
}

function taskCard(t, list) {
  const data = h('textarea', { class: 'task-data', rows: 3, spellcheck: 'false', 'aria-label': 'Completion data (JSON)' }, '{}');
  const message = h('div', {});
  const run = async (what, call) => {
    fill(message);
    try {
      await call();
      await refresh(list);
    } catch (e) {
      fill(message, errorBox(`${what}: ${e.message}`));
    }
  };
  const complete = async () => {
    fill(message);
    let body;
    try {
      body = JSON.parse(data.value || '{}');
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('the data must be a JSON object');
    } catch (e) {
      fill(message, errorBox(`Not valid JSON data: ${e.message}`));
      return;
    }
    await run('Complete', () => api('POST', `/api/v1/tasks/${t.id}/complete`, { data: body }));
  };
  const claim = () => run('Claim', () => api('POST', `/api/v1/tasks/${t.id}/claim`));
  const unclaim = () => run('Unclaim', () => api('POST', `/api/v1/tasks/${t.id}/unclaim`));
  return h(
    'article',
    { class: 'card task', id: `task-${t.id}`, dataset: { element: t.element_id } },
    h('h2', {}, h('a', { href: `/tasks/${t.id}`, class: 'open-task' }, t.name || t.element_id)),
    h(
      'p',
      { class: 'muted' },
      'Request ',
      h('a', { href: `/requests/${t.request_id}` }, t.request_id),
      ` · since ${when(t.created_at)} · `,
      h('span', { class: 'task-for' }, taskFor(t)),
    ),
    t.assignee
      ? h('button', { type: 'button', class: 'unclaim secondary', onclick: unclaim }, 'Unclaim')
      : h('button', { type: 'button', class: 'claim secondary', onclick: claim }, 'Claim'),
    h('label', {}, "Data (JSON object, merged into the Request's data)"),
    data,
    h('button', { type: 'button', class: 'complete', onclick: complete }, 'Complete'),
    message,
  );
}

/** A task's page. */
export async function taskPage(me, id) {
  const body = h('div', { id: 'task-page' }, h('p', { class: 'muted' }, 'Loading…'));
  page('Task', body);
  await drawTask(me, id, body);
}

async function drawTask(me, id, body) {
  let task;
  let request;
  try {
    task = await api('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
    request = await api('GET', `/api/v1/requests/${encodeURIComponent(task.request_id)}`);
  } catch (e) {
    fill(body, errorBox(e));
    return;
  }
  document.title = `${task.name || task.element_id} · Sluice`;
  const heading = document.querySelector('#app > h1');
  if (heading) fill(heading, task.name || task.element_id);
  const message = h('div', { id: 'task-message' });
  const act = async (what, call) => {
    fill(message);
    try {
      await call();
      await drawTask(me, id, body);
    } catch (e) {
      fill(message, errorBox(`${what}: ${e.message}`));
    }
  };
  const claim = () => act('Claim', () => api('POST', `/api/v1/tasks/${task.id}/claim`));
  const unclaim = () => act('Unclaim', () => api('POST', `/api/v1/tasks/${task.id}/unclaim`));
  const form = task.status === 'active' ? completionForm(task, message) : null;
  fill(
    body,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Status'),
      h('dd', {}, h('span', { class: `status status-${task.status}`, id: 'task-status' }, task.status)),
      h('dt', {}, 'For'),
      h('dd', { id: 'task-for' }, taskFor(task)),
      h('dt', {}, 'Request'),
      h('dd', {}, h('a', { href: `/requests/${task.request_id}`, id: 'task-request' }, task.request_id), ` (${request.process_key} v${request.process_version}, ${request.status})`),
      h('dt', {}, 'Created'),
      h('dd', {}, when(task.created_at)),
      task.due ? [h('dt', {}, 'Due'), h('dd', {}, when(task.due))] : null,
      task.completed_at ? [h('dt', {}, 'Completed'), h('dd', {}, when(task.completed_at), task.completed_by ? ` by ${task.completed_by}` : '')] : null,
    ),
    task.documentation ? h('section', { id: 'documentation' }, h('h2', {}, 'Documentation'), h('p', { class: 'documentation' }, task.documentation)) : null,
    h(
      'div',
      { class: 'actions' },
      task.may_claim ? h('button', { type: 'button', id: 'claim', onclick: claim }, 'Claim') : null,
      task.may_unclaim ? h('button', { type: 'button', id: 'unclaim', class: 'secondary', onclick: unclaim }, 'Unclaim') : null,
    ),
    message,
    form,
    h('section', { id: 'request-data' }, h('h2', {}, "The Request's data"), jsonBlock(request.data)),
  );
}

/** The completion form: the model's fields (or a JSON object when it declares none), validated here. */
function completionForm(task, message) {
  const fields = task.form ? task.form.fields : [];
  const inputs = fields.map((f) => fieldInput(f));
  const json = fields.length === 0 && !(task.form && task.form.approval)
    ? h('textarea', { id: 'task-json', class: 'task-data', rows: 4, spellcheck: 'false', 'aria-label': 'Completion data (JSON)' }, '{}')
    : null;
  const disabled = !task.may_complete;
  const submit = async (extra) => {
    fill(message);
    const data = {};
    let ok = true;
    for (const i of inputs) {
      const r = i.read();
      fill(i.error, r.error || '');
      if (r.error) ok = false;
      else if (r.value !== undefined) data[i.field.id] = r.value;
    }
    if (json) {
      try {
        const v = JSON.parse(json.value || '{}');
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('the data must be a JSON object');
        Object.assign(data, v);
      } catch (e) {
        fill(message, errorBox(`Not valid JSON data: ${e.message}`));
        return;
      }
    }
    if (!ok) {
      fill(message, errorBox('Some fields need a value: see above.'));
      return;
    }
    Object.assign(data, extra);
    try {
      await api('POST', `/api/v1/tasks/${task.id}/complete`, { data });
    } catch (e) {
      fill(message, errorBox(`Complete: ${e.message}`));
      return;
    }
    await goNext(task, message);
  };
  const buttons = task.form && task.form.approval
    ? h(
        'div',
        { class: 'approval' },
        h('button', { type: 'button', id: 'approve', disabled, onclick: () => submit({ approved: true }) }, 'Approve'),
        h('button', { type: 'button', id: 'reject', class: 'reject', disabled, onclick: () => submit({ approved: false }) }, 'Reject'),
      )
    : h('button', { type: 'button', id: 'complete', disabled, onclick: () => submit({}) }, 'Complete');
  return h(
    'section',
    { class: 'card task-form', id: 'task-form' },
    h('h2', {}, 'Complete'),
    inputs.map((i) => i.el),
    json ? [h('label', { for: 'task-json' }, "Data (JSON object, merged into the Request's data)"), json] : null,
    disabled ? h('p', { class: 'muted' }, 'Claim it to work on it.') : null,
    buttons,
  );
}

/** One field's input and how its value is read: typed, and refused when required and empty. */
function fieldInput(f) {
  const id = `field-${f.id}`;
  const error = h('div', { class: 'field-error', id: `${id}-error` });
  let input;
  if (f.type === 'boolean') {
    input = h('input', { type: 'checkbox', id, name: f.id, checked: f.default === 'true' });
  } else if (f.type === 'enum') {
    input = h(
      'select',
      { id, name: f.id },
      h('option', { value: '' }, '—'),
      f.values.map((v) => h('option', { value: v.id, selected: f.default === v.id }, v.name)),
    );
  } else {
    const type = f.type === 'long' ? 'number' : f.type === 'date' ? 'date' : 'text';
    input = h('input', { type, id, name: f.id, step: f.type === 'long' ? '1' : null, value: f.default ?? '' });
  }
  if (f.required) input.setAttribute('aria-required', 'true');
  const read = () => {
    if (f.type === 'boolean') return { value: input.checked };
    const text = input.value.trim();
    if (text === '') return f.required ? { error: `${f.label} is required` } : { value: undefined };
    if (f.type === 'long') {
      if (!/^-?\d+$/.test(text)) return { error: `${f.label} must be a whole number` };
      return { value: Number(text) };
    }
    if (f.type === 'date') {
      if (Number.isNaN(new Date(text).getTime())) return { error: `${f.label} must be a date` };
    }
    return { value: text };
  };
  const el = h(
    'div',
    { class: 'field', dataset: { field: f.id } },
    h('label', { for: id }, f.label, f.required ? ' *' : ''),
    input,
    error,
  );
  return { field: f, el, error, read };
}

/** After completing: the caller's next open task of the same Request, else the Request's page. */
async function goNext(task, message) {
  let next = null;
  try {
    const open = await api('GET', `/api/v1/tasks?request=${encodeURIComponent(task.request_id)}&status=active&limit=500`);
    const candidates = await Promise.all(
      open.tasks.filter((t) => t.id !== task.id).map((t) => api('GET', `/api/v1/tasks/${t.id}`).catch(() => null)),
    );
    next = candidates.find((t) => t && (t.may_complete || t.may_claim)) || null;
  } catch (e) {
    fill(message, errorBox(e));
  }
  location.assign(next ? `/tasks/${next.id}?after=${task.id}` : `/requests/${task.request_id}`);
}
