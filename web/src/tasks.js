// The task inbox: the open tasks the caller may see, each completed with JSON data.
// Claim/assign and the "mine"/"may claim" filters come with task assignment.
import { api } from './api.js';
import { h, fill, page, when, errorBox } from './dom.js';

export async function tasksPage() {
  const list = h('div', { id: 'task-list' }, h('p', { class: 'muted' }, 'Loading…'));
  page('Tasks', list);
  await refresh(list);
}

async function refresh(list) {
  let tasks = [];
  try {
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const p = await api('GET', `/api/v1/tasks?status=active&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      tasks = tasks.concat(p.tasks);
      if (!p.next_cursor) break;
      cursor = p.next_cursor;
    }
  } catch (e) {
    fill(list, errorBox(e));
    return;
  }
  if (tasks.length === 0) {
    fill(list, h('p', { class: 'muted', id: 'no-tasks' }, 'No open task.'));
    return;
  }
  fill(list, tasks.map((t) => taskCard(t, list)));
  const wanted = location.hash.slice(1);
  const card = wanted && document.getElementById(`task-${wanted}`);
  if (card) card.scrollIntoView();
}

function taskCard(t, list) {
  const data = h('textarea', { class: 'task-data', rows: 3, spellcheck: 'false', 'aria-label': 'Completion data (JSON)' }, '{}');
  const message = h('div', {});
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
    try {
      await api('POST', `/api/v1/tasks/${t.id}/complete`, { data: body });
      fill(message, h('p', { class: 'ok' }, 'Completed.'));
      await refresh(list);
    } catch (e) {
      fill(message, errorBox(e));
    }
  };
  return h(
    'article',
    { class: 'card task', id: `task-${t.id}`, dataset: { element: t.element_id } },
    h('h2', {}, t.name || t.element_id),
    h('p', { class: 'muted' }, 'Request ', h('a', { href: `/requests/${t.request_id}` }, t.request_id), ` · since ${when(t.created_at)}`),
    h('label', {}, 'Data (JSON object, merged into the Request\'s data)'),
    data,
    h('button', { type: 'button', class: 'complete', onclick: complete }, 'Complete'),
    message,
  );
}
