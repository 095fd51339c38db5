// The connect journey, in the seeds' order: HR system -> credentials or "Connect with ..." ->
// people -> invites, approval, settings -> preview -> create accounts -> live progress -> done.
// Everything about a vendor comes from the catalogue (GET /v1/providers); credential fields are
// write-only (password inputs for secrets, never filled back).
import { useEffect, useRef, useState } from "preact/hooks";
import { api, query } from "./api";
import type { Connection, Page, Run, RunSummary } from "./types";
import { words } from "./types";
import { ErrorBox, Notice, RunProgress, Section, errorText } from "./ui";

interface Field {
  name: string;
  label: string;
  help: string;
  secret: boolean;
  required: boolean;
}

interface Provider {
  id: string;
  name: string;
  kind: string;
  methods: ("api_key" | "oauth")[];
  api_key_fields: Field[];
  oauth_fields: Field[];
  default_schedule: string;
}

interface Entry {
  id: string;
  name: string;
  kind?: string | null;
  count?: number | null;
}

interface Preview {
  counts: { created: number; linked: number; deactivated: number; invites: number };
  actions: { kind: string; hris_id: string | null; member_id: string | null; name: string | null; email: string | null }[];
  actions_total: number;
  scope_counts: { id: string; name: string; kind: string | null; people: number }[];
}

type Step = "provider" | "credentials" | "people" | "settings" | "preview" | "progress" | "done";
type Mode = "everyone" | "companies" | "groups" | "people";

export function ConnectScreen({ email, onFinished }: { email: string | null; onFinished: () => void }) {
  const [step, setStep] = useState<Step>("provider");
  const [providers, setProviders] = useState<Provider[] | null>(null);
  const [provider, setProvider] = useState<Provider | null>(null);
  const [connectionId, setConnectionId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [run, setRun] = useState<Run | null>(null);
  const [runId, setRunId] = useState<string | null>(null);
  const [connection, setConnection] = useState<Connection | null>(null);

  useEffect(() => {
    // Back from the HR system's consent page: ?connection_id=... or ?error=...
    const params = new URLSearchParams(window.location.search);
    const back = params.get("connection_id");
    const failed = params.get("error");
    if (back || failed) window.history.replaceState(null, "", window.location.pathname);
    if (back) {
      setConnectionId(back);
      setStep("people");
      api.get<Connection>(`connections/${encodeURIComponent(back)}`).then(setConnection, (e) => setError(errorText(e)));
    } else if (failed) {
      setError(`The HR system did not grant access (${failed.replace(/_/g, " ")}). Try again.`);
    }
    api.get<{ items: Provider[] }>("providers").then(
      (p) => setProviders(p.items),
      (e) => setError(errorText(e)),
    );
  }, []);

  const guard = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="Connect your HR system">
      <ol class="steps" aria-label="Steps">
        {(["provider", "credentials", "people", "settings", "preview", "progress", "done"] as Step[]).map((s) => (
          <li key={s} aria-current={s === step ? "step" : undefined}>
            {STEP_NAMES[s]}
          </li>
        ))}
      </ol>
      <ErrorBox error={error} />
      {step === "provider" && (
        <ChooseProvider
          providers={providers}
          onChoose={(p) => {
            setProvider(p);
            setStep("credentials");
          }}
        />
      )}
      {step === "credentials" && provider && (
        <Credentials
          provider={provider}
          busy={busy}
          onBack={() => setStep("provider")}
          onApiKey={(label, secrets, settings) =>
            guard(async () => {
              const created = await api.post<{ connection: Connection }>("connections", {
                draft: true,
                provider: provider.id,
                label,
                credentials: { secrets, settings },
                ...(email ? { admin_emails: [email] } : {}),
              });
              setConnectionId(created.connection.id);
              setConnection(created.connection);
              setStep("people");
            })
          }
          onOAuth={(label, settings) =>
            guard(async () => {
              const back = `${window.location.origin}${window.location.pathname}`;
              const started = await api.post<{ authorize_url: string }>("connections/oauth/start", {
                provider: provider.id,
                label,
                settings,
                return_url: back,
              });
              window.location.assign(started.authorize_url);
            })
          }
        />
      )}
      {step === "people" && connectionId && (
        <People connectionId={connectionId} busy={busy} onNext={(scope) => guard(async () => {
          const saved = await api.patch<{ connection: Connection }>(`connections/${connectionId}`, {
            scope,
            expected_version: connection?.version,
          });
          setConnection(saved.connection);
          setStep("settings");
        })} />
      )}
      {step === "settings" && connectionId && (
        <Settings busy={busy} onNext={(settings) => guard(async () => {
          const saved = await api.patch<{ connection: Connection }>(`connections/${connectionId}`, {
            ...settings,
            expected_version: connection?.version,
          });
          setConnection(saved.connection);
          setStep("preview");
        })} />
      )}
      {step === "preview" && connectionId && (
        <PreviewStep
          connectionId={connectionId}
          busy={busy}
          onCreate={() =>
            guard(async () => {
              // The version the preview was made from: a change by someone else meanwhile is a
              // 409 (version_conflict), never an import of a selection the admin did not see.
              const started = await api.post<{ connection: Connection; run: RunSummary }>(
                `connections/${connectionId}/activate`,
                connection ? { expected_version: connection.version } : undefined,
              );
              setConnection(started.connection);
              setRunId(started.run.id);
              setStep("progress");
            })
          }
        />
      )}
      {step === "progress" && runId && (
        <div>
          <StepHeading text="Importing your people" />
          <RunProgress
            runId={runId}
            onDone={(finished) => {
              setRun(finished);
              setStep("done");
            }}
          />
        </div>
      )}
      {step === "done" && run && (
        <div>
          <StepHeading text={run.status === "completed" ? "Done" : `The import ${words(run.status)}`} />
          <p role="status">
            {run.applied.created} accounts created, {run.applied.linked} existing members linked,{" "}
            {run.applied.invites} invites sent, {run.applied.skipped} people skipped.
          </p>
          <p>{emailedTo(connection, email)}</p>
          <button type="button" class="primary" onClick={onFinished}>
            Go to your connection
          </button>
        </div>
      )}
    </Section>
  );
}

