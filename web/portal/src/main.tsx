// The admin portal's page: reads the session (tenant, intent, CSRF token), then shows the connect
// journey or the day-to-day screens. One landmark per region, a skip link, focus moved to each
// screen's heading when it changes.
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { type Session, loadSession, signOut } from "./api";
import { ConnectScreen } from "./connect";
import { AuditScreen, ConnectionScreen, PeopleScreen, RunsScreen, TasksScreen } from "./manage";
import type { Member } from "./types";
import { ErrorBox, errorText } from "./ui";

type Screen = "connection" | "people" | "tasks" | "runs" | "audit" | "connect";

const SCREENS: { id: Screen; name: string }[] = [
  { id: "connection", name: "Connection" },
  { id: "people", name: "People" },
  { id: "tasks", name: "Tasks" },
  { id: "runs", name: "Syncs" },
  { id: "audit", name: "History" },
  { id: "connect", name: "Connect" },
];

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [screen, setScreen] = useState<Screen>("connection");
  const [member, setMember] = useState<Member | null>(null);
  const [ended, setEnded] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    loadSession().then(
      (s) => {
        setSession(s);
        const back = new URLSearchParams(window.location.search);
        if (s.intent === "connect" || back.has("connection_id") || back.has("error")) setScreen("connect");
      },
      (e) => setError(errorText(e)),
    );
  }, []);
  useEffect(() => heading.current?.focus(), [screen]);

  const go = (next: Screen) => {
    if (next !== "audit") setMember(null);
    setScreen(next);
  };
  if (ended) {
    return (
      <main class="notice">
        <h1>You are signed out</h1>
        <p>Open the portal again from your application when you need it.</p>
      </main>
    );
  }
  if (error) {
    return (
      <main class="notice">
        <h1>The portal cannot open</h1>
        <ErrorBox error={error} />
      </main>
    );
  }
  if (!session) return <main class="notice">Loading…</main>;
  const title = SCREENS.find((s) => s.id === screen)?.name ?? "";
  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="top">
        <p class="brand">HR integration · {session.tenant_id}</p>
        <nav aria-label="Portal">
          <ul>
            {SCREENS.map((s) => (
              <li key={s.id}>
                <button type="button" aria-current={screen === s.id ? "page" : undefined} onClick={() => go(s.id)}>
                  {s.name}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <div class="session">
          {session.return_url && (
            <a href={session.return_url} rel="noreferrer">
              Back to the app
            </a>
          )}
          <button
            type="button"
            class="link"
            onClick={() => signOut().then(() => setEnded(true), (e) => setError(errorText(e)))}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="content">
        <h1 ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {screen === "connection" && <ConnectionScreen onConnect={() => go("connect")} />}
        {screen === "people" && (
          <PeopleScreen
            onAudit={(m) => {
              setMember(m);
              setScreen("audit");
            }}
          />
        )}
        {screen === "tasks" && <TasksScreen />}
        {screen === "runs" && <RunsScreen />}
        {screen === "audit" && <AuditScreen member={member} />}
        {screen === "connect" && <ConnectScreen email={session.email} onFinished={() => go("connection")} />}
      </main>
    </>
  );
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
