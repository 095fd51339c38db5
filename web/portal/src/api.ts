// The portal's one way to the admin API: same origin (/portal/api/v1/...), the session cookie
// sent by the browser (HttpOnly: never read here), the CSRF token in a header on every write.
// Errors come back in the API's one shape and are turned into plain words.

export interface Session {
  tenant_id: string;
  intent: "connect" | "manage";
  return_url: string | null;
  email: string | null;
  expires_at: string;
  csrf_token: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface ErrorShape {
  error?: { code?: string; message?: string; details?: Record<string, unknown> };
}

let csrf = "";

const PLAIN: Record<string, string> = {
  portal_session_invalid:
    "Your portal session has ended. Go back to your application and open the portal again.",
  csrf_rejected: "This page is out of date. Reload it and try again.",
  forbidden: "You are not allowed to do this.",
  version_conflict: "Someone else changed this meanwhile. Reload to see the latest, then try again.",
  lock_held: "A sync is running for this connection. Wait for it to finish, then try again.",
  connection_limit_reached: "This account cannot have another connection.",
  email_taken: "Another member already has this email address.",
  throttled: "The service is busy. Try again in a moment.",
};

function validationText(details: Record<string, unknown> | undefined): string {
  const errors = (details?.errors ?? []) as { location?: string[]; message?: string }[];
  const named = errors
    .map((e) => `${(e.location ?? []).filter((p) => p !== "body").join(" › ")}: ${e.message ?? "not valid"}`)
    .slice(0, 5);
  return named.length ? `Please check: ${named.join("; ")}.` : "Some of what you entered is not valid.";
}

export function plainWords(status: number, body: ErrorShape): ApiError {
  const code = body.error?.code ?? "error";
  const message = body.error?.message ?? "";
  if (code in PLAIN) return new ApiError(status, code, PLAIN[code]);
  if (code === "credentials_rejected") {
    // The HR system's own words (never a secret): "BambooHR refused the credentials: Invalid API key".
    const said = capitalise(message) || "The HR system refused these credentials.";
    return new ApiError(status, code, `${said} Check what you entered and try again.`);
  }
  if (status === 422) {
    const details = body.error?.details;
    return new ApiError(status, code, details?.errors ? validationText(details) : capitalise(message));
  }
  if (status === 404) return new ApiError(status, code, `Not found: ${message || "it may have been removed"}.`);
  if (status >= 500) return new ApiError(status, code, "Something went wrong on our side. Try again in a moment.");
  return new ApiError(status, code, capitalise(message) || `The request failed (${status}).`);
}

function capitalise(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const sentence = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let answer: Response;
  try {
    answer = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "The portal cannot reach the service. Check your connection and try again.");
  }
  const text = await answer.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!answer.ok) throw plainWords(answer.status, (parsed ?? {}) as ErrorShape);
  return parsed as T;
}

export async function loadSession(): Promise<Session> {
  const session = await request<Session>("GET", "api/session");
  csrf = session.csrf_token;
  return session;
}

export async function signOut(): Promise<void> {
  await request("POST", "api/logout");
}

export const api = {
  get: <T>(path: string) => request<T>("GET", `api/v1/${path}`),
  post: <T>(path: string, body: unknown = {}) => request<T>("POST", `api/v1/${path}`, body),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", `api/v1/${path}`, body),
  del: <T>(path: string) => request<T>("DELETE", `api/v1/${path}`),
};

export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