/** Where the import's summary went: the connecting admin (the session's email) and the
 * connection's admin emails, as the API recorded them. */
function emailedTo(connection: Connection | null, email: string | null): string {
  const to = [...new Set([connection?.connected_by_email ?? email, ...(connection?.admin_emails ?? [])].filter(Boolean))];
  return to.length
    ? `A summary of the import was emailed to ${to.join(", ")}.`
    : "No email address is on this connection, so no summary was emailed.";
}

/** Each step's heading; focus moves to it when the step appears (screen readers announce it). */
function StepHeading({ text, id }: { text: string; id?: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <h3 ref={ref} id={id} tabIndex={-1}>
      {text}
    </h3>
  );
}

const STEP_NAMES: Record<Step, string> = {
  provider: "HR system",
  credentials: "Sign in",
  people: "People",
  settings: "Invites and settings",
  preview: "Preview",
  progress: "Import",
  done: "Done",
};

function ChooseProvider({ providers, onChoose }: { providers: Provider[] | null; onChoose: (p: Provider) => void }) {
  if (!providers) return <Notice text="Loading the HR systems…" />;
  return (
    <>
    <StepHeading text="Choose your HR system" />
    <ul class="tiles" aria-label="HR systems">
      {providers.map((p) => (
        <li key={p.id}>
          <button type="button" class="tile" onClick={() => onChoose(p)}>
            <strong>{p.name}</strong>
            <span>{p.kind === "hris" ? "HR system" : p.kind}</span>
          </button>
        </li>
      ))}
    </ul>
    </>
  );
}

