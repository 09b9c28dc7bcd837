// The dashboard: a hash router over four pages. Routes: #/ (runs), #/runs/<id>, #/new,
// #/compare/<id>,<id>[,...].
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { RunsList } from "./pages/RunsList.tsx";
import { RunPage } from "./pages/RunPage.tsx";
import { NewRun } from "./pages/NewRun.tsx";
import { Compare } from "./pages/Compare.tsx";
import "./style.css";

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function Page({ hash }: { hash: string }) {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "runs" && parts[1]) return <RunPage key={parts[1]} id={parts[1]} />;
  if (parts[0] === "new") return <NewRun />;
  if (parts[0] === "compare" && parts[1]) return <Compare key={parts[1]} ids={parts[1].split(",")} />;
  return <RunsList />;
}

function App() {
  const hash = useHash();
  const at = hash.replace(/^#\/?/, "").split("/")[0] || "runs";
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          whet
        </a>
        <nav>
          <a href="#/" class={at === "runs" ? "on" : ""}>
            Runs
          </a>
          <a href="#/new" class={at === "new" ? "on" : ""} data-testid="nav-new">
            New run
          </a>
        </nav>
      </header>
      <main>
        <Page hash={hash} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
