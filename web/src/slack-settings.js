// Slack settings (`/settings/slack`), laid out as Infisical lays out its integrations: the Slack
// app's credentials (admin), the connected workspaces with their alias and health, connecting
// one by bot token or by Slack's install page (OAuth), removing one (refused while processes use
// it, unless forced), and per process the channels of each notification event, with a channel
// picker, the text each event's messages show (a template over the Request's data) and whether a
// task meant for one person goes to them as a direct message. The API's problems are shown next
// to the field they concern.
import { api } from './api.js';
import { h, fill, page, errorBox, when } from './dom.js';

const DIRECT_MESSAGE = [
  ['off', 'No: only the channels'],
  ['also', 'Also: a direct message besides the channels'],
  ['only', 'Only: a direct message instead of the channels'],
];

const EVENTS = [
  ['request_started', 'A Request started'],
  ['request_completed', 'A Request completed'],
  ['request_error', 'An incident was raised'],
  ['task_waiting', 'A task waits for a person'],
];

/** Shows each of the API's `problems` ({field, message}) next to the element whose `data-field` names it. */
function showProblems(root, e) {
  for (const el of root.querySelectorAll('.field-problem')) el.textContent = '';
  const problems = (e && e.body && e.body.error && e.body.error.problems) || [];
  const field = e && e.body && e.body.error && e.body.error.field;
  const all = field ? [{ field, message: e.message }, ...problems] : problems;
  let placed = 0;
  for (const p of all) {
    const target = root.querySelector(`.field-problem[data-field="${CSS.escape(p.field)}"]`);
    if (target) {
      target.textContent = p.message;
      placed++;
    }
  }
  return placed;
}

export async function slackSettingsPage(me) {
  const admin = (me.roles || []).includes('admin');
  const workspaces = h('section', { class: 'card', id: 'workspaces' });
  const routing = h('section', { class: 'card', id: 'routing' });
  page('Slack', admin ? appCard() : null, workspaces, routing);
  const refresh = async () => {
    let list = [];
    try {
      ({ integrations: list } = await api('GET', '/api/v1/integrations/slack'));
    } catch (e) {
      fill(workspaces, h('h2', {}, 'Workspaces'), errorBox(e));
      return;
    }
    fill(workspaces, h('h2', {}, 'Workspaces'), workspaceTable(list, admin, refresh), admin ? connectForm(refresh) : null);
    await routingCard(routing, list);
  };
  await refresh();
}

function appCard() {
  const id = h('input', { type: 'text', id: 'app-client-id', autocomplete: 'off' });
  const secret = h('input', { type: 'password', id: 'app-client-secret', autocomplete: 'new-password' });
  const signing = h('input', { type: 'password', id: 'app-signing-secret', autocomplete: 'new-password' });
  const status = h('div', { id: 'app-status', role: 'status' });
  const form = h(
    'form',
    { class: 'narrow' },
    h('label', { for: 'app-client-id' }, 'Client ID'),
    id,
    h('span', { class: 'field-problem error', dataset: { field: 'client_id' } }),
    h('label', { for: 'app-client-secret' }, 'Client secret'),
    secret,
    h('span', { class: 'field-problem error', dataset: { field: 'client_secret' } }),
    h('label', { for: 'app-signing-secret' }, 'Signing secret (for Approve/Reject buttons)'),
    signing,
    h('span', { class: 'field-problem error', dataset: { field: 'signing_secret' } }),
    h('button', { type: 'submit' }, 'Save the app'),
    status,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { client_id: id.value.trim(), client_secret: secret.value };
    if (signing.value) body.signing_secret = signing.value;
    try {
      const saved = await api('PUT', '/api/v1/admin/slack-app', body);
      secret.value = '';
      signing.value = '';
      showProblems(form, null);
      fill(status, h('p', { class: 'ok' }, `Saved (client ${saved.client_id}); the secrets are kept sealed and never shown again.`));
    } catch (e) {
      if (!showProblems(form, e)) fill(status, errorBox(e));
    }
  });
  return h(
    'section',
    { class: 'card', id: 'slack-app' },
    h('h2', {}, 'Slack app'),
    h('p', { class: 'hint' }, 'The app that workspaces install (OAuth). Not needed to connect a workspace by bot token.'),
    form,
  );
}

/** Health: the channel list, read afresh from Slack, answers with the workspace's token, or says why not. */
async function health(alias, cell) {
  try {
    const { channels } = await api('GET', `/api/v1/integrations/slack/${encodeURIComponent(alias)}/channels?refresh=true`);
    fill(cell, h('span', { class: 'status status-completed' }, 'connected'), ` ${channels.length} channel(s)`);
  } catch (e) {
    fill(cell, h('span', { class: 'status status-error' }, 'failing'), ' ', h('span', { class: 'error' }, e.message));
  }
}

