// A real OpenID Provider (panva's oidc-provider) on loopback, for the portal's sign-in tests.
//
//   node provider.mjs CONFIG.json
//
// CONFIG (written by tests/oidc_helpers.py): {"port", "issuer", "clients": [...], "users": {login:
// {password, email, email_verified, name, groups, amr}}, "keys": [private JWKs], "cookie_keys": [...]}.
// The login page is a plain HTML form (no script: Chromium with JS off, lynx and w3m fill it);
// consent is granted without a page. Stopped by its pid (SIGTERM).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = config.users;

function claimsOf(login) {
  const user = users[login];
  const claims = { sub: user.sub || login };
  for (const name of ['email', 'email_verified', 'name', 'groups']) {
    if (user[name] !== undefined) claims[name] = user[name];
  }
  return claims;
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: config.keys },
  cookies: { keys: config.cookie_keys },
  async findAccount(ctx, id) {
    if (!users[id]) return undefined;
    return { accountId: id, async claims() { return claimsOf(id); } };
  },
  // amr in the ID token (the second factor a desk may require); groups with profile, as a directory's mapper would.
  claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
  scopes: ['openid', 'email', 'profile'],
  // The scopes' claims in the ID token too (the portal also reads userinfo when one is missing).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // The confirmation as one plain form, its button inside it (text browsers ignore form="…").
      async logoutSource(ctx, form) {
        ctx.type = 'html';
        ctx.body = `<!DOCTYPE html><html lang="es"><head><meta charset="utf-8"><title>Salir</title></head><body>
<h1>¿Cerrar la sesión del proveedor?</h1>${form.replace('</form>', '<button type="submit" name="logout" value="yes">Salir del proveedor</button></form>')}</body></html>`;
      },
    },
  },
  ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html lang="en"><head><title>Error</title></head><body><h1>${escape(out.error)}</h1><p>${escape(out.error_description || '')}</p></body></html>`;
  },
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function page(res, status, title, body) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(`<!DOCTYPE html><html lang="es"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`);
}

function loginForm(uid, error) {
  return `<h1>Proveedor de identidad de pruebas</h1>${error ? `<p>${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<p><label for="login">Usuario</label> <input id="login" name="login" autofocus></p>
<p><label for="password">Clave</label> <input id="password" name="password" type="password"></p>
<p><button type="submit">Entrar</button></p></form>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return Object.fromEntries(new URLSearchParams(body));
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === 'POST' && req.url.endsWith('/login')) {
    const form = await readForm(req);
    const user = users[form.login];
    if (!user || user.password !== form.password) {
      page(res, 401, 'Entrar', loginForm(uid, 'Usuario o clave incorrectos'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: form.login, amr: user.amr || ['pwd'] } },
      { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    page(res, 200, 'Entrar', loginForm(uid));
    return;
  }
  // consent: granted at once (the tests are about the portal, not the provider's consent page)
  const grant = details.grantId ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  if (prompt.details.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => page(res, 400, 'Error', `<p>${escape(error.message)}</p>`));
    return;
  }
  callback(req, res);
});
server.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${config.issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
