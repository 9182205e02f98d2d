// Calling a local HTTP route and reading its answer: the JSON-or-text body, and the bearer-token
// call the tests make to a Worker's routes.

/** A response text as JSON; '' → null; text that is not JSON stays text. */
export function jsonOrText(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

/**
 * Calls `path` of `worker` (anything with fetch(path, init)) with `Authorization: Bearer <token>`
 * (token null/undefined: none). A `body` that is not a string is sent as JSON; content-type
 * application/json is added unless `headers` has one.
 * @returns {Promise<{status: number, json: any, headers: Headers}>}
 */
export async function callWithToken(worker, method, path, { body, token, headers = {} } = {}) {
  const h = { ...headers };
  if (token != null) h.authorization = `Bearer ${token}`;
  if (body !== undefined && !h['content-type']) h['content-type'] = 'application/json';
  const payload = body === undefined || typeof body === 'string' ? body : JSON.stringify(body);
  const res = await worker.fetch(path, { method, headers: h, body: payload });
  return { status: res.status, json: jsonOrText(await res.text()), headers: res.headers };
}
