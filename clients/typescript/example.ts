/**
 * What a typed frontend does with the CRM API, checked end to end: every request, response and error
 * below is typed by `schema.d.ts` (generated from the live schema), and there is not one cast.
 *
 *   API_URL=http://127.0.0.1:8000 npx tsx example.ts
 *
 * Signs in as the demo owner (`manage.py seed_data`), prints each step, exits 1 on the first failure.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type ApiError = components["schemas"]["Error"];

const baseUrl = process.env.API_URL ?? "http://127.0.0.1:8000";
const email = process.env.CRM_EMAIL ?? "admin@crm.com";
const password = process.env.CRM_PASSWORD ?? "admin123";

/** Stops the run unless `condition` holds; also narrows types for the compiler. */
function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/**
 * The body of a successful answer, or a thrown error naming the failure. Taking `error: ApiError` is a
 * check of its own: this only compiles for operations whose every error response is the `Error` body.
 */
function body<T>(result: { data?: T; error?: ApiError; response: Response }, what: string): T {
  const { data, error, response } = result;
  if (error) throw new Error(`${what}: HTTP ${response.status} ${error.code}: ${error.detail}`);
  check(data !== undefined, `${what}: HTTP ${response.status} with no body`);
  return data;
}

async function main(): Promise<void> {
  // Sign in; the access token goes on every later request.
  const anonymous = createClient<paths>({ baseUrl });
  const login = body(await anonymous.POST("/api/auth/login/", { body: { email, password } }), "login");
  check(login.access.length > 0 && login.user.email === email, "login: no access token or another user");
  const organizations = login.user.organizations.map((organization) => organization.name).join(", ");
  console.log(`login: ${login.user.email}, organizations: ${organizations}`);

  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${login.access}` } });

  // A filtered, ordered page: the query parameters and their enums are typed.
  const leads = body(
    await api.GET("/api/leads/", {
      params: { query: { status: ["new", "contacted"], ordering: "-score", page_size: 5 } },
    }),
    "list leads",
  );
  const scores = leads.results.map((lead) => lead.score);
  check(leads.count > 0 && leads.results.length <= 5, `list leads: ${leads.results.length} of ${leads.count}`);
  check(
    leads.results.every((lead) => lead.status === "new" || lead.status === "contacted"),
    "list leads: the status filter was not applied",
  );
  check(
    scores.every((score, i) => i === 0 || score <= (scores[i - 1] ?? score)),
    `list leads: not ordered by -score: ${scores.join(", ")}`,
  );
  console.log(`leads: ${leads.count} new or contacted; top scores ${scores.join(", ")}`);

  // A 400: the schema says page_size is at most 100; the typed `error` names the field.
  const tooBig = await api.GET("/api/leads/", { params: { query: { page_size: 1000 } } });
  check(tooBig.error, `page_size=1000: HTTP ${tooBig.response.status}, expected 400`);
  const pageSizeMessages = tooBig.error.errors?.page_size ?? [];
  check(tooBig.response.status === 400 && tooBig.error.code === "invalid", `page_size=1000: ${tooBig.error.code}`);
  check(pageSizeMessages.length > 0, "page_size=1000: `errors.page_size` is missing");
  console.log(`400: ${tooBig.error.code} "${tooBig.error.detail}", page_size: ${pageSizeMessages.join(" ")}`);

  // A 404: path ids are numbers; an id of no lead is `not_found` without field errors.
  const missing = await api.GET("/api/leads/{id}/", { params: { path: { id: 999_999_999 } } });
  check(missing.error, `missing lead: HTTP ${missing.response.status}, expected 404`);
  check(missing.response.status === 404 && missing.error.code === "not_found", `missing lead: ${missing.error.code}`);
  check(missing.error.errors === undefined, "missing lead: a 404 has no field errors");
  console.log(`404: ${missing.error.code} "${missing.error.detail}"`);

  // Create a lead; every field of the answer is present, so none needs a `?` or `!`.
  const created = body(
    await api.POST("/api/leads/", {
      body: {
        first_name: "Ada",
        last_name: "Typed",
        email: "ada.typed@example.com",
        company: "Strict Ltd",
        source: "website",
        estimated_value: "12500.00",
      },
    }),
    "create lead",
  );
  check(created.code.startsWith("LEAD-") && created.status === "new", `create lead: ${created.code} ${created.status}`);
  check(Number.isInteger(created.score) && created.converted_customer === null, "create lead: score or conversion");
  const reread = body(await api.GET("/api/leads/{id}/", { params: { path: { id: created.id } } }), "read lead");
  check(reread.id === created.id && reread.version === created.version, "read lead: another lead or version");
  console.log(`created lead ${created.code} (id ${created.id}, score ${created.score})`);

  // Move an open deal to another open stage of its own pipeline, read from the pipeline itself.
  const openDeals = body(
    await api.GET("/api/deals/", { params: { query: { status: ["open"], ordering: "-value", page_size: 1 } } }),
    "list deals",
  );
  const deal = openDeals.results[0];
  check(deal, "list deals: no open deal in the demo data");
  const pipeline = body(
    await api.GET("/api/pipelines/{id}/", { params: { path: { id: deal.pipeline } } }),
    "read pipeline",
  );
  const target = pipeline.stages.find((stage) => !stage.is_won && !stage.is_lost && stage.id !== deal.stage);
  check(target, `read pipeline: ${pipeline.name} has no other open stage`);
  const moved = body(
    await api.POST("/api/deals/{id}/move-stage/", {
      params: { path: { id: deal.id } },
      body: { stage: target.id },
    }),
    "move deal",
  );
  check(moved.stage === target.id && moved.stage_name === target.name, `move deal: now in ${moved.stage_name}`);
  check(moved.status === "open" && moved.version > deal.version, `move deal: ${moved.status} v${moved.version}`);
  console.log(`moved deal ${deal.code} "${deal.title}": ${deal.stage_name} -> ${moved.stage_name}`);

  // The board of that pipeline counts the deal in its new column.
  const board = body(
    await api.GET("/api/deals/board/", { params: { query: { pipeline: deal.pipeline } } }),
    "deal board",
  );
  const column = board.find((entry) => entry.stage.id === target.id);
  check(column && column.count > 0, `deal board: no deal in ${target.name}`);
  console.log(`board: ${board.map((entry) => `${entry.stage.name} ${entry.count}`).join(", ")}`);

  // The dashboard: nested figures, all required.
  const dashboard = body(await api.GET("/api/analytics/dashboard/"), "dashboard");
  check(dashboard.leads.total > 0 && dashboard.deals.total > 0, "dashboard: no leads or deals");
  check(typeof dashboard.deals.win_rate === "number" && dashboard.revenue.total.length > 0, "dashboard: figures");
  console.log(
    `dashboard: ${dashboard.customers.total} customers, ${dashboard.leads.total} leads, ` +
      `${dashboard.deals.open} open deals, win rate ${dashboard.deals.win_rate}%, revenue ${dashboard.revenue.total}`,
  );
}

main().then(
  () => console.log("typescript client: every step passed"),
  (error: unknown) => {
    console.error(`typescript client FAILED: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
