// The sign-in page. Already signed in (a link from Slack arrives without the SameSite=Strict
// cookie, so the server sent it here): straight on to `next`.
import { api, safeNext } from './api.js';
import { h, page, errorBox } from './dom.js';

export async function loginPage() {
  const next = safeNext(new URLSearchParams(location.search).get('next') || '/processes');
  try {
    await api('GET', '/api/v1/me');
    location.replace(next);
    return;
  } catch {
    // not signed in: show the form
  }
  const message = h('div', { id: 'login-error' });
  const username = h('input', { name: 'username', id: 'username', autocomplete: 'username', required: true });
  const password = h('input', {
    name: 'password',
    id: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const form = h(
    'form',
    { class: 'card narrow', id: 'login-form' },
    h('label', { for: 'username' }, 'Username'),
    username,
    h('label', { for: 'password' }, 'Password'),
    password,
    h('button', { type: 'submit' }, 'Sign in'),
    message,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    message.replaceChildren();
    try {
      await api('POST', '/api/v1/session', { username: username.value, password: password.value });
      location.assign(next);
    } catch (e) {
      message.append(errorBox(e));
      password.value = '';
    }
  });
  page('Sign in', form);
  username.focus();
}