function workspaceTable(list, admin, refresh) {
  if (list.length === 0) return h('p', { class: 'muted', id: 'no-workspaces' }, 'No workspace is connected.');
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Alias'), h('th', {}, 'Workspace'), h('th', {}, 'Connected'), h('th', {}, 'Health'), h('th', {}, ''))),
    h(
      'tbody',
      {},
      list.map((i) => {
        const cell = h('td', { class: 'health' }, 'checking…');
        health(i.alias, cell);
        const problem = h('div', { class: 'error remove-problem' });
        const remove = async (force) => {
          try {
            await api('DELETE', `/api/v1/integrations/slack/${encodeURIComponent(i.alias)}${force ? '?force=true' : ''}`);
            await refresh();
          } catch (e) {
            if (e.code !== 'integration_in_use') {
              fill(problem, e.message);
              return;
            }
            fill(
              problem,
              e.message,
              ' ',
              h('button', { type: 'button', class: 'danger small force-remove', onclick: () => remove(true) }, 'Remove anyway'),
            );
          }
        };
        return h(
          'tr',
          { dataset: { alias: i.alias } },
          h('td', {}, h('strong', {}, i.alias)),
          h('td', {}, i.team ? `${i.team.name} (${i.team.id})` : ''),
          h('td', {}, `${i.source === 'oauth' ? 'installed' : 'bot token'}, ${when(i.installed_at)}`),
          cell,
          h('td', {}, admin ? h('button', { type: 'button', class: 'danger small remove', onclick: () => remove(false) }, 'Remove') : null, problem),
        );
      }),
    ),
  );
}

function connectForm(refresh) {
  const alias = h('input', { type: 'text', id: 'connect-alias', placeholder: 'default' });
  const token = h('input', { type: 'password', id: 'connect-token', placeholder: 'xoxb-…', autocomplete: 'off' });
  const status = h('div', { id: 'connect-status', role: 'status' });
  const form = h(
    'form',
    { class: 'narrow', id: 'connect-form' },
    h('label', { for: 'connect-alias' }, 'Alias (how models and settings name this workspace)'),
    alias,
    h('span', { class: 'field-problem error', dataset: { field: 'alias' } }),
    h('label', { for: 'connect-token' }, 'Bot token'),
    token,
    h('span', { class: 'field-problem error', dataset: { field: 'bot_token' } }),
    h('div', { class: 'toolbar' }, h('button', { type: 'submit', id: 'connect-token-button' }, 'Connect with the token'), ' or ', h('button', { type: 'button', id: 'install', class: 'secondary' }, 'Install with Slack')),
    status,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/v1/integrations/slack', { alias: alias.value.trim() || 'default', bot_token: token.value.trim() });
      token.value = '';
      await refresh();
    } catch (e) {
      // The token's problems (refused by Slack) belong to the token field.
      if (['slack_auth_failed'].includes(e.code)) e.body.error.field = 'bot_token';
      if (['invalid_alias'].includes(e.code)) e.body.error.field = 'alias';
      if (!showProblems(form, e)) fill(status, errorBox(e));
    }
  });
  // OAuth: the API answers 302 to Slack's authorize page; the browser follows it there.
  form.querySelector('#install').addEventListener('click', () => {
    location.assign(`/api/v1/integrations/slack/install?alias=${encodeURIComponent(alias.value.trim() || 'default')}`);
  });
  return h('div', {}, h('h3', {}, 'Connect a workspace'), form);
}

async function routingCard(box, integrations) {
  const { processes } = await api('GET', '/api/v1/processes');
  const select = h('select', { id: 'routing-process' }, h('option', { value: '' }, 'Pick a process…'), processes.map((p) => h('option', { value: p.key }, p.key)));
  const form = h('div', { id: 'routing-form' });
  select.addEventListener('change', () => (select.value ? routingForm(form, select.value, integrations) : fill(form)));
  fill(box, h('h2', {}, 'Notifications per process'), h('p', { class: 'hint' }, 'Which channels hear of each event of a process.'), h('label', { for: 'routing-process' }, 'Process '), select, form);
}

