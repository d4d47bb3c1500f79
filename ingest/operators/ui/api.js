// The JSON API with the admin token this tab keeps. Numbers are kept as the text the server
// sent, so money is shown exactly as billed, never rounded through a float.

const KEY = "chargehook.adminToken";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function exactly(key, value, context) {
  return typeof value === "number" && context?.source !== undefined ? context.source : value;
}

// Whether this browser hands a reviver the number's text (JSON.parse source text access).
export const EXACT_NUMBERS = JSON.parse("[1.10]", exactly)[0] === "1.10";

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token.get()}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    token.clear();
    window.dispatchEvent(new Event("chargehook:logged-out"));
  }
  const data = parsed(await response.text());
  if (!response.ok) {
    throw new ApiError(response.status, data?.message ?? `HTTP ${response.status}`);
  }
  return data;
}

function parsed(text) {
  try {
    return text ? JSON.parse(text, exactly) : null;
  } catch {
    return null; // not JSON: a proxy's error page, say; the status tells
  }
}

export const part = encodeURIComponent;

// The wire's enumerations (schemas/): tests/unit/test_portal_files.py keeps these the same.
export const SESSION_STATUSES = ["FINISHED", "IN_PROGRESS", "ORDER_INIT_AND_WAITING", "NOT_PLUGGED", "PAYMENT_ERROR", "INTERNAL_ERROR", "PROVIDER_ERROR"];
export const DELIVERY_STATUSES = ["pending", "succeeded", "failed", "superseded"];
