// The admin API's shapes the portal reads (docs/openapi.json), only the fields it uses.

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Counts {
  created: number;
  linked: number;
  updated: number;
  deactivated: number;
  reactivated: number;
  invites: number;
  tasks: number;
  skipped: number;
}

export interface RunSummary {
  id: string;
  connection_id: string;
  trigger: string;
  status: "running" | "completed" | "failed" | "blocked" | "discarded" | string;
  started_at: string;
  finished_at: string | null;
  progress: {
    phase: string;
    pages_fetched: number;
    employees_fetched: number;
    chunks_total: number;
    chunks_applied: number;
    actions_total: number;
  };
  planned: Counts;
  applied: Counts;
  error: string | null;
  decided_by: string | null;
}

export interface Run extends RunSummary {
  skipped: { hris_id: string; reason: string; detail: string }[];
  warnings: string[];
}

export interface Connection {
  id: string;
  provider: string;
  provider_name: string;
  label: string;
  status: string;
  scope: { mode: string; companies: string[]; groups: string[]; people: string[] };
  invites: "now" | "later";
  approval: "auto" | "admin";
  field_policy: "hris_wins" | "manual_wins";
  mapping_mode: "replace" | "additive";
  deactivate_on_leave: boolean;
  schedule: { expression: string | null; timezone: string };
  admin_emails: string[];
  connected_by_email?: string | null;
  version: number;
  // From the connect-journey API (issue 12), when present.
  last_run?: RunSummary | null;
  next_run_at?: string | null;
  effective_schedule?: string | null;
}

export interface Actor {
  kind?: string;
}

export interface Member {
  id: string;
  source: string;
  status: string;
  hris_id: string | null;
  deactivation_reason: string | null;
  deactivated_by: string | null;
  flags: string[];
  profile: {
    first_name: string | null;
    last_name: string | null;
    email: string | null;
    job_title: string | null;
    department: string | null;
  };
}

export interface Task {
  id: string;
  member_id: string;
  type: "onboarding" | "offboarding" | string;
  status: "open" | "completed" | string;
  reason: string;
  opened_at: string;
}

export interface AuditEntry {
  id: string;
  member_id: string;
  at: string;
  actor: string;
  actor_id: string | null;
  action: string;
  after: Record<string, unknown>;
}

export interface InviteResult {
  sent: string[];
  not_sent: { member_id: string; reason: string }[];
}

export function fullName(m: Member): string {
  const name = [m.profile.first_name, m.profile.last_name].filter(Boolean).join(" ");
  return name || m.profile.email || m.hris_id || m.id;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString();
}

const WORDS: Record<string, string> = {
  pending_approval: "waiting for approval",
  queued: "invite queued",
  invited: "invited",
  active: "active",
  deactivated: "deactivated",
  archived: "archived",
  running: "running",
  completed: "completed",
  failed: "failed",
  blocked: "held for your decision",
  discarded: "discarded",
  disconnected: "disconnected",
  failing: "failing",
  draft: "draft",
};

export function words(value: string): string {
  return WORDS[value] ?? value.replace(/_/g, " ");
}
