import { describe, expect, it } from "vitest";
import { ActiveJobs } from "../src/lib/activeJobs";
import { jobSummary } from "./fakes";

const ids = (list: { id: string; state: string }[]) => list.map((j) => `${j.id}:${j.state}`);

describe("ActiveJobs", () => {
  it("merges changes by id, oldest first, and drops ended jobs", () => {
    const jobs = new ActiveJobs();
    jobs.load([jobSummary({ id: "a" })]);
    jobs.change({ active: [jobSummary({ id: "b" })], ended: [] });
    jobs.change({ active: [jobSummary({ id: "a", state: "paused", percent: 60 })], ended: [] });
    expect(ids(jobs.list)).toEqual(["a:paused", "b:running"]);
    expect(jobs.list[0].percent).toBe(60);
    jobs.change({ active: [], ended: [jobSummary({ id: "a", state: "completed" })] });
    expect(ids(jobs.list)).toEqual(["b:running"]);
  });

  it("keeps what it heard while the first answer was on its way", () => {
    const jobs = new ActiveJobs();
    // Heard before the answer: a job started after the answer was made, one moved, one ended.
    jobs.change({ active: [jobSummary({ id: "new" })], ended: [] });
    jobs.change({ active: [jobSummary({ id: "a", percent: 70 })], ended: [] });
    jobs.change({ active: [], ended: [jobSummary({ id: "gone", state: "failed" })] });
    const list = jobs.load([
      jobSummary({ id: "gone" }),
      jobSummary({ id: "a", percent: 40 }),
      jobSummary({ id: "b" }),
    ]);
    expect(list.map((j) => j.id)).toEqual(["a", "b", "new"]);
    expect(list[0].percent).toBe(70);
  });

  it("never brings back a job whose end it heard", () => {
    const jobs = new ActiveJobs();
    jobs.change({ active: [], ended: [jobSummary({ id: "fast", state: "completed" })] });
    // The start command's answer, or a late move, arriving after the end.
    jobs.add(jobSummary({ id: "fast" }));
    jobs.change({ active: [jobSummary({ id: "fast", percent: 99 })], ended: [] });
    expect(jobs.list).toEqual([]);
    jobs.add(jobSummary({ id: "next", percent: 0 }));
    jobs.change({ active: [jobSummary({ id: "next", percent: 5 })], ended: [] });
    jobs.add(jobSummary({ id: "next", percent: 0 }));
    expect(jobs.list.map((j) => [j.id, j.percent])).toEqual([["next", 5]]);
  });
});
