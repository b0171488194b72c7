/**
 * Every call to the API goes through its typed client (clients/typescript), with the session's
 * JWT as bearer. `credentials: "omit"`: the API is called with the JWT alone, never with a
 * cookie the browser might also hold for this host, so what the API authorises is exactly the
 * token this page holds. Nothing is cached: each screen asks the API when it is shown.
 */
import { createApiClient, isProblem, type ApiClient, type components } from "fastapi-better-auth-client";

import type { Session } from "./auth";

export type UserRead = components["schemas"]["UserRead"];
export type Problem = components["schemas"]["Problem"];

/** An API refusal, with the message Better-Auth (or the API) gave for it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | undefined,
    readonly fields: string[] = [],
  ) {
    super(message);
  }
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export class Api {
  readonly client: ApiClient;

  constructor(
    baseUrl: string,
    private session: Session,
  ) {
    const omitCredentials: typeof fetch = (input, init) => fetch(new Request(input, init), { credentials: "omit" });
    this.client = createApiClient(baseUrl, () => session.token(), { fetch: omitCredentials });
  }

  /**
   * Run one call; its data, or an `ApiError` in words. A 401 gets one retry with a renewed
   * JWT (it may have expired in flight); when that fails too the session has ended.
   */
  async run<T>(call: (client: ApiClient) => Promise<Answer<T>>): Promise<T> {
    let answer = await this.attempt(call);
    if (answer.response.status === 401 && (await this.session.renew()) !== null) {
      answer = await this.attempt(call);
    }
    if (answer.error !== undefined || !answer.response.ok) throw toApiError(answer);
    return answer.data as T;
  }

  private async attempt<T>(call: (client: ApiClient) => Promise<Answer<T>>): Promise<Answer<T>> {
    try {
      return await call(this.client);
    } catch (error) {
      throw new ApiError(0, "The API did not answer. Check that it is running, then try again.", undefined);
    }
  }
}

function toApiError(answer: Answer<unknown>): ApiError {
  const { error, response } = answer;
  if (isProblem(error)) {
    const problem = error as Problem;
    const fields = (problem.errors ?? []).map((item) => {
      const where = item.loc.filter((part) => part !== "body" && part !== "query").join(".");
      return where ? `${where}: ${item.msg}` : item.msg;
    });
    return new ApiError(problem.status, problem.message || problem.detail, problem.code, fields);
  }
  return new ApiError(response.status, `The API answered ${response.status} ${response.statusText}.`, undefined);
}
