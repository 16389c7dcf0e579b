// What every view shows of the jobs not yet ended, kept once for the whole window: the
// local ones as `jobs-changed` changes describe them (after one `activeJobs` answer), the
// agents' as the newest fleet, and "pause everything". Nothing here polls.
import { getContext, setContext } from "svelte";
import type { Api, Unsubscribe } from "./api";
import { ActiveJobs } from "./activeJobs";
import { toAppError } from "./errors";
import type { AppError, Fleet, JobSummary, PauseState } from "./types";

const LIVE_KEY = Symbol("tidemark-live");

export class Live {
  jobs = $state<JobSummary[]>([]);
  fleet = $state<Fleet | null>(null);
  pause = $state<PauseState>({ pausedUntil: null });
  listError = $state<AppError | null>(null);
  #active = new ActiveJobs();
  #api: Api;

  constructor(api: Api) {
    this.#api = api;
  }

  /** Starts listening, then asks once; returns what stops it. */
  start(): () => void {
    const api = this.#api;
    let stopped = false;
    const unlisten: Unsubscribe[] = [];
    const keep = (u: Unsubscribe) => (stopped ? void u() : unlisten.push(u));
    // Listening first, then asking: nothing that happens in between is missed.
    Promise.all([
      api
        .onJobsChanged((change) => {
          if (!stopped) this.jobs = this.#active.change(change);
        })
        .then(keep),
      api
        .onFleetChanged((f) => {
          if (!stopped) this.#newer(f);
        })
        .then(keep),
      api
        .onPauseChanged((p) => {
          if (!stopped) this.pause = p;
        })
        .then(keep),
    ]).then(
      () => {
        if (stopped) return;
        api.activeJobs().then(
          (answer) => {
            if (stopped) return;
            this.jobs = this.#active.load(answer);
            this.listError = null;
          },
          (reason) => {
            if (!stopped) this.listError = toAppError(reason);
          },
        );
        // The Agents view says what is wrong with the agents; a failed answer here only
        // leaves their jobs out of the strip until the next change.
        api.fleet().then((f) => !stopped && this.#newer(f), () => {});
        api.pauseState().then((p) => !stopped && (this.pause = p), () => {});
      },
      (reason) => {
        if (!stopped) this.listError = toAppError(reason);
      },
    );
    return () => {
      stopped = true;
      for (const u of unlisten) void u();
    };
  }

  /** A job a command just returned (started, resumed): shown at once. */
  add(job: JobSummary): void {
    this.jobs = this.#active.add(job);
  }

  #newer(f: Fleet) {
    if (!this.fleet || f.revision >= this.fleet.revision) this.fleet = f;
  }
}

export function provideLive(live: Live): void {
  setContext(LIVE_KEY, live);
}

export function useLive(): Live {
  const live = getContext<Live | undefined>(LIVE_KEY);
  if (!live) throw new Error("no Live in context: wrap the component in <App>");
  return live;
}
