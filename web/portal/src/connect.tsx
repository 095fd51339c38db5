// The connect journey, in the seeds' order: HR system -> credentials or "Connect with ..." ->
// people -> invites, approval, settings -> preview -> create accounts -> live progress -> done.
// Everything about a vendor comes from the catalogue (GET /v1/providers); credential fields are
// write-only (password inputs for secrets, never filled back).
import { useEffect, useState } from "preact/hooks";
import { api, query } from "./api";
import type { Run, RunSummary } from "./types";
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

interface Directory {
  companies: Entry[];
  groups: Entry[];
  people: Entry[];
  people_total: number;
}

interface Preview {
  counts: { created: number; linked: number; deactivated: number; invites: number };
  actions: { kind: string; hris_id: string | null; member_id: string | null; reason: string | null }[];
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

  useEffect(() => {
    // Back from the HR system's consent page: ?connection_id=... or ?error=...
    const params = new URLSearchParams(window.location.search);
    const back = params.get("connection_id");
    const failed = params.get("error");
    if (back || failed) window.history.replaceState(null, "", window.location.pathname);
    if (back) {
      setConnectionId(back);
      setStep("people");
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
              const created = await api.post<{ connection: { id: string } }>("connections", {
                draft: true,
                provider: provider.id,
                label,
                credentials: { secrets, settings },
                ...(email ? { admin_emails: [email] } : {}),
              });
              setConnectionId(created.connection.id);
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
          await api.patch(`connections/${connectionId}`, { scope });
          setStep("settings");
        })} />
      )}
      {step === "settings" && connectionId && (
        <Settings busy={busy} onNext={(settings) => guard(async () => {
          await api.patch(`connections/${connectionId}`, settings);
          setStep("preview");
        })} />
      )}
      {step === "preview" && connectionId && (
        <PreviewStep
          connectionId={connectionId}
          busy={busy}
          onCreate={() =>
            guard(async () => {
              const started = await api.post<{ run: RunSummary }>(`connections/${connectionId}/activate`);
              setRunId(started.run.id);
              setStep("progress");
            })
          }
        />
      )}
      {step === "progress" && runId && (
        <RunProgress
          runId={runId}
          onDone={(finished) => {
            setRun(finished);
            setStep("done");
          }}
        />
      )}
      {step === "done" && run && (
        <div>
          <h3 tabIndex={-1}>Done</h3>
          <p role="status">
            {run.applied.created} accounts created, {run.applied.linked} existing members linked,{" "}
            {run.applied.invites} invites, {run.applied.skipped} people skipped.
          </p>
          <p>A summary was emailed to {email ?? "the admins on the connection"}.</p>
          <button type="button" class="primary" onClick={onFinished}>
            Go to your connection
          </button>
        </div>
      )}
    </Section>
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
    <form onSubmit={submit} aria-label={`Connect ${p.name}`} autocomplete="off">
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
        <label key={`${method}-${f.name}`}>
          {f.label}
          <input
            name={f.name}
            type={f.secret ? "password" : "text"}
            required={f.required}
            autocomplete={f.secret ? "new-password" : "off"}
            aria-describedby={f.help ? `help-${f.name}` : undefined}
          />
          {f.help && (
            <small id={`help-${f.name}`} class="hint">
              {f.help}
            </small>
          )}
        </label>
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

function People({ connectionId, busy, onNext }: { connectionId: string; busy: boolean; onNext: (scope: unknown) => void }) {
  const [mode, setMode] = useState<Mode>("everyone");
  const [q, setQ] = useState("");
  const [directory, setDirectory] = useState<Directory | null>(null);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const timer = window.setTimeout(() => {
      api.get<Directory>(`connections/${connectionId}/directory${query({ q, limit: 50 })}`).then(
        (d) => (setDirectory(d), setError(null)),
        (e) => setError(errorText(e)),
      );
    }, 250);
    return () => window.clearTimeout(timer);
  }, [connectionId, q]);
  const entries: Entry[] = !directory || mode === "everyone" ? [] : directory[mode];
  const toggle = (id: string) =>
    setPicked((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const chosen = entries.filter((e) => picked.has(e.id));
  const count = chosen.reduce((n, e) => n + (e.count ?? (mode === "people" ? 1 : 0)), 0);
  return (
    <form
      aria-label="Select people"
      onSubmit={(event) => {
        event.preventDefault();
        onNext(mode === "everyone" ? { mode } : { mode, [mode]: chosen.map((e) => e.id) });
      }}
    >
      <fieldset>
        <legend>Who gets an account</legend>
        {(["everyone", "companies", "groups", "people"] as Mode[]).map((m) => (
          <label class="check" key={m}>
            <input type="radio" name="mode" checked={mode === m} onChange={() => (setMode(m), setPicked(new Set()))} />
            {MODE_NAMES[m]}
            {m === "everyone" && directory ? ` (${directory.people_total} people)` : ""}
          </label>
        ))}
      </fieldset>
      <ErrorBox error={error} />
      {mode !== "everyone" && (
        <>
          {mode === "people" && (
            <label>
              Search people
              <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
            </label>
          )}
          <ul class="picks" aria-label={MODE_NAMES[mode]}>
            {entries.map((e) => (
              <li key={e.id}>
                <label class="check">
                  <input type="checkbox" checked={picked.has(e.id)} onChange={() => toggle(e.id)} />
                  {e.name}
                  {e.kind ? ` · ${e.kind}` : ""}
                  {e.count != null ? ` (${e.count} people)` : ""}
                </label>
              </li>
            ))}
          </ul>
          <p role="status" aria-live="polite">
            {chosen.length} selected{count ? `, about ${count} people` : ""}.
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
      aria-label="Invites and settings"
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
    api.post<Preview>(`connections/${connectionId}/preview${query({ limit: 10 })}`).then(setPreview, (e) => setError(errorText(e)));
  }, [connectionId]);
  if (error) return <ErrorBox error={error} />;
  if (!preview) return <Notice text="Working out what would happen…" />;
  const c = preview.counts;
  return (
    <div>
      <p role="status">
        {c.created} accounts would be created, {c.linked} existing members linked, {c.invites} invited and{" "}
        {c.deactivated} deactivated.
      </p>
      <ul>
        {preview.actions
          .filter((a) => a.kind === "create")
          .slice(0, 10)
          .map((a) => (
            <li key={a.hris_id ?? a.member_id}>{a.hris_id}</li>
          ))}
      </ul>
      <button type="button" class="primary" disabled={busy} onClick={onCreate}>
        Create accounts
      </button>
    </div>
  );
}
