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

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token.get()}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text, exactly) : null;
  if (response.status === 401) {
    token.clear();
    window.dispatchEvent(new Event("chargehook:logged-out"));
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.message ?? `HTTP ${response.status}`);
  }
  return data;
}

export const part = encodeURIComponent;

// The wire's enumerations (schemas/): tests/unit/test_portal_files.py keeps these the same.
export const SESSION_STATUSES = ["FINISHED", "IN_PROGRESS", "ORDER_INIT_AND_WAITING", "NOT_PLUGGED", "PAYMENT_ERROR", "INTERNAL_ERROR", "PROVIDER_ERROR"];
export const DELIVERY_STATUSES = ["pending", "succeeded", "failed", "superseded"];
