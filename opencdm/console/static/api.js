// The console is one more API client: a token from POST /v3/auth/tokens, kept in sessionStorage
// (gone when the tab closes) and sent as X-Auth-Token. A 401 anywhere ends the session.

const KEY = "opencdm.session";

export class ApiError extends Error {
  constructor(status, body) {
    const text = body && (body.error_msg || body.message || body.externalMessage);
    super(text || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.code = body && (body.error_code || body.code || body.errCode);
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

function forget() {
  sessionStorage.removeItem(KEY);
}

async function parse(resp) {
  const text = await resp.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return {message: text.slice(0, 300)};
  }
}

export async function login(user, password, project) {
  const body = {auth: {identity: {methods: ["password"], password: {user: {name: user, password}}},
    scope: {project: {id: project}}}};
  const resp = await fetch("/v3/auth/tokens", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body), credentials: "omit", cache: "no-store"});
  const doc = await parse(resp);
  if (resp.status !== 201) throw new ApiError(resp.status, doc);
  const token = resp.headers.get("X-Subject-Token");
  const info = {token, project: doc.token.project.id, user: doc.token.user.name, expires: doc.token.expires_at};
  sessionStorage.setItem(KEY, JSON.stringify(info));
  return info;
}

/** Forget the token here, and revoke it on the server (best effort: the session ends either way). */
export async function logout() {
  const current = session();
  forget();
  if (!current) return;
  try {
    await fetch("/v3/auth/tokens", {method: "DELETE", credentials: "omit", cache: "no-store",
      headers: {"X-Auth-Token": current.token, "X-Subject-Token": current.token}});
  } catch {
    // offline: the token expires by itself
  }
}

/** ``call("GET", "/clusters")`` → JSON of /v1.1/{project}/clusters; throws ApiError on 4xx/5xx. */
export async function call(method, path, body) {
  const current = session();
  if (!current) {
    window.dispatchEvent(new CustomEvent("opencdm:expired"));
    throw new ApiError(401, {message: "Not logged in."});
  }
  const headers = {"X-Auth-Token": current.token};
  const init = {method, headers, credentials: "omit", cache: "no-store"};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(`/v1.1/${encodeURIComponent(current.project)}${path}`, init);
  const doc = await parse(resp);
  if (resp.status === 401) {
    forget();
    window.dispatchEvent(new CustomEvent("opencdm:expired"));
  }
  if (!resp.ok) throw new ApiError(resp.status, doc);
  return doc;
}

/** A path segment: names may hold characters that are special in URLs. */
export function seg(name) {
  return encodeURIComponent(name);
}