function Credentials(props: {
  provider: Provider;
  busy: boolean;
  onBack: () => void;
  onApiKey: (label: string, secrets: Record<string, string>, settings: Record<string, string>) => void;
  onOAuth: (label: string, settings: Record<string, string>) => void;
}) {
  const p = props.provider;
  const oauth = p.methods.includes("oauth");
  const apiKey = p.methods.includes("api_key");
  const [method, setMethod] = useState<"api_key" | "oauth">(apiKey ? "api_key" : "oauth");
  const [label, setLabel] = useState(p.name);
  const fields = method === "api_key" ? p.api_key_fields : p.oauth_fields;
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const secrets: Record<string, string> = {};
    const settings: Record<string, string> = {};
    for (const f of fields) {
      const value = String(form.get(f.name) ?? "").trim();
      if (!value) continue;
      (f.secret ? secrets : settings)[f.name] = value;
    }
    (event.currentTarget as HTMLFormElement).reset(); // secrets are not kept in the page
    if (method === "api_key") props.onApiKey(label, secrets, settings);
    else props.onOAuth(label, settings);
  };
  return (
    <form onSubmit={submit} aria-labelledby="credentials-heading" autocomplete="off">
      <StepHeading id="credentials-heading" text={`Connect ${p.name}`} />
      {method === "api_key" && (
        <p class="hint">
          What you enter here is checked with {p.name} at once and stored encrypted. It is never shown again.
        </p>
      )}
      {oauth && apiKey && (
        <fieldset>
          <legend>How to connect</legend>
          <label class="check">
            <input type="radio" name="method" checked={method === "api_key"} onChange={() => setMethod("api_key")} />
            With an API key
          </label>
          <label class="check">
            <input type="radio" name="method" checked={method === "oauth"} onChange={() => setMethod("oauth")} />
            By signing in to {p.name}
          </label>
        </fieldset>
      )}
      <label>
        Connection name
        <input value={label} required maxLength={120} onInput={(e) => setLabel(e.currentTarget.value)} />
      </label>
      {fields.map((f) => (
        <div class="field" key={`${method}-${f.name}`}>
          <label>
            {f.label}
            <input
              name={f.name}
              type={f.secret ? "password" : "text"}
              required={f.required}
              autocomplete={f.secret ? "new-password" : "off"}
              aria-describedby={f.help ? `help-${f.name}` : undefined}
            />
          </label>
          {f.help && (
            <small id={`help-${f.name}`} class="hint">
              {f.help}
            </small>
          )}
        </div>
      ))}
      <div class="actions">
        <button type="submit" class="primary" disabled={props.busy}>
          {method === "oauth" ? `Connect with ${p.name}` : "Check and continue"}
        </button>
        <button type="button" onClick={props.onBack}>
          Back
        </button>
      </div>
    </form>
  );
}

type Kind = Exclude<Mode, "everyone">;

/** Picks a scope by directory ids (R33): search one list of the HR system's directory, each entry
 * with how many people it takes in; choices are kept across searches. */
