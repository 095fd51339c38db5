// The day-to-day screens: the connection, people waiting for the admin, tasks, runs, audit trail.
import { useEffect, useState } from "preact/hooks";
import { api, query } from "./api";
import type { AuditEntry, Connection, InviteResult, Member, Page, Run, RunSummary, Task } from "./types";
import { fullName, when, words } from "./types";
import { Confirm, ErrorBox, Notice, RunProgress, Section, errorText } from "./ui";

function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [T | null, string | null, () => void] {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (v) => live && (setValue(v), setError(null)),
      (e) => live && setError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [value, error, () => setTick((t) => t + 1)];
}

// --- the connection -------------------------------------------------------------------------------

export function ConnectionScreen({ onConnect }: { onConnect: () => void }) {
  const [list, error, reload] = useLoad(() => api.get<Page<Connection>>("connections"), []);
  if (error) return <ErrorBox error={error} />;
  if (!list) return <Notice text="Loading your connection…" />;
  const live = list.items.filter((c) => c.status !== "disconnected");
  if (!live.length) {
    return (
      <Section title="No HR system connected">
        <p>Connect your HR system to bring your people in and keep them in sync.</p>
        <button type="button" class="primary" onClick={onConnect}>
          Connect an HR system
        </button>
      </Section>
    );
  }
  return (
    <>
      {live.map((c) => (
        <ConnectionCard key={c.id} connection={c} onChanged={reload} />
      ))}
    </>
  );
}

