// The active jobs as the `jobs-changed` changes describe them: one `activeJobs` answer, then
// each change merged by id. Neither the Jobs view nor anything else polls for the list.
import type { JobSummary, JobsChanged } from "./types";

export class ActiveJobs {
  #list: JobSummary[] = [];
  // A job that ended never runs again under its id (a retry is a new job): an answer or a
  // command result that was on its way while the end was announced must not bring it back.
  #ended = new Set<string>();

  /** Oldest first, as `active_jobs` orders them; new ones go last. */
  get list(): JobSummary[] {
    return this.#list;
  }

  /** Applies one change; returns the new list. */
  change(change: JobsChanged): JobSummary[] {
    for (const job of change.ended) this.#ended.add(job.id);
    const next = this.#list.filter((j) => !this.#ended.has(j.id));
    for (const job of change.active) this.#put(next, job);
    this.#list = next;
    return next;
  }

  /**
   * The `activeJobs` answer, asked once listening had started: changes heard meanwhile are
   * newer than or as new as the answer, so they win, and a job they added stays.
   */
  load(answer: JobSummary[]): JobSummary[] {
    const heard = new Map(this.#list.map((j) => [j.id, j]));
    const next = answer.filter((j) => !this.#ended.has(j.id)).map((j) => heard.get(j.id) ?? j);
    for (const job of this.#list) if (!next.some((j) => j.id === job.id)) next.push(job);
    this.#list = next;
    return next;
  }

  /**
   * A job a command just returned (started, resumed): shown at once, unless its end was
   * heard; a change heard about it already is at least as new, so that one stays.
   */
  add(job: JobSummary): JobSummary[] {
    if (this.#ended.has(job.id) || this.#list.some((j) => j.id === job.id)) return this.#list;
    this.#list = [...this.#list, job];
    return this.#list;
  }

  #put(list: JobSummary[], job: JobSummary) {
    if (this.#ended.has(job.id)) return;
    const i = list.findIndex((j) => j.id === job.id);
    if (i >= 0) list[i] = job;
    else list.push(job);
  }
}
