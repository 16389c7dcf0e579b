import { getContext, setContext } from "svelte";
import type { Api } from "./api";

/** The context key under which components find the `Api` (tests put a fake there). */
export const API_KEY = Symbol("tidemark-api");

export function provideApi(api: Api): void {
  setContext(API_KEY, api);
}

export function useApi(): Api {
  const api = getContext<Api | undefined>(API_KEY);
  if (!api) throw new Error("no Api in context: wrap the component in <App> or pass one in the test");
  return api;
}