function ConnectionCard({ connection, onChanged }: { connection: Connection; onChanged: () => void }) {
  const c = connection;
  const [runs, runsError, reloadRuns] = useLoad(
    () => api.get<Page<RunSummary>>(`connections/${c.id}/runs${query({ limit: 20 })}`),
    [c.id],
  );
  const [syncing, setSyncing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [editing, setEditing] = useState(false);

  const last = c.last_run ?? runs?.items.find((r) => r.status !== "running") ?? null;
  const held = runs?.items.filter((r) => r.status === "blocked") ?? [];

  const syncNow = async () => {
    setError(null);
    try {
      const run = await api.post<RunSummary>(`connections/${c.id}/sync`);
      setSyncing(run.id);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const disconnect = async () => {
    setConfirming(false);
    try {
      await api.del(`connections/${c.id}`);
      setMessage("Disconnected. Your members stay as they are.");
      onChanged();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <>
      <Section title={`${c.label} (${c.provider_name})`} id={`connection-${c.id}`}>
        <dl class="facts">
          <dt>Status</dt>
          <dd>{words(c.status)}</dd>
          <dt>Last sync</dt>
          <dd>{last ? `${words(last.status)}, ${when(last.finished_at ?? last.started_at)}` : "not yet"}</dd>
          <dt>Its result</dt>
          <dd>
            {last
              ? `${last.applied.created} created, ${last.applied.updated} updated, ${last.applied.deactivated} deactivated, ${last.applied.skipped} skipped`
              : "—"}
          </dd>
          <dt>Next sync</dt>
          <dd>{c.next_run_at ? when(c.next_run_at) : (c.effective_schedule ?? c.schedule.expression ?? "on schedule")}</dd>
        </dl>
        <ErrorBox error={error ?? runsError} />
        {message && <Notice text={message} />}
        {syncing && (
          <RunProgress
            runId={syncing}
            onDone={() => {
              reloadRuns();
            }}
          />
        )}
        <div class="actions">
          <button type="button" class="primary" onClick={syncNow}>
            Sync now
          </button>
          <button type="button" onClick={() => setEditing(!editing)} aria-expanded={editing}>
            Edit connection
          </button>
          <button type="button" class="danger" onClick={() => setConfirming(true)}>
            Disconnect
          </button>
        </div>
        {editing && (
          <QuickSettings
            connection={c}
            onSaved={() => {
              setEditing(false);
              setMessage("Settings saved.");
              onChanged();
            }}
          />
        )}
        {confirming && (
          <Confirm
            title={`Disconnect ${c.label}?`}
            text={
              <p>
                Syncing stops and the credentials are deleted. <strong>Your members stay</strong>: nobody is
                deactivated or removed.
              </p>
            }
            confirm="Disconnect"
            danger
            onConfirm={disconnect}
            onCancel={() => setConfirming(false)}
          />
        )}
      </Section>
      {held.map((r) => (
        <HeldSync
          key={r.id}
          run={r}
          onDecided={(text) => {
            setMessage(text);
            reloadRuns();
          }}
        />
      ))}
    </>
  );
}

function QuickSettings({ connection, onSaved }: { connection: Connection; onSaved: () => void }) {
  const [label, setLabel] = useState(connection.label);
  const [invites, setInvites] = useState(connection.invites);
  const [approval, setApproval] = useState(connection.approval);
  const [fieldPolicy, setFieldPolicy] = useState(connection.field_policy);
  const [onLeave, setOnLeave] = useState(connection.deactivate_on_leave);
  const [error, setError] = useState<string | null>(null);
  const save = async (event: Event) => {
    event.preventDefault();
    try {
      await api.patch(`connections/${connection.id}`, {
        label,
        invites,
        approval,
        field_policy: fieldPolicy,
        deactivate_on_leave: onLeave,
        expected_version: connection.version,
      });
      onSaved();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <form class="settings" onSubmit={save} aria-label="Connection settings">
      <label>
        Name
        <input value={label} required maxLength={120} onInput={(e) => setLabel(e.currentTarget.value)} />
      </label>
      <label>
        Invites
        <select value={invites} onChange={(e) => setInvites(e.currentTarget.value as Connection["invites"])}>
          <option value="now">Send invites automatically</option>
          <option value="later">Queue invites; I send them</option>
        </select>
      </label>
      <label>
        New people
        <select value={approval} onChange={(e) => setApproval(e.currentTarget.value as Connection["approval"])}>
          <option value="auto">Added automatically</option>
          <option value="admin">Wait for my approval</option>
        </select>
      </label>
      <label>
        When a profile was edited here
        <select
          value={fieldPolicy}
          onChange={(e) => setFieldPolicy(e.currentTarget.value as Connection["field_policy"])}
        >
          <option value="hris_wins">The HR system's value wins</option>
          <option value="manual_wins">The edit here wins</option>
        </select>
      </label>
      <label class="check">
        <input type="checkbox" checked={onLeave} onChange={(e) => setOnLeave(e.currentTarget.checked)} />
        Deactivate people on leave
      </label>
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" class="primary">
          Save settings
        </button>
      </div>
    </form>
  );
}

interface PlannedAction {
  kind: string;
  member_id: string | null;
  hris_id: string | null;
  name: string | null;
  email: string | null;
  reason: string | null;
}

const WHY: Record<string, string> = {
  terminated: "left the company (terminated in the HR system)",
  left_hris: "no longer in the HR system",
  out_of_scope: "no longer among the people this connection brings in",
  on_leave: "on leave (the connection deactivates people on leave)",
};

function HeldSync({ run, onDecided }: { run: RunSummary; onDecided: (text: string) => void }) {
  const [detail, error] = useLoad(() => api.get<Run>(`runs/${run.id}`), [run.id]);
  const [who, setWho] = useState<PlannedAction[]>([]);
  const [whoTotal, setWhoTotal] = useState<number | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [whoError, setWhoError] = useState<string | null>(null);
  const loadWho = (after: string | null) =>
    api
      .get<Page<PlannedAction> & { total: number }>(
        `runs/${encodeURIComponent(run.id)}/actions${query({ type: "deactivate", cursor: after, limit: 50 })}`,
      )
      .then(
        (page) => {
          setWho((w) => (after ? [...w, ...page.items] : page.items));
          setWhoTotal(page.total);
          setCursor(page.next_cursor);
        },
        (e) => setWhoError(errorText(e)),
      );
  useEffect(() => {
    void loadWho(null);
  }, [run.id]);
  const [failure, setFailure] = useState<string | null>(null);
  const [done, setDone] = useState("");
  const [following, setFollowing] = useState(false);
  const decide = async (action: "confirm" | "discard") => {
    try {
      await api.post(`runs/${run.id}/${action}`);
      if (action === "confirm") {
        setFollowing(true);
      } else {
        setDone("Discarded: nobody was deactivated.");
        onDecided("The held sync was discarded: nobody was deactivated.");
      }
    } catch (e) {
      setFailure(errorText(e));
    }
  };
  return (
    <Section title="A sync is waiting for your decision" id={`held-${run.id}`}>
      <p>
        The last sync would deactivate <strong>{run.planned.deactivated}</strong> people, more than the safety
        limit allows without you. Nobody has been deactivated yet.
      </p>
      <div class="table-wrap">
        <table>
          <caption>Who would be deactivated{whoTotal != null ? ` (${whoTotal})` : ""}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {who.map((a) => (
              <tr key={a.member_id ?? a.hris_id}>
                <th scope="row">{a.name ?? a.email ?? a.hris_id ?? a.member_id}</th>
                <td>{a.email ?? "—"}</td>
                <td>{a.reason ? (WHY[a.reason] ?? words(a.reason)) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {cursor && (
        <button type="button" onClick={() => void loadWho(cursor)}>
          Show more people
        </button>
      )}
      {detail && detail.warnings.length > 0 && (
        <ul>
          {detail.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
      <ErrorBox error={failure ?? error ?? whoError} />
      {done && <Notice text={done} />}
      {following ? (
        <RunProgress
          runId={run.id}
          confirmed
          onDone={(finished) =>
            onDecided(
              `Sync ${words(finished.status)}: ${finished.applied.deactivated} deactivated, ${finished.applied.updated} updated.`,
            )
          }
        />
      ) : (
        !done && (
          <div class="actions">
            <button type="button" class="danger" onClick={() => decide("confirm")}>
              Confirm and deactivate
            </button>
            <button type="button" onClick={() => decide("discard")}>
              Discard
            </button>
          </div>
        )
      )}
    </Section>
  );
}

// --- people ---------------------------------------------------------------------------------------

function MemberTable(props: {
  caption: string;
  members: Member[];
  selectable?: boolean;
  selected?: Set<string>;
  onToggle?: (id: string) => void;
  extra?: (m: Member) => preact.ComponentChildren;
  onAudit?: (m: Member) => void;
}) {
  if (!props.members.length) return <p class="empty">Nobody here.</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            {props.selectable && <th scope="col">Select</th>}
            <th scope="col">Name</th>
            <th scope="col">Email</th>
            <th scope="col">Details</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {props.members.map((m) => (
            <tr key={m.id}>
              {props.selectable && (
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${fullName(m)}`}
                    checked={props.selected?.has(m.id) ?? false}
                    onChange={() => props.onToggle?.(m.id)}
                  />
                </td>
              )}
              <th scope="row">{fullName(m)}</th>
              <td>{m.profile.email ?? "—"}</td>
              <td>{[m.profile.job_title, m.profile.department].filter(Boolean).join(", ") || "—"}</td>
              <td class="row-actions">
                {props.extra?.(m)}
                {props.onAudit && (
                  <button type="button" class="link" onClick={() => props.onAudit?.(m)}>
                    History of {fullName(m)}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function useSelection(): [Set<string>, (id: string) => void, (ids: string[]) => void] {
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  return [selected, toggle, (ids) => setSelected(new Set(ids))];
}

export function PeopleScreen({ onAudit }: { onAudit: (m: Member) => void }) {
  const [tick, setTick] = useState(0);
  const reload = () => setTick((t) => t + 1);
  return (
    <>
      <Approvals tick={tick} reload={reload} onAudit={onAudit} />
      <QueuedInvites tick={tick} reload={reload} onAudit={onAudit} />
      <NoApprover tick={tick} onAudit={onAudit} />
      <Deactivated tick={tick} reload={reload} onAudit={onAudit} />
    </>
  );
}

interface ListProps {
  tick: number;
  reload?: () => void;
  onAudit: (m: Member) => void;
}

function Approvals({ tick, reload, onAudit }: ListProps) {
  const [page, error] = useLoad(
    () => api.get<Page<Member>>(`members${query({ status: "pending_approval", limit: 200 })}`),
    [tick],
  );
  const [selected, toggle, setAll] = useSelection();
  const [message, setMessage] = useState("");
  const [failure, setFailure] = useState<string | null>(null);
  const act = async (action: "approve" | "reject", ids: string[]) => {
    setFailure(null);
    const failed: string[] = [];
    for (const id of ids) {
      try {
        await api.post(`members/${id}/${action}`);
      } catch (e) {
        failed.push(errorText(e));
      }
    }
    const verb = action === "approve" ? "Approved" : "Rejected";
    setMessage(`${verb} ${ids.length - failed.length} of ${ids.length}.`);
    if (failed.length) setFailure(failed[0]);
    setAll([]);
    reload?.();
  };
  const members = page?.items ?? [];
  return (
    <Section title="Waiting for approval">
      <ErrorBox error={error ?? failure} />
      {message && <Notice text={message} />}
      {members.length > 1 && (
        <div class="actions">
          <button type="button" onClick={() => setAll(members.map((m) => m.id))}>
            Select all
          </button>
          <button type="button" class="primary" disabled={!selected.size} onClick={() => act("approve", [...selected])}>
            Approve selected
          </button>
          <button type="button" disabled={!selected.size} onClick={() => act("reject", [...selected])}>
            Reject selected
          </button>
        </div>
      )}
      <MemberTable
        caption="People waiting for approval"
        members={members}
        selectable={members.length > 1}
        selected={selected}
        onToggle={toggle}
        onAudit={onAudit}
        extra={(m) => (
          <>
            <button type="button" class="primary" onClick={() => act("approve", [m.id])}>
              Approve {fullName(m)}
            </button>
            <button type="button" onClick={() => act("reject", [m.id])}>
              Reject {fullName(m)}
            </button>
          </>
        )}
      />
    </Section>
  );
}

function QueuedInvites({ tick, reload, onAudit }: ListProps) {
  const [page, error] = useLoad(
    () => api.get<Page<Member>>(`members${query({ status: "queued", limit: 200 })}`),
    [tick],
  );
  const [selected, toggle] = useSelection();
  const [message, setMessage] = useState("");
  const [failure, setFailure] = useState<string | null>(null);
  const send = async (body: { all: true } | { member_ids: string[] }) => {
    try {
      const result = await api.post<InviteResult>("invites/send", body);
      setMessage(
        `Sent ${result.sent.length} invite${result.sent.length === 1 ? "" : "s"}` +
          (result.not_sent.length ? `; ${result.not_sent.length} not sent.` : "."),
      );
      reload?.();
    } catch (e) {
      setFailure(errorText(e));
    }
  };
  const members = page?.items ?? [];
  return (
    <Section title="Invites not sent yet">
      <ErrorBox error={error ?? failure} />
      {message && <Notice text={message} />}
      {members.length > 0 && (
        <div class="actions">
          <button type="button" class="primary" onClick={() => send({ all: true })}>
            Send all invites
          </button>
          <button type="button" disabled={!selected.size} onClick={() => send({ member_ids: [...selected] })}>
            Send selected invites
          </button>
        </div>
      )}
      <MemberTable
        caption="People whose invite is queued"
        members={members}
        selectable
        selected={selected}
        onToggle={toggle}
        onAudit={onAudit}
      />
    </Section>
  );
}

function NoApprover({ tick, onAudit }: ListProps) {
  const [page, error] = useLoad(
    () => api.get<Page<Member>>(`members${query({ flag: "no_approver", limit: 200 })}`),
    [tick],
  );
  return (
    <Section title="People without an approver">
      <p class="hint">Their manager is not a member here, so nobody can approve their requests.</p>
      <ErrorBox error={error} />
      <MemberTable caption="People without an approver" members={page?.items ?? []} onAudit={onAudit} />
    </Section>
  );
}

function Deactivated({ tick, reload, onAudit }: ListProps) {
  const [page, error] = useLoad(
    () => api.get<Page<Member>>(`members${query({ status: "deactivated", limit: 200 })}`),
    [tick],
  );
  const [failure, setFailure] = useState<string | null>(null);
  const [message, setMessage] = useState("");
  const reactivate = async (m: Member) => {
    try {
      await api.post(`members/${m.id}/reactivate`);
      setMessage(`${fullName(m)} is active again.`);
      reload?.();
    } catch (e) {
      setFailure(errorText(e));
    }
  };
  return (
    <Section title="Deactivated">
      <ErrorBox error={error ?? failure} />
      {message && <Notice text={message} />}
      <MemberTable
        caption="Deactivated people"
        members={page?.items ?? []}
        onAudit={onAudit}
        extra={(m) => (
          <>
            <span class="tag">
              {m.deactivated_by === "admin" ? "by an admin" : "by the sync"}
              {m.deactivation_reason ? ` (${words(m.deactivation_reason)})` : ""}
            </span>
            <button type="button" onClick={() => reactivate(m)}>
              Reactivate {fullName(m)}
            </button>
          </>
        )}
      />
    </Section>
  );
}

// --- tasks, runs, audit ---------------------------------------------------------------------------

/** The members a list names, by id, loaded once each (a task names its member by id). */
function useMembers(ids: string[]): Map<string, Member> {
  const [found, setFound] = useState<Map<string, Member>>(new Map());
  const key = [...new Set(ids)].sort().join(",");
  useEffect(() => {
    let live = true;
    const missing = [...new Set(ids)].filter((id) => !found.has(id));
    if (!missing.length) return;
    Promise.all(missing.map((id) => api.get<Member>(`members/${encodeURIComponent(id)}`).catch(() => null))).then(
      (members) => {
        if (!live) return;
        setFound((f) => {
          const next = new Map(f);
          for (const m of members) if (m) next.set(m.id, m);
          return next;
        });
      },
    );
    return () => {
      live = false;
    };
  }, [key]);
  return found;
}

export function TasksScreen() {
  const [status, setStatus] = useState("open");
  const [page, error, reload] = useLoad(() => api.get<Page<Task>>(`tasks${query({ status, limit: 200 })}`), [status]);
  const [failure, setFailure] = useState<string | null>(null);
  const [message, setMessage] = useState("");
  const members = useMembers(page?.items.map((t) => t.member_id) ?? []);
  const who = (t: Task) => {
    const m = members.get(t.member_id);
    return m ? fullName(m) : "a member";
  };
  const complete = async (t: Task) => {
    try {
      await api.post(`tasks/${encodeURIComponent(t.id)}/complete`);
      setMessage(`${t.type === "onboarding" ? "Onboarding" : "Offboarding"} of ${who(t)} is complete.`);
      reload();
    } catch (e) {
      setFailure(errorText(e));
    }
  };
  return (
    <Section title="Tasks">
      <label>
        Show
        <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          <option value="open">Open tasks</option>
          <option value="done">Completed tasks</option>
        </select>
      </label>
      <ErrorBox error={error ?? failure} />
      {message && <Notice text={message} />}
      {page && !page.items.length && <p class="empty">No tasks.</p>}
      <ul class="list" aria-label="Tasks">
        {page?.items.map((t) => {
          const m = members.get(t.member_id);
          return (
            <li key={t.id}>
              <span>
                <strong>{t.type === "onboarding" ? "Onboarding" : "Offboarding"}</strong> of {who(t)}
                {m?.profile.email ? ` (${m.profile.email})` : ""} — {words(t.reason)}, opened {when(t.opened_at)}
              </span>
              {t.status === "open" && (
                <button type="button" onClick={() => complete(t)}>
                  Mark {t.type} of {who(t)} complete
                </button>
              )}
            </li>
          );
        })}
      </ul>
    </Section>
  );
}

export function RunsScreen() {
  const [connections, error] = useLoad(() => api.get<Page<Connection>>("connections"), []);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <>
      <ErrorBox error={error} />
      {connections?.items.map((c) => (
        <RunList key={c.id} connection={c} open={open} setOpen={setOpen} />
      ))}
    </>
  );
}

function RunList({ connection, open, setOpen }: { connection: Connection; open: string | null; setOpen: (id: string | null) => void }) {
  const [page, error] = useLoad(() => api.get<Page<RunSummary>>(`connections/${connection.id}/runs${query({ limit: 50 })}`), [connection.id]);
  return (
    <Section title={`Syncs of ${connection.label}`} id={`runs-${connection.id}`}>
      <ErrorBox error={error} />
      <ul class="list">
        {page?.items.map((r) => (
          <li key={r.id}>
            <span>
              {when(r.started_at)} — {words(r.trigger)}: <strong>{words(r.status)}</strong>, {r.applied.created} created,{" "}
              {r.applied.updated} updated, {r.applied.deactivated} deactivated, {r.applied.skipped} skipped
            </span>
            <button type="button" aria-expanded={open === r.id} onClick={() => setOpen(open === r.id ? null : r.id)}>
              Details of the sync started {when(r.started_at)}
            </button>
            {open === r.id && <RunDetail runId={r.id} />}
          </li>
        ))}
      </ul>
    </Section>
  );
}

function RunDetail({ runId }: { runId: string }) {
  const [run, error] = useLoad(() => api.get<Run>(`runs/${runId}`), [runId]);
  if (error) return <ErrorBox error={error} />;
  if (!run) return <Notice text="Loading…" />;
  return (
    <div class="detail">
      {run.error && <p>Error: {run.error}</p>}
      <h3>Skipped records</h3>
      {run.skipped.length ? (
        <ul>
          {run.skipped.map((s) => (
            <li key={s.hris_id}>
              {s.hris_id}: {words(s.reason)} {s.detail && `(${s.detail})`}
            </li>
          ))}
        </ul>
      ) : (
        <p class="empty">None.</p>
      )}
    </div>
  );
}

/** Who made a change: the sync, or an admin (one who used the portal is named as such). */
function byWhom(e: AuditEntry): string {
  if (e.actor !== "admin") return "the sync";
  const id = e.actor_id ?? "";
  return id.startsWith("portal:") ? `${id.slice("portal:".length)} in the portal` : `admin ${id}`.trim();
}

export function AuditScreen({ member }: { member: Member | null }) {
  const [page, error] = useLoad(
    () => api.get<Page<AuditEntry>>(`audit${query({ member_id: member?.id, limit: 100 })}`),
    [member?.id],
  );
  // Recent changes name each member (loaded once each, as tasks do), never by an id.
  const members = useMembers(member ? [] : (page?.items.map((e) => e.member_id) ?? []));
  const whose = (e: AuditEntry) => {
    const m = members.get(e.member_id);
    return m ? `${fullName(m)}${m.profile.email ? ` (${m.profile.email})` : ""}` : "a member";
  };
  return (
    <Section title={member ? `History of ${fullName(member)}` : "Recent changes"}>
      <ErrorBox error={error} />
      {page && !page.items.length && <p class="empty">Nothing recorded yet.</p>}
      <ol class="list">
        {page?.items.map((e) => (
          <li key={e.id}>
            <span>
              {when(e.at)} — <strong>{words(e.action)}</strong>
              {!member && ` ${whose(e)}`}, by {byWhom(e)}
            </span>
          </li>
        ))}
      </ol>
    </Section>
  );
}