async function routingForm(form, key, integrations) {
  let current = { integration: integrations.length === 1 ? integrations[0].alias : 'default', events: {} };
  try {
    current = await api('GET', `/api/v1/processes/${encodeURIComponent(key)}/notifications`);
  } catch (e) {
    if (e.status !== 404) {
      fill(form, errorBox(e));
      return;
    }
  }
  const integration = h(
    'select',
    { id: 'routing-integration' },
    integrations.map((i) => h('option', { value: i.alias, selected: i.alias === current.integration }, i.alias)),
  );
  let channels = [];
  const loadChannels = async (fresh) => {
    try {
      ({ channels } = await api('GET', `/api/v1/integrations/slack/${encodeURIComponent(integration.value)}/channels${fresh ? '?refresh=true' : ''}`));
    } catch {
      channels = [];
    }
  };
  await loadChannels(false);
  const row = (event, value) => {
    const text = h('input', { type: 'text', class: 'channel', value });
    const pick = h('select', { class: 'channel-pick', 'aria-label': 'Pick a channel' }, h('option', { value: '' }, 'pick…'), channels.map((c) => h('option', { value: c.id, selected: c.id === value }, `${c.is_private ? '🔒' : '#'}${c.name}`)));
    pick.addEventListener('change', () => {
      if (pick.value) text.value = pick.value;
    });
    const li = h('li', { class: 'channel-row' }, pick, ' ', text, ' ', h('button', { type: 'button', class: 'secondary small', onclick: () => li.remove() }, 'Remove'), h('span', { class: 'field-problem error' }));
    return li;
  };
  const lists = EVENTS.map(([event, label]) => {
    const ul = h('ul', { class: 'channels', dataset: { event } }, ((current.events || {})[event] || []).map((c) => row(event, c)));
    const add = h('button', { type: 'button', class: 'secondary small add-channel', dataset: { event }, onclick: () => ul.append(row(event, '')) }, 'Add a channel');
    const templateId = `template-${event}`;
    const template = h('textarea', { id: templateId, class: 'template', rows: 2, dataset: { event }, placeholder: 'Amount: {{ amount }}' });
    template.value = (current.templates || {})[event] || '';
    return h(
      'div',
      { class: 'event', dataset: { event } },
      h('h3', {}, label, ' ', h('code', {}, event)),
      h('span', { class: 'field-problem error', dataset: { field: `events.${event}` } }),
      ul,
      add,
      h('label', { for: templateId, class: 'template-label' }, 'Text of its messages (optional; the Request\'s data as {{ path }})'),
      template,
      h('span', { class: 'field-problem error', dataset: { field: `templates.${event}` } }),
    );
  });
  const direct = h(
    'select',
    { id: 'routing-direct-message' },
    DIRECT_MESSAGE.map(([v, label]) => h('option', { value: v, selected: v === (current.direct_message || 'off') }, label)),
  );
  const status = h('div', { id: 'routing-status', role: 'status' });
  const save = h('button', { type: 'button', id: 'routing-save' }, 'Save');
  const refresh = h('button', { type: 'button', class: 'secondary', id: 'routing-refresh', title: 'Read the channel list again (a private channel appears once the bot is invited)' }, 'Refresh channels');
  refresh.addEventListener('click', async () => {
    await loadChannels(true);
    routingFormFill();
  });
  const routingFormFill = () => {
    for (const ul of form.querySelectorAll('ul.channels')) {
      for (const li of Array.from(ul.children)) {
        const value = li.querySelector('input.channel').value;
        li.replaceWith(row(ul.dataset.event, value));
      }
    }
  };
  save.addEventListener('click', async () => {
    const events = {};
    for (const ul of form.querySelectorAll('ul.channels')) {
      const rows = Array.from(ul.querySelectorAll('li'));
      rows.forEach((li, i) => (li.querySelector('.field-problem').dataset.field = `events.${ul.dataset.event}[${i}]`));
      events[ul.dataset.event] = rows.map((li) => li.querySelector('input.channel').value.trim());
    }
    const templates = {};
    for (const t of form.querySelectorAll('textarea.template')) {
      if (t.value.trim()) templates[t.dataset.event] = t.value;
    }
    try {
      await api('PUT', `/api/v1/processes/${encodeURIComponent(key)}/notifications`, {
        integration: integration.value,
        events,
        direct_message: direct.value,
        templates,
      });
      showProblems(form, null);
      fill(status, h('p', { class: 'ok', id: 'routing-saved' }, `Saved the notifications of ${key}.`));
    } catch (e) {
      const placed = showProblems(form, e);
      fill(status, h('p', { class: 'error', role: 'alert' }, placed ? 'Not saved: see the fields marked.' : `Not saved: ${e.message}`));
    }
  });
  integration.addEventListener('change', async () => {
    await loadChannels(false);
    routingFormFill();
  });
  fill(
    form,
    h('div', { class: 'field' }, h('label', { for: 'routing-integration' }, 'Workspace'), integration, h('span', { class: 'field-problem error', dataset: { field: 'integration' } })),
    lists,
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'routing-direct-message' }, 'A task meant for one person: send it to them as a direct message?'),
      direct,
      h('span', { class: 'field-problem error', dataset: { field: 'direct_message' } }),
    ),
    h('div', { class: 'toolbar' }, save, refresh),
    status,
  );
}