function People({ connectionId, busy, onNext }: { connectionId: string; busy: boolean; onNext: (scope: unknown) => void }) {
  const [mode, setMode] = useState<Mode>("everyone");
  const [q, setQ] = useState("");
  const [everyone, setEveryone] = useState<number | null>(null);
  const [page, setPage] = useState<(Page<Entry> & { total: number }) | null>(null);
  const [more, setMore] = useState<Entry[]>([]);
  const [picked, setPicked] = useState<Map<string, Entry>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const list = (kind: Kind, cursor?: string | null) =>
    api.get<Page<Entry> & { total: number }>(
      `connections/${encodeURIComponent(connectionId)}/directory/${kind}${query({ q, cursor, limit: 50 })}`,
    );
  useEffect(() => {
    api.get<{ total: number }>(`connections/${encodeURIComponent(connectionId)}/directory/people${query({ limit: 1 })}`).then(
      (d) => setEveryone(d.total),
      (e) => setError(errorText(e)),
    );
  }, [connectionId]);
  useEffect(() => {
    if (mode === "everyone") return;
    setPage(null);
    setMore([]);
    const timer = window.setTimeout(() => {
      list(mode).then(
        (d) => (setPage(d), setError(null)),
        (e) => setError(errorText(e)),
      );
    }, 250);
    return () => window.clearTimeout(timer);
  }, [connectionId, mode, q]);
  const loadMore = () => {
    if (mode === "everyone" || !page?.next_cursor) return;
    list(mode, page.next_cursor).then(
      (d) => (setMore((m) => [...m, ...d.items]), setPage({ ...d, items: page.items })),
      (e) => setError(errorText(e)),
    );
  };
  const toggle = (e: Entry) =>
    setPicked((s) => {
      const next = new Map(s);
      if (next.has(e.id)) next.delete(e.id);
      else next.set(e.id, e);
      return next;
    });
  const chosen = [...picked.values()];
  const count = chosen.reduce((n, e) => n + (e.count ?? (mode === "people" ? 1 : 0)), 0);
  const entries = page ? [...page.items, ...more] : [];
  const noun = mode === "everyone" ? "" : MODE_NOUNS[mode];
  return (
    <form
      aria-labelledby="people-heading"
      onSubmit={(event) => {
        event.preventDefault();
        onNext(mode === "everyone" ? { mode } : { mode, [mode]: chosen.map((e) => e.id) });
      }}
    >
      <StepHeading id="people-heading" text="Who gets an account" />
      <fieldset>
        <legend>Choose people by</legend>
        {(["everyone", "companies", "groups", "people"] as Mode[]).map((m) => (
          <label class="check" key={m}>
            <input
              type="radio"
              name="mode"
              checked={mode === m}
              onChange={() => (setMode(m), setPicked(new Map()), setQ(""))}
            />
            {MODE_NAMES[m]}
            {m === "everyone" && everyone != null ? ` (${everyone} people)` : ""}
          </label>
        ))}
      </fieldset>
      <ErrorBox error={error} />
      {mode !== "everyone" && (
        <>
          <label>
            Search {noun}
            <input type="search" value={q} maxLength={100} onInput={(e) => setQ(e.currentTarget.value)} />
          </label>
          {!page && <Notice text={`Loading ${noun}…`} />}
          {page && (
            <p class="hint">
              {page.total} {noun} {q ? `match “${q}”` : "in the HR system"}.
            </p>
          )}
          <ul class="picks" aria-label={MODE_NAMES[mode]}>
            {entries.map((e) => (
              <li key={e.id}>
                <label class="check">
                  <input type="checkbox" checked={picked.has(e.id)} onChange={() => toggle(e)} />
                  {e.name}
                  {e.kind ? ` · ${words(e.kind)}` : ""}
                  {e.count != null ? ` (${e.count} ${e.count === 1 ? "person" : "people"})` : ""}
                </label>
              </li>
            ))}
          </ul>
          {page?.next_cursor && (
            <button type="button" onClick={loadMore}>
              Show more {noun}
            </button>
          )}
          <p role="status" aria-live="polite">
            {chosen.length} selected{count ? `, about ${count} ${count === 1 ? "person" : "people"}` : ""}.
          </p>
        </>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy || (mode !== "everyone" && !chosen.length)}>
          Continue
        </button>
      </div>
    </form>
  );
}

const MODE_NOUNS: Record<Kind, string> = {
  companies: "companies",
  groups: "departments and teams",
  people: "people",
};

const MODE_NAMES: Record<Mode, string> = {
  everyone: "Everyone",
  companies: "Some companies",
  groups: "Some departments or teams",
  people: "People I pick",
};

function Settings({ busy, onNext }: { busy: boolean; onNext: (settings: Record<string, unknown>) => void }) {
  const [invites, setInvites] = useState("now");
  const [approval, setApproval] = useState("auto");
  const [fieldPolicy, setFieldPolicy] = useState("hris_wins");
  const [onLeave, setOnLeave] = useState(false);
  const [additive, setAdditive] = useState(false);
  const [defaultRole, setDefaultRole] = useState("member");
  const [groupMap, setGroupMap] = useState("");
  return (
    <form
      aria-labelledby="settings-heading"
      onSubmit={(event) => {
        event.preventDefault();
        const groups = Object.fromEntries(
          groupMap
            .split("\n")
            .map((line) => line.split("=").map((s) => s.trim()))
            .filter((pair) => pair.length === 2 && pair[0] && pair[1]),
        );
        onNext({
          invites,
          approval,
          field_policy: fieldPolicy,
          deactivate_on_leave: onLeave,
          mapping_mode: additive ? "additive" : "replace",
          default_role: defaultRole,
          mappings: { groups },
        });
      }}
    >
      <StepHeading id="settings-heading" text="Invites, approval and settings" />
      <label>
        Invites
        <select value={invites} onChange={(e) => setInvites(e.currentTarget.value)}>
          <option value="now">Send invites when accounts are created</option>
          <option value="later">Queue invites; I send them later</option>
        </select>
      </label>
      <label>
        New people
        <select value={approval} onChange={(e) => setApproval(e.currentTarget.value)}>
          <option value="auto">Create their accounts automatically</option>
          <option value="admin">Wait for my approval</option>
        </select>
      </label>
      <label>
        When a profile was edited here
        <select value={fieldPolicy} onChange={(e) => setFieldPolicy(e.currentTarget.value)}>
          <option value="hris_wins">The HR system's value wins</option>
          <option value="manual_wins">The edit here wins</option>
        </select>
      </label>
      <label>
        Default role
        <input value={defaultRole} required onInput={(e) => setDefaultRole(e.currentTarget.value)} />
      </label>
      <label>
        Departments to groups (one "department = group" a line)
        <textarea rows={3} value={groupMap} onInput={(e) => setGroupMap(e.currentTarget.value)} />
      </label>
      <label class="check">
        <input type="checkbox" checked={onLeave} onChange={(e) => setOnLeave(e.currentTarget.checked)} />
        Deactivate people on leave
      </label>
      <label class="check">
        <input type="checkbox" checked={additive} onChange={(e) => setAdditive(e.currentTarget.checked)} />
        Only add groups and permissions (never remove them)
      </label>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Preview
        </button>
      </div>
    </form>
  );
}

function PreviewStep({ connectionId, busy, onCreate }: { connectionId: string; busy: boolean; onCreate: () => void }) {
  const [preview, setPreview] = useState<Preview | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .post<Preview>(`connections/${encodeURIComponent(connectionId)}/preview${query({ limit: 200 })}`)
      .then(setPreview, (e) => setError(errorText(e)));
  }, [connectionId]);
  const c = preview?.counts;
  const sample = preview?.actions.filter((a) => a.kind === "create").slice(0, 10) ?? [];
  return (
    <div>
      <StepHeading text="Preview" />
      <ErrorBox error={error} />
      {!preview && !error && <Notice text="Working out what would happen…" />}
      {c && preview && (
        <>
          <p role="status">
            {c.created} accounts would be created, {c.linked} existing members linked, {c.invites} invited and{" "}
            {c.deactivated} deactivated.
          </p>
          {preview.scope_counts.length > 0 && (
            <ul aria-label="Your selection">
              {preview.scope_counts.map((s) => (
                <li key={s.id}>
                  {s.name}: {s.people} {s.people === 1 ? "person" : "people"}
                </li>
              ))}
            </ul>
          )}
          {sample.length > 0 && (
            <>
              <h4 id="sample-heading">Some of the people who would get an account</h4>
              <ul aria-labelledby="sample-heading">
                {sample.map((a) => (
                  <li key={a.hris_id ?? a.member_id}>
                    {a.name ?? a.hris_id}
                    {a.email ? ` (${a.email})` : ""}
                  </li>
                ))}
              </ul>
            </>
          )}
          <button type="button" class="primary" disabled={busy} onClick={onCreate}>
            Create accounts
          </button>
        </>
      )}
    </div>
  );
}
