// The sign-in page. Already signed in (a link from Slack arrives without the SameSite=Strict
// cookie, so the server sent it here): straight on to `next`. When the server offers OpenID
// Connect, a "Sign in with NAME" link goes to its start (which comes back to `next`); a refused
// OpenID Connect sign-in comes back here with `?oidc_error=CODE`, shown above the form.
import { api, safeNext } from './api.js';
import { h, page, errorBox } from './dom.js';

/** What a refused OpenID Connect sign-in's code means (the audit log has the details). */
const OIDC_ERRORS = {
  oidc_denied: 'The identity provider did not sign you in.',
  invalid_oidc_state: 'That sign-in was not started from this browser. Try again.',
  oidc_state_used: 'That sign-in was already used. Try again.',
  oidc_state_expired: 'That sign-in took too long. Try again.',
  invalid_id_token: 'The identity provider\'s answer could not be verified. Ask an administrator.',
  oidc_user_conflict: 'Your account cannot sign in with the identity provider. Ask an administrator.',
  oidc_user_unavailable: 'Your account was deleted. Ask an administrator.',
  oidc_bad_claim: 'The identity provider gave no usable username. Ask an administrator.',
  oidc_not_configured: 'Sign-in with an identity provider is not set up.',
};

/** The "Sign in with NAME" link, when the server offers OpenID Connect (else null). */
async function oidcLink(next) {
  try {
    const methods = await api('GET', '/api/v1/auth/methods');
    if (!methods || !methods.oidc) return null;
    const href = `${methods.oidc.start_url}?next=${encodeURIComponent(next)}`;
    return h('a', { class: 'button', id: 'oidc-sign-in', href }, `Sign in with ${methods.oidc.name}`);
  } catch {
    return null;
  }
}

export async function loginPage() {
  const params = new URLSearchParams(location.search);
  const next = safeNext(params.get('next') || '/processes');
  try {
    await api('GET', '/api/v1/me');
    location.replace(next);
    return;
  } catch {
    // not signed in: show the form
  }
  const message = h('div', { id: 'login-error' });
  const oidcError = params.get('oidc_error');
  if (oidcError) {
    const text = OIDC_ERRORS[oidcError] || 'Signing in with the identity provider failed.';
    message.append(h('p', { class: 'error' }, `${text} (${oidcError})`));
  }
  const sso = await oidcLink(next);
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
    sso && h('p', {}, 'or'),
    sso,
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
