// Small shared pieces: the announcer (aria-live), error boxes, confirmation dialogs, a run's progress.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api } from "./api";
import type { Run } from "./types";
import { words } from "./types";

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return "Something went wrong. Try again.";
}

export function ErrorBox({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      {error}
    </div>
  );
}

export function Notice({ text }: { text: string }) {
  // Polite: announced by screen readers without stealing focus.
  return (
    <p class="notice-line" role="status" aria-live="polite">
      {text}
    </p>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={id ?? slug(title)}>
      <h2 id={id ?? slug(title)}>{title}</h2>
      {children}
    </section>
  );
}

export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

/** A modal confirmation: focus moves into it, Escape cancels, focus returns to the opener. */
export function Confirm(props: {
  title: string;
  text: ComponentChildren;
  confirm: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    const opener = document.activeElement as HTMLElement | null;
    return () => opener?.focus();
  }, []);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={props.onCancel} class="dialog">
      <h2 id="confirm-title">{props.title}</h2>
      <div>{props.text}</div>
      <div class="actions">
        <button type="button" class={props.danger ? "danger" : "primary"} onClick={props.onConfirm}>
          {props.confirm}
        </button>
        <button type="button" onClick={props.onCancel} autofocus>
          Cancel
        </button>
      </div>
    </dialog>
  );
}

const FINISHED = new Set(["completed", "partial", "failed", "blocked", "discarded"]);

/** Follows a run until it finishes, announcing its progress. */
export function RunProgress({
  runId,
  onDone,
  confirmed = false,
}: {
  runId: string;
  onDone?: (run: Run) => void;
  // A held run the admin just confirmed: "blocked" is where it starts, not where it ends.
  confirmed?: boolean;
}) {
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const poll = async () => {
      try {
        const found = await api.get<Run>(`runs/${encodeURIComponent(runId)}`);
        if (stopped) return;
        setRun(found);
        if (FINISHED.has(found.status) && !(confirmed && found.status === "blocked")) {
          onDone?.(found);
          return;
        }
      } catch (e) {
        if (!stopped) setError(errorText(e));
        return;
      }
      timer = window.setTimeout(poll, 700);
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [runId]);
  if (error) return <ErrorBox error={error} />;
  if (!run) return <Notice text="Starting the sync…" />;
  const p = run.progress;
  const total = p.chunks_total || 0;
  const done = FINISHED.has(run.status) && !(confirmed && run.status === "blocked");
  return (
    <div class="progress">
      <p role="status" aria-live="polite">
        {done
          ? `Sync ${words(run.status)}: ${run.applied.created} created, ${run.applied.updated} updated, ${run.applied.deactivated} deactivated.`
          : `Sync running: ${p.pages_fetched} pages, ${p.employees_fetched} employees read, ${run.applied.created + run.applied.linked + run.applied.updated} members written.`}
      </p>
      <progress
        aria-label="Sync progress"
        max={total || 1}
        value={done ? total || 1 : p.chunks_applied}
      />
    </div>
  );
}
