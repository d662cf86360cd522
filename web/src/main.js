// The web app: one page shell for every route; the path picks the page, which reads and writes
// through the API with the session cookie.
import { api } from './api.js';
import { h, fill, page, errorBox } from './dom.js';
import { loginPage } from './login.js';
import { modellerPage } from './modeller.js';
import { slackSettingsPage } from './slack-settings.js';
import { processesPage, processPage } from './processes.js';
import { requestPage } from './request.js';
import { tasksPage, taskPage } from './tasks.js';

async function signedIn() {
  const me = await api('GET', '/api/v1/me');
  const nav = document.getElementById('nav');
  if (nav) nav.hidden = false;
  const who = document.getElementById('who');
  if (who) {
    fill(
      who,
      h('span', { class: 'username' }, me.username),
      ' ',
      h('button', { type: 'button', class: 'link', id: 'sign-out', onclick: signOut }, 'Sign out'),
    );
  }
  return me;
}

async function signOut() {
  try {
    await api('DELETE', '/api/v1/session');
  } finally {
    location.assign('/login');
  }
}

async function route() {
  const path = location.pathname.replace(/\/+$/, '') || '/';
  if (path === '/login') return loginPage();
  const me = await signedIn();
  if (path === '/' || path === '/processes') return processesPage(me);
  if (path === '/tasks') return tasksPage(me);
  if (path === '/modeller') return modellerPage(me, null);
  if (path === '/settings/slack') return slackSettingsPage(me);
  let m = path.match(/^\/processes\/([^/]+)$/);
  if (m) return processPage(me, decodeURIComponent(m[1]));
  m = path.match(/^\/modeller\/([^/]+)$/);
  if (m) return modellerPage(me, decodeURIComponent(m[1]));
  m = path.match(/^\/tasks\/([^/]+)$/);
  if (m) return taskPage(me, decodeURIComponent(m[1]));
  m = path.match(/^\/requests\/([^/]+)$/);
  if (m) return requestPage(me, decodeURIComponent(m[1]));
  page('Not found', h('p', {}, 'There is no page here.'));
}

route().catch((e) => {
  if (e && e.status === 401) return; // on its way to the sign-in page
  page('Error', errorBox(e));
});
