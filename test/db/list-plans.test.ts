/**
 * A list page costs O(page), whatever the organization's size. Not a timing test: an
 * organization gets ≥ 20,000 rows in every listed table, each list query is captured exactly as
 * the domain function sends it (through the request's own transaction, with its real binding),
 * and its `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` must read at most a small multiple of the
 * page: rows produced and rows filtered away per plan node, and buffers. A Sort over the
 * organization's rows, a scan of the organization, or a join before the page cut all fail it.
 *
 * Every Relay connection field in the schema (and every plain list on Query) must have a case
 * here: a new list without one fails the suite.
 *
 * Data: filters with an index of their own are tested with sparse values (that is what the
 * index is for); filters without one (low-cardinality columns) with values that match a good
 * share of rows, where an ordered scan fills the page after a bounded number of rows. A filter
 * matching almost nothing reads until the page fills: documented, not hidden. Substring search
 * is tested with a rare term (one row: the trigram index) and a common one (the ordered window).
 */
import { listServicePrincipals } from '../../src/domain/service-principals.js';
import { GraphQLList, GraphQLNonNull, GraphQLObjectType, type GraphQLOutputType } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestDatabase, type DatabaseBinding } from '../../src/db/request-database.js';
import { listAuditEvents } from '../../src/domain/audit-log.js';
import { listConnections } from '../../src/domain/connections.js';
import { listCustomers } from '../../src/domain/customers.js';
import { listDefinitions, type DefinitionKind, type DefinitionOrderField } from '../../src/domain/definitions.js';
import { listExecutions } from '../../src/domain/executions.js';
import { detectIndexedSearch, setIndexedSearch, type Connection, type PageArgs } from '../../src/domain/pagination.js';
import { JOIN_REQUEST_LIST_LIMIT, listJoinRequests, listPeople, pageJoinRequests } from '../../src/domain/people.js';
import { CUSTOM_ROLE_LIST_LIMIT, listRoles, pageRoles } from '../../src/domain/roles.js';
import { listProjectMembers, pageProjectMembers, PROJECT_MEMBER_LIST_LIMIT } from '../../src/domain/project-members.js';
import { listProjectRoles, pageProjectRoles, PROJECT_ROLE_LIST_LIMIT } from '../../src/domain/project-roles.js';
import { listTeams, pageTeams, TEAM_LIST_LIMIT } from '../../src/domain/teams.js';
import { listWorkspaces, pageWorkspaces, WORKSPACE_LIST_LIMIT } from '../../src/domain/workspaces.js';
import { schema } from '../../src/schema/index.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';

const ROWS = 20_000;
const PAGE = 50;
const BIG = '0b160000-0000-4000-8000-000000000001';
const OTHER = '0b160000-0000-4000-8000-000000000002';
const OWNER_USER = '0b160000-0000-4000-8000-0000000000aa';
const DENSE_CUSTOMER = '0b160000-0000-4000-8000-00000000c000';

let db: TestDatabase;
let pool: pg.Pool;
/** Sample values for filters, read back after the load. */
const sample: Record<string, string> = {};

/** Everything as a superuser with triggers and FK checks off: setup only, consistent by construction. */
async function load(superuserUrl: string): Promise<void> {
  const raw = new pg.Client({ connectionString: superuserUrl });
  await raw.connect();
  // Several statements per round trip (simple protocol), so the fixed ids are spelled inline.
  const client = {
    query: (sql: string, ids: string[] = []) => raw.query(sql.replace(/\$(\d)/g, (_, n: string) => `'${ids[Number(n) - 1]}'`)),
  };
  try {
    await client.query(`set session_replication_role = replica; set search_path = app_public; begin`);
    await client.query(
      `insert into organizations (id, name) values ($1, 'Big'), ($2, 'Other');
       insert into workspaces (org_id, name, is_default) values ($1, 'Default', true), ($2, 'Default', true);
       insert into users (id, issuer, subject, name)
         select md5('sp' || i)::uuid, 'service-principal', 'sp-' || i, 'Runner ' || i from generate_series(1, ${ROWS}) i;
       insert into service_principals (org_id, kind, name, user_id, public_id, secret_hash, environment, created_at)
         select $1, 'runner', 'Runner ' || i, md5('sp' || i)::uuid, substr(md5('pid' || i), 1, 16),
                sha256(('s' || i)::bytea), case when i % 500 = 0 then 'live' else 'test' end, now() - i * interval '1 second'
         from generate_series(1, ${ROWS}) i;
       -- Rare statuses (each index is for finding the rare ones): 1 key in 400 revoked, 1 in 400 expired.
       update service_principals set revoked_at = now() where org_id = $1 and ('x' || substr(md5(id::text), 1, 3))::bit(12)::int % 400 = 3;
       update service_principals set expires_at = case when ('x' || substr(md5(id::text), 1, 3))::bit(12)::int % 400 = 7
                                                       then now() - interval '1 day' else now() + interval '30 days' end
         where org_id = $1 and ('x' || substr(md5(id::text), 1, 3))::bit(12)::int % 400 in (7, 11);
       insert into users (id, issuer, subject, email, name) values ($3, 'bench', 'owner', 'owner@big.test', 'Owner');
       insert into users (id, issuer, subject, email, name)
         select ('0b160001-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'bench', 'u' || i, 'user' || i || '@big.test',
                case when i % 10 = 0 then null else 'Person ' || md5(i::text) end
         from generate_series(1, ${ROWS}) i;
       insert into roles (org_id, system_key, name, description)
         select o, key, name, description from system_roles, unnest(array[$1, $2]::uuid[]) o;
       insert into roles (org_id, name) select $1, 'Custom role ' || md5(i::text) from generate_series(1, ${ROWS}) i;`,
      [BIG, OTHER, OWNER_USER],
    );
    await client.query(
      `insert into memberships (org_id, user_id, role_id, status, sort_key, user_name, user_email)
         select $1, $2, id, 'active', 'owner', 'Owner', 'owner@big.test' from roles where org_id = $1 and system_key = 'owner';
       insert into memberships (org_id, user_id, role_id, status, sort_key, user_name, user_email)
         select $1, u.id, r.id, case when n % 400 = 1 then 'inactive' else 'active' end, lower(coalesce(u.name, u.email, '')),
                u.name, u.email
         from (select id, name, email, row_number() over (order by subject) n from users where subject like 'u%') u
         join roles r on r.org_id = $1
           and r.system_key = case when u.n % 400 = 7 then 'admin' when u.n % 3 = 0 then 'developer' else 'viewer' end;
       insert into invitations (org_id, email, role_id, expires_at)
         select $1, 'invitee' || i || '@big.test', r.id, now() + interval '7 days'
         from generate_series(1, ${ROWS}) i, roles r where r.org_id = $1 and r.system_key = 'viewer';
       -- A rare kind: 1 service principal in 400 is an API key (the rest are runners).
       update service_principals set kind = 'api_key', role_id = (select id from roles where org_id = $1 and system_key = 'viewer')
       where org_id = $1 and ('x' || substr(md5(id::text), 4, 3))::bit(12)::int % 400 = 21;
       insert into teams (org_id, name) select $1, 'Team ' || md5(i::text) from generate_series(1, ${ROWS}) i;
       -- Developers are a third of the organization but rare in the large team below (about 1 in 400
       -- of its developers stay developers): the team rows' role copy must be what a page walks.
       update memberships m set role_id = (select id from roles where org_id = $1 and system_key = 'viewer')
       where m.org_id = $1 and m.role_id = (select id from roles where org_id = $1 and system_key = 'developer')
         and ('x' || substr(md5(m.id::text), 1, 2))::bit(8)::int % 2 = 0
         and ('x' || substr(md5(m.id::text), 3, 3))::bit(12)::int % 400 <> 0;
       -- A team holding half of everyone, invitations included (team rows carry the list's sort key, 022).
       insert into team_members (org_id, team_id, membership_id, sort_key, status, role_id)
         select $1, (select id from teams where org_id = $1 order by lower(name) limit 1), m.id, m.sort_key, m.status, m.role_id
         from memberships m where m.org_id = $1 and ('x' || substr(md5(m.id::text), 1, 2))::bit(8)::int % 2 = 0;
       insert into invitation_teams (org_id, invitation_id, team_id, sort_key, role_id)
         select $1, i.id, (select id from teams where org_id = $1 order by lower(name) limit 1), i.email, i.role_id
         from invitations i where i.org_id = $1 and ('x' || substr(md5(i.id::text), 1, 2))::bit(8)::int % 2 = 0;
       -- A small team: 5 members and 3 pending invitations spread over the order, and 5,000 accepted
       -- invitations (history: their team rows stay, and a page must not walk them).
       insert into team_members (org_id, team_id, membership_id, sort_key, status, role_id)
         select $1, (select id from teams where org_id = $1 order by lower(name) limit 1 offset 1), m.id, m.sort_key, m.status,
                m.role_id
         from (select id, sort_key, status, role_id, row_number() over (order by id) n from memberships where org_id = $1) m
         where m.n % 4000 = 1;
       insert into invitations (org_id, email, role_id, expires_at, status, accepted_at)
         select $1, 'former' || i || '@big.test', r.id, now(), 'accepted', now()
         from generate_series(1, 5000) i, roles r where r.org_id = $1 and r.system_key = 'viewer';
       insert into invitation_teams (org_id, invitation_id, team_id, sort_key, pending, role_id)
         select $1, i.id, (select id from teams where org_id = $1 order by lower(name) limit 1 offset 1), i.email,
                i.status = 'pending', i.role_id
         from invitations i where i.org_id = $1 and (i.email in ('invitee7@big.test', 'invitee7007@big.test', 'invitee17007@big.test')
                                                      or i.status = 'accepted');
       insert into customers (id, org_id, name, name_key, slug, region, status)
         values ($3, $1, 'Dense customer', 'dense customer', 'dense', 'US', 'active');
       insert into customers (org_id, name, name_key, slug, region, status)
         select $1, 'Customer ' || md5(i::text), 'customer ' || md5(i::text), 'c-' || i,
                case when i % 400 = 9 then 'APAC' when i % 2 = 0 then 'US' else 'EU' end,
                case when i % 400 = 3 then 'suspended' else 'active' end
         from generate_series(1, ${ROWS}) i;`,
      [BIG, OWNER_USER, DENSE_CUSTOMER],
    );
    await client.query(
      `insert into definitions (org_id, kind, name, description, auth_kind, created_at, updated_at, created_by, updated_by, workspace_id)
         select o, k, k || ' ' || md5(i::text), case when i % 4 = 0 then 'about billing' else '' end,
                case when k = 'connector' then 'oauth2' end,
                now() - i * interval '1 second', now() - ((i * 7919) % ${ROWS}) * interval '1 second',
                case when i % 500 = 0 then $2::uuid end, $2,
                (select w.id from workspaces w where w.org_id = o and w.is_default)
         from unnest(array[$1::uuid, $3::uuid]) o, unnest(array['connector','workflow','agent','tool']) k,
              generate_series(1, case when o = $1 then ${ROWS} else 200 end) i;
       insert into definition_versions (org_id, definition_id, version, definition)
         select org_id, id, 1, jsonb_build_object('steps', jsonb_build_array(name)) from definitions;
       insert into definition_deployments (org_id, definition_id, kind, environment, version)
         select org_id, id, kind, 'production', 1 from definitions
         where kind in ('connector', 'workflow') and ('x' || substr(md5(id::text), 1, 2))::bit(8)::int % 3 = 0;
       -- A rare environment: 1 in 400 deployed to test.
       insert into definition_deployments (org_id, definition_id, kind, environment, version)
         select org_id, id, kind, 'test', 1 from definitions
         where kind in ('connector', 'workflow') and ('x' || substr(md5(id::text), 1, 3))::bit(12)::int % 400 = 1;`,
      [BIG, OWNER_USER, OTHER],
    );
    await client.query(
      `insert into executions (org_id, customer_id, target_kind, definition_id, target_name, status, created_at,
                               lease_id, lease_expires_at)
         select $1, case when i % 4 = 0 then $2::uuid else c.id end, 'workflow', d.id, d.name,
                -- Cancelled runs: 15 % of the organization's, but 20 of the dense customer's 5,000.
                case when i % 4 = 0 and i % 5 = 4 and i % 1000 <> 4 then 'succeeded'
                     else (array['queued','running','succeeded','failed','cancelled'])[1 + i % 5] end,
                now() - i * interval '1 second',
                case when i % 5 = 1 then gen_random_uuid() end, case when i % 5 = 1 then now() + interval '1 hour' end
         from generate_series(1, ${ROWS}) i
         join lateral (select id from customers where org_id = $1 and slug = 'c-' || (1 + i % 100)) c on true
         join lateral (select id, name from definitions where org_id = $1 and kind = 'workflow'
                       and lower(btrim(name)) = 'workflow ' || md5((1 + i % 1000)::text)) d on true;
       -- 50 agent runs among them (the rare target kind).
       insert into executions (org_id, customer_id, target_kind, definition_id, target_name, status, created_at)
         select $1, $2::uuid, 'agent', d.id, d.name, 'succeeded', now() - (i * 397) * interval '1 second'
         from generate_series(1, 50) i
         join lateral (select id, name from definitions where org_id = $1 and kind = 'agent'
                       and lower(btrim(name)) = 'agent ' || md5(i::text)) d on true;
       insert into connections (org_id, customer_id, connector_id, name, scope, status, sync_status, created_at)
         select $1, case when i % 4 = 0 then $2::uuid else c.id end, d.id, 'Connection ' || md5(i::text),
                case when i % 400 = 5 then 'user' else 'shared' end,
                case when i % 400 = 11 then 'disconnected' when i % 3 = 0 then 'error' else 'active' end,
                case when i % 400 = 13 then 'failed' else (array['never','syncing','succeeded'])[1 + i % 3] end,
                now() - i * interval '1 second'
         from generate_series(1, ${ROWS}) i
         join lateral (select id from customers where org_id = $1 and slug = 'c-' || (1 + i % 100)) c on true
         join lateral (select id from definitions where org_id = $1 and kind = 'connector'
                       and lower(btrim(name)) = 'connector ' || md5((1 + i % 1000)::text)) d on true;
       -- Rare actors: the system (1 in 400) and one runner (1 in 400, a service event).
       insert into audit_events (org_id, occurred_at, actor_type, actor_user_id, actor_principal_id, action, resource_type,
                                 outcome)
         select $1, now() - i * interval '1 second',
                case when i % 400 = 4 then 'system' when i % 400 = 23 then 'service' else 'user' end,
                case when i % 400 = 4 then null when i % 400 = 23 then md5('sp1')::uuid when i % 500 = 1 then $3::uuid
                     else ('0b160001-0000-4000-8000-' || lpad(to_hex(1 + i % 100), 12, '0'))::uuid end,
                case when i % 400 = 23 then (select id from service_principals where user_id = md5('sp1')::uuid) end,
                case when i % 500 = 2 then 'workflow.deploy' else (array['workflow.create','workflow.update','customer.create'])[1 + i % 3] end,
                case when i % 400 = 17 then 'connection' else (array['workflow','customer'])[1 + i % 2] end,
                case when i % 400 = 19 then 'denied' when i % 3 = 0 then 'failure' else 'success' end
         from generate_series(1, ${ROWS}) i;
       -- Workspaces, custom project roles and project members (migration 017 orders them).
       insert into workspaces (org_id, name) select $1, 'Space ' || md5(i::text) from generate_series(1, ${ROWS}) i;
       insert into project_roles (org_id, name) select $1, 'Project role ' || md5(i::text) from generate_series(1, ${ROWS}) i;
       insert into project_role_permissions (org_id, role_id, permission_key)
         select r.org_id, r.id, p.key from project_roles r, (select key from project_permissions order by key limit 2) p
         where r.org_id = $1;
       insert into project_members (org_id, workspace_id, membership_id, system_role_key, created_at)
         select $1, w.id, m.id, 'viewer', now() - (row_number() over (order by m.id)) * interval '1 second'
         from memberships m, workspaces w where m.org_id = $1 and w.org_id = $1 and w.is_default;
       insert into project_members (org_id, workspace_id, team_id, system_role_key)
         select $1, w.id, t.id, 'editor' from (select id from teams where org_id = $1 order by id limit 100) t, workspaces w
         where w.org_id = $1 and w.is_default;
       insert into join_requests (org_id, user_id, email, status)
         select $1, u.id, u.email, case when n % 2 = 0 then 'pending' else 'rejected' end
         from (select id, email, row_number() over (order by subject) n from users where subject like 'u%') u;
       -- ≥ 20,000 pending ones (what joinRequestsConnection lists by default): the runners' users ask too.
       insert into join_requests (org_id, user_id, email, status, created_at)
         select $1, md5('sp' || i)::uuid, 'sp' || i || '@big.test', 'pending', now() - i * interval '1 second'
         from generate_series(1, ${ROWS}) i;`,
      [BIG, DENSE_CUSTOMER, OWNER_USER],
    );
    // A term only the other organization has: a search must neither return nor reveal it.
    await client.query(
      `insert into definitions (org_id, kind, name, description, auth_kind, workspace_id)
         select $2, k, 'Acquisition of Initech ' || k, 'Initech merger', case when k = 'connector' then 'oauth2' end,
                (select id from workspaces where org_id = $2 and is_default)
         from unnest(array['connector','workflow','agent','tool']) k;
       insert into customers (org_id, name, name_key, slug, region, status)
         values ($2, 'Initech Holdings', 'initech holdings', 'initech', 'US', 'active');
       insert into connections (org_id, customer_id, connector_id, name, scope, status, sync_status)
         select $2, c.id, d.id, 'Initech ledger', 'shared', 'active', 'never'
         from customers c, definitions d where c.org_id = $2 and c.slug = 'initech' and d.org_id = $2 and d.kind = 'connector'
           and d.name = 'Acquisition of Initech connector';`,
      [BIG, OTHER],
    );
    await client.query('commit; reset session_replication_role; analyze');
    const one = async (sql: string) => String((await raw.query(sql, [BIG])).rows[0].v);
    sample.workflowId = await one(
      `select id as v from definitions where org_id = $1 and kind = 'workflow' and name = 'workflow ' || md5('7')`,
    );
    sample.connectorId = await one(
      `select id as v from definitions where org_id = $1 and kind = 'connector' and name = 'connector ' || md5('7')`,
    );
    sample.customerId = await one(`select id as v from customers where org_id = $1 and slug = 'c-7'`);
    sample.viewerRoleId = await one(`select id as v from roles where org_id = $1 and system_key = 'viewer'`);
    sample.servicePrincipalId = await one(
      `select id as v from service_principals where org_id = $1 and user_id = md5('sp1')::uuid`,
    );
    sample.adminRoleId = await one(`select id as v from roles where org_id = $1 and system_key = 'admin'`);
    sample.developerRoleId = await one(`select id as v from roles where org_id = $1 and system_key = 'developer'`);
    sample.teamId = await one(`select id as v from teams where org_id = $1 order by lower(name) limit 1`);
    sample.smallTeamId = await one(`select id as v from teams where org_id = $1 order by lower(name) limit 1 offset 1`);
    sample.defaultWorkspaceId = await one(`select id as v from workspaces where org_id = $1 and is_default`);
    sample.workspaceId = await one(
      `select id as v from workspaces where org_id = $1 and not is_default order by name_key, id limit 1 offset 5000`,
    );
  } finally {
    await raw.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The plan check
// ---------------------------------------------------------------------------------------------

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Rows Removed by Join Filter'?: number;
  'Index Cond'?: string;
  Filter?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

function* nodes(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* nodes(child);
}

/** Rows a node touched: produced plus filtered away, over all its loops. */
function rowsRead(node: PlanNode): number {
  const removed =
    (node['Rows Removed by Filter'] ?? 0) +
    (node['Rows Removed by Index Recheck'] ?? 0) +
    (node['Rows Removed by Join Filter'] ?? 0);
  return (node['Actual Rows'] + removed) * node['Actual Loops'];
}

function describeNode(node: PlanNode): string {
  return `${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`;
}

interface Captured {
  text: string;
  values: unknown[] | undefined;
}

/** Runs `fn` in a real request transaction (real binding statement) and captures what it sends. */
async function capture<T>(binding: DatabaseBinding, fn: (rdb: RequestDatabase) => Promise<T>) {
  const rdb = new RequestDatabase(pool, binding, silentLogger);
  const sent: Captured[] = [];
  const send = rdb.query.bind(rdb);
  rdb.query = ((text: string, values?: unknown[]) => {
    sent.push({ text, values });
    return send(text, values);
  }) as RequestDatabase['query'];
  try {
    const result = await fn(rdb);
    return { result, sent, rdb, send };
  } catch (error) {
    await rdb.abandon();
    throw error;
  }
}

/**
 * Each statement the list sent, explained with its own bindings in its own transaction: as the
 * planner sees it once (custom plan) and as a prepared statement's generic plan would run.
 */
async function assertPageSized(
  label: string,
  binding: DatabaseBinding,
  list: (rdb: RequestDatabase) => Promise<unknown>,
  pageSize: number,
) {
  const { sent, rdb, send } = await capture(binding, list);
  try {
    const bound = 6 * (pageSize + 1) + 60;
    const blockBound = 12 * (pageSize + 1) + 300;
    for (const { text, values } of sent) {
      for (const mode of ['force_custom_plan', 'force_generic_plan']) {
        await send(`set local plan_cache_mode = ${mode}`);
        const explained = await send<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
          `explain (analyze, buffers, format json) ${text}`,
          values,
        );
        const plan = explained.rows[0]!['QUERY PLAN'][0].Plan;
        const outline = [...nodes(plan)]
          .map(
            (n) =>
              `  ${describeNode(n)} rows=${rowsRead(n)}${n['Index Cond'] ? ` cond=${n['Index Cond']}` : ''}${n.Filter ? ` filter=${n.Filter}` : ''}`,
          )
          .join('\n');
        const where = `${label} [${mode}]\n${text}\n${JSON.stringify(values)}\n${outline}`;
        for (const node of nodes(plan)) {
          expect(rowsRead(node), `${describeNode(node)} read too many rows — ${where}`).toBeLessThanOrEqual(bound);
        }
        const blocks = (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
        expect(blocks, `buffers — ${where}`).toBeLessThanOrEqual(blockBound);
      }
    }
  } finally {
    await rdb.abandon();
  }
}

const staff: DatabaseBinding = { userId: OWNER_USER, orgId: BIG, access: 'staff', tenantId: null };
/** A customer with 1 % of the organization's runs and connections: its index, not a scan, must serve it. */
const customerConfined = (): DatabaseBinding => ({
  userId: OWNER_USER,
  orgId: BIG,
  access: 'customer',
  tenantId: sample.customerId!,
});

// ---------------------------------------------------------------------------------------------
// The registry: every list the API offers, with its orders and filters
// ---------------------------------------------------------------------------------------------

type Lister = (rdb: RequestDatabase, page: PageArgs) => Promise<Connection<unknown>>;

interface ListCase {
  /** The schema field this list serves (e.g. `Query.workflows`). */
  field: string;
  /** One lister per order the API offers. */
  orders: Record<string, Lister>;
  /** Filters, each alone, under the default order. */
  filters: Record<string, () => Lister>;
  /** Filters that cannot be O(page), each with the reason. */
  unbounded?: Record<string, string>;
  /** Bindings other than staff that read this list (customer-confined requests). */
  confined?: boolean;
}

const definitionOrders = (kind: DefinitionKind): Record<string, Lister> => {
  const orders: Record<string, Lister> = {};
  for (const field of ['CREATED_AT', 'UPDATED_AT', 'NAME'] as DefinitionOrderField[]) {
    for (const direction of ['asc', 'desc'] as const) {
      orders[`${field} ${direction}`] = (rdb, page) => listDefinitions(rdb, kind, {}, { field, direction }, page);
    }
  }
  return orders;
};

const definitionFilters = (kind: DefinitionKind): Record<string, () => Lister> => {
  const list =
    (filter: Parameters<typeof listDefinitions>[2]): Lister =>
    (rdb, page) =>
      listDefinitions(rdb, kind, filter, { field: 'CREATED_AT', direction: 'desc' }, page);
  return {
    createdBy: () => list({ createdBy: OWNER_USER }),
    updatedAfter: () => list({ updatedAfter: new Date(Date.now() - 5 * 3600_000) }),
    // A rare value of a filter that is not the order: the planner reads the matching rows and
    // sorts them (a range on definitions_updated; for deployedTo, the deployments' primary key).
    'updatedAfter, the last minute (rare)': () => list({ updatedAfter: new Date(Date.now() - 60_000) }),
    // Not a filter: the page with its creators' names joined after the cut (`createdBy { name }`).
    'with creator names': () => (rdb, page) =>
      listDefinitions(rdb, kind, {}, { field: 'CREATED_AT', direction: 'desc' }, page, { withCreator: true }),
    // The usual list page (id, name, createdBy only): the light columns.
    'light, with creator names': () => (rdb, page) =>
      listDefinitions(rdb, kind, {}, { field: 'NAME', direction: 'asc' }, page, { withCreator: true, light: true }),
    ...(kind === 'connector' || kind === 'workflow'
      ? {
          deployedTo: () => list({ deployedTo: 'production' }),
          'deployedTo, rare': () => list({ deployedTo: 'test' }),
        }
      : {}),
    // One row of each kind in the organization (the other one has it too: the index leads with org_id).
    'search, a rare term': () => list({ search: RARE_DEFINITION }),
    // A quarter of the rows ("about billing"): the ordered window fills the page.
    'search, a common term': () => list({ search: 'BILLING' }),
  };
};

/**
 * Substring search (src/domain/pagination.ts, SEARCH_WINDOW_PAGES): a window of the ordered scan,
 * then the org-leading trigram index (migration 021) for what the window did not find. Rare
 * terms are substrings of one row's name (md5 of 7, as spelled by the load); common ones match
 * every row, or a quarter of them.
 */
const RARE_DEFINITION = '8f14e45fce';
const RARE_CONNECTION = 'Connection 8f14e45f';
const RARE_CUSTOMER = '14e45fceea16';
const RARE_PERSON = 'c51ce410c1';

/**
 * A list made of parts (pagedParts), resumed from a cursor inside its first part: `first` reads
 * the rest of that part and then the next, `last` what precedes it. `lead` rows are read first
 * for the cursor (a page-sized statement of its own, checked too).
 */
const resumingInFirstPart =
  (list: Lister, lead: number): (() => Lister) =>
  () =>
  async (rdb, page) => {
    const cursor = (await list(rdb, { first: lead })).pageInfo.endCursor;
    return list(rdb, page.last != null ? { last: page.last, before: cursor } : { first: page.first, after: cursor });
  };

const REGISTRY: ListCase[] = [
  ...(['connector', 'workflow', 'agent', 'tool'] as const).map((kind) => ({
    field: `Query.${kind}s`,
    orders: definitionOrders(kind),
    filters: definitionFilters(kind),
  })),
  {
    field: 'Query.executions',
    confined: true,
    orders: { 'newest first': (rdb, page) => listExecutions(rdb, {}, page, false) },
    filters: {
      status: () => (rdb, page) => listExecutions(rdb, { status: 'failed' }, page, false),
      // Filters on a column of a few values, with a common value and a rare one (1 row in 400, or
      // 50 rows): each has an index in the list's order (migration 024), so the share does not matter.
      'targetKind, common': () => (rdb, page) => listExecutions(rdb, { targetKind: 'workflow' }, page, false),
      'targetKind, rare': () => (rdb, page) => listExecutions(rdb, { targetKind: 'agent' }, page, false),
      targetId: () => (rdb, page) => listExecutions(rdb, { targetId: sample.workflowId }, page, false),
      customerId: () => (rdb, page) => listExecutions(rdb, { customerId: sample.customerId }, page, false),
      // A status rare for this customer though common in the organization (what an End User's
      // "my cancelled runs" is, confined to the customer): executions_customer_status_order (024).
      'customerId and a status rare for it': () => (rdb, page) =>
        listExecutions(rdb, { customerId: DENSE_CUSTOMER, status: 'cancelled' }, page, false),
      range: () => (rdb, page) =>
        listExecutions(rdb, { from: new Date(Date.now() - 86400_000), to: new Date(Date.now() - 600_000) }, page, false),
    },
  },
  {
    field: 'Query.connections',
    confined: true,
    orders: { 'newest first': (rdb, page) => listConnections(rdb, {}, page, false) },
    filters: {
      'search, a rare term': () => (rdb, page) => listConnections(rdb, { search: RARE_CONNECTION }, page, false),
      'search, a common term': () => (rdb, page) => listConnections(rdb, { search: 'connection' }, page, false),
      customerId: () => (rdb, page) => listConnections(rdb, { customerId: sample.customerId }, page, false),
      connectorId: () => (rdb, page) => listConnections(rdb, { connectorId: sample.connectorId }, page, false),
      'status, common': () => (rdb, page) => listConnections(rdb, { status: 'error' }, page, false),
      'status, rare': () => (rdb, page) => listConnections(rdb, { status: 'disconnected' }, page, false),
      'syncStatus, common': () => (rdb, page) => listConnections(rdb, { syncStatus: 'succeeded' }, page, false),
      'syncStatus, rare': () => (rdb, page) => listConnections(rdb, { syncStatus: 'failed' }, page, false),
      'scope, common': () => (rdb, page) => listConnections(rdb, { scope: 'shared' }, page, false),
      'scope, rare': () => (rdb, page) => listConnections(rdb, { scope: 'user' }, page, false),
    },
  },
  {
    field: 'Query.apiKeys',
    orders: { 'newest first': (rdb, page) => listServicePrincipals(rdb, {}, page, false) },
    filters: {
      'kind, common': () => (rdb, page) => listServicePrincipals(rdb, { kind: 'runner' }, page, false),
      'kind, rare': () => (rdb, page) => listServicePrincipals(rdb, { kind: 'api_key' }, page, false),
      'kind, none': () => (rdb, page) => listServicePrincipals(rdb, { kind: 'oidc_client' }, page, false),
      // Sparse values, each with its index (migration 017); active keys are most of them.
      environment: () => (rdb, page) => listServicePrincipals(rdb, { environment: 'live' }, page, false),
      'status revoked': () => (rdb, page) => listServicePrincipals(rdb, { status: 'revoked' }, page, false),
      'status expired': () => (rdb, page) => listServicePrincipals(rdb, { status: 'expired' }, page, false),
      'status active': () => (rdb, page) => listServicePrincipals(rdb, { status: 'active' }, page, false),
    },
  },
  {
    field: 'Query.customers',
    confined: true,
    orders: { 'by name': (rdb, page) => listCustomers(rdb, {}, page, false) },
    filters: {
      'search, a rare term': () => (rdb, page) => listCustomers(rdb, { search: RARE_CUSTOMER }, page, false),
      'search, a common term': () => (rdb, page) => listCustomers(rdb, { search: 'Customer' }, page, false),
      'status, common': () => (rdb, page) => listCustomers(rdb, { status: 'active' }, page, false),
      'status, rare': () => (rdb, page) => listCustomers(rdb, { status: 'suspended' }, page, false),
      'region, common': () => (rdb, page) => listCustomers(rdb, { region: 'EU' }, page, false),
      'region, rare': () => (rdb, page) => listCustomers(rdb, { region: 'APAC' }, page, false),
    },
  },
  {
    field: 'Query.people',
    orders: { 'by name': (rdb, page) => listPeople(rdb, {}, page, false) },
    filters: {
      'roleId, common': () => (rdb, page) => listPeople(rdb, { roleId: sample.viewerRoleId }, page, false),
      'roleId, rare': () => (rdb, page) => listPeople(rdb, { roleId: sample.adminRoleId }, page, false),
      'status, common': () => (rdb, page) => listPeople(rdb, { status: 'active' }, page, false),
      'status, rare': () => (rdb, page) => listPeople(rdb, { status: 'inactive' }, page, false),
      invited: () => (rdb, page) => listPeople(rdb, { status: 'invited' }, page, false),
      // The team's rows in the list's order (migration 022): 5 members, 3 pending invitations and
      // 5,000 accepted ones (not in the index); half of everyone.
      'teamId, a small team': () => (rdb, page) => listPeople(rdb, { teamId: sample.smallTeamId }, page, false),
      'teamId, a large team': () => (rdb, page) => listPeople(rdb, { teamId: sample.teamId }, page, false),
      'teamId, a large team, from a cursor': resumingInFirstPart(
        (rdb, page) => listPeople(rdb, { teamId: sample.teamId }, page, false),
        100,
      ),
      // One member's name (md5 of 13), one invitation's email; every e-mail (members and invitations).
      'search, a rare term': () => (rdb, page) => listPeople(rdb, { search: RARE_PERSON }, page, false),
      'search, a rare invitation email': () => (rdb, page) => listPeople(rdb, { search: 'invitee13@' }, page, false),
      'search, a common term': () => (rdb, page) => listPeople(rdb, { search: 'BIG.TEST' }, page, false),
      // One source (pagedQuery's one-source search steps).
      'search, a common term, invitations only': () => (rdb, page) =>
        listPeople(rdb, { search: 'BIG.TEST', status: 'invited' }, page, false),
      // Filters together: one walks its index in the list's order (here the rare status's, 024),
      // the others are checked on the way, so a page reads about page ÷ the share of the walked
      // rows that match the rest (here 2/3).
      'roleId and status': () => (rdb, page) => listPeople(rdb, { roleId: sample.viewerRoleId, status: 'inactive' }, page, false),
      'teamId and roleId': () => (rdb, page) =>
        listPeople(rdb, { teamId: sample.teamId, roleId: sample.viewerRoleId }, page, false),
      // A large team and a rare status or role: the team rows' copies, indexed (025).
      'a large team and a rare status': () => (rdb, page) =>
        listPeople(rdb, { teamId: sample.teamId, status: 'inactive' }, page, false),
      'a large team and a rare role': () => (rdb, page) =>
        listPeople(rdb, { teamId: sample.teamId, roleId: sample.adminRoleId }, page, false),
      'a large team and a role common elsewhere but rare in it': () => (rdb, page) =>
        listPeople(rdb, { teamId: sample.teamId, roleId: sample.developerRoleId }, page, false),
      'a large team and a rare role, members only': () => (rdb, page) =>
        listPeople(rdb, { teamId: sample.teamId, roleId: sample.adminRoleId, status: 'active' }, page, false),
      'a small team and a rare term': () => (rdb, page) =>
        listPeople(rdb, { teamId: sample.smallTeamId, search: RARE_PERSON }, page, false),
    },
  },
  // Issue 10: the connections beside the capped plain lists (migration 020 orders them).
  {
    field: 'Query.teamsConnection',
    orders: { 'by name': (rdb, page) => pageTeams(rdb, page, false) },
    filters: {},
  },
  {
    field: 'Query.rolesConnection',
    // Two parts: the system roles (a handful) by matrix position, then custom roles by name.
    orders: { 'system roles, then custom ones by name': (rdb, page) => pageRoles(rdb, page) },
    filters: { 'resuming among the system roles': resumingInFirstPart((rdb, page) => pageRoles(rdb, page), 3) },
  },
  {
    field: 'Query.workspacesConnection',
    // Two parts of one index: the default workspace, then the others by name.
    orders: { 'default, then by name': (rdb, page) => pageWorkspaces(rdb, page, null) },
    filters: {
      'workspace-scoped key': () => (rdb, page) => pageWorkspaces(rdb, page, sample.workspaceId!),
      'resuming after the default one': resumingInFirstPart((rdb, page) => pageWorkspaces(rdb, page, null), 1),
    },
  },
  {
    field: 'Query.projectRolesConnection',
    // The four system project roles are held in code; custom ones by name.
    orders: { 'system ones, then custom ones by name': (rdb, page) => pageProjectRoles(rdb, true, page) },
    filters: {
      'not staff (system ones only)': () => (rdb, page) => pageProjectRoles(rdb, false, page),
      'resuming among the system ones': resumingInFirstPart((rdb, page) => pageProjectRoles(rdb, true, page), 2),
    },
  },
  {
    field: 'Query.projectMembersConnection',
    // Two parts of index project_members_listed: people, then teams, each by when added.
    orders: {
      'people, then teams, as added': (rdb, page) => pageProjectMembers(rdb, sample.defaultWorkspaceId!, page),
    },
    filters: {
      // The people part holds 20,001 rows: a cursor near its end, so `first` crosses into the teams.
      'resuming near the end of the people': () => async (rdb, page) => {
        const list = (p: PageArgs) => pageProjectMembers(rdb, sample.defaultWorkspaceId!, p);
        const teamsStart = (await list({ last: 100 })).edges[0]!.cursor; // the 100 teams
        const cursor = (await list({ last: 20, before: teamsStart })).pageInfo.startCursor;
        return list(page.last != null ? { last: page.last, before: cursor } : { first: page.first, after: cursor });
      },
    },
  },
  {
    field: 'Query.joinRequestsConnection',
    orders: { 'newest first (pending)': (rdb, page) => pageJoinRequests(rdb, 'pending', page, false) },
    filters: {
      'status rejected': () => (rdb, page) => pageJoinRequests(rdb, 'rejected', page, false),
      'status approved (none)': () => (rdb, page) => pageJoinRequests(rdb, 'approved', page, false),
    },
  },
  {
    field: 'Query.auditLog',
    orders: { 'newest first': (rdb, page) => listAuditEvents(rdb, {}, page, false) },
    filters: {
      userId: () => (rdb, page) => listAuditEvents(rdb, { userId: OWNER_USER }, page, false),
      'system (rare)': () => (rdb, page) => listAuditEvents(rdb, { system: true }, page, false),
      'servicePrincipalId (rare)': () => (rdb, page) =>
        listAuditEvents(rdb, { servicePrincipalId: sample.servicePrincipalId }, page, false),
      action: () => (rdb, page) => listAuditEvents(rdb, { action: 'workflow.deploy' }, page, false),
      'resourceType, common': () => (rdb, page) => listAuditEvents(rdb, { resourceType: 'customer' }, page, false),
      'resourceType, rare': () => (rdb, page) => listAuditEvents(rdb, { resourceType: 'connection' }, page, false),
      'outcome, common': () => (rdb, page) => listAuditEvents(rdb, { outcome: 'failure' }, page, false),
      'outcome, rare': () => (rdb, page) => listAuditEvents(rdb, { outcome: 'denied' }, page, false),
      range: () => (rdb, page) =>
        listAuditEvents(rdb, { from: new Date(Date.now() - 86400_000), to: new Date(Date.now() - 600_000) }, page, false),
    },
  },
];

/** Plain (unpaged) lists on Query: bounded by a limit, read in index order. */
const PLAIN_LISTS: Record<string, { pageSize: number; list: (rdb: RequestDatabase) => Promise<unknown> } | { exempt: string }> = {
  'Query.teams': { pageSize: TEAM_LIST_LIMIT, list: (rdb) => listTeams(rdb) },
  'Query.roles': { pageSize: CUSTOM_ROLE_LIST_LIMIT, list: (rdb) => listRoles(rdb) },
  'Query.joinRequests': { pageSize: JOIN_REQUEST_LIST_LIMIT, list: (rdb) => listJoinRequests(rdb, 'pending') },
  'Query.permissionCatalogue': { exempt: 'the global permission catalogue: a fixed size, not organization data' },
  // Bounded first pages in index order (migration 017). A workspace's counts are read only when
  // selected, per listed workspace (countWorkspaceContents, like a totalCount).
  'Query.workspaces': { pageSize: WORKSPACE_LIST_LIMIT, list: (rdb) => listWorkspaces(rdb) },
  'Query.projectRoles': { pageSize: PROJECT_ROLE_LIST_LIMIT, list: (rdb) => listProjectRoles(rdb, true) },
  'Query.projectMembers': {
    pageSize: PROJECT_MEMBER_LIST_LIMIT,
    list: (rdb) => listProjectMembers(rdb, sample.defaultWorkspaceId!),
  },
  'Query.connectorCatalogue': {
    exempt: 'connectors live in production, by name, through app_private.connector_listings: grows with deployed connectors',
  },
};

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.appPool(2);
  await load(db.superuserUrl);
  // The test cluster is bootstrapped by a superuser: the leakproof search operator and migration
  // 021's indexes exist, and the search cases below hold the indexed path to O(page).
  setIndexedSearch(await detectIndexedSearch(pool));
}, 180_000);

afterAll(() => setIndexedSearch(false));

afterAll(async () => {
  await db?.drop();
});

function unwrap(type: GraphQLOutputType): GraphQLOutputType {
  return type instanceof GraphQLNonNull || type instanceof GraphQLList ? unwrap(type.ofType) : type;
}

describe('every list in the schema has a plan case', () => {
  it('walks the schema: each Relay connection field and each plain list on Query is registered', () => {
    const connectionFields: string[] = [];
    const plainLists: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!(type instanceof GraphQLObjectType) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        const target = unwrap(field.type);
        if (target instanceof GraphQLObjectType && 'edges' in target.getFields() && 'pageInfo' in target.getFields()) {
          connectionFields.push(`${type.name}.${field.name}`);
        } else if (type.name === 'Query') {
          let t: GraphQLOutputType = field.type;
          if (t instanceof GraphQLNonNull) t = t.ofType;
          if (t instanceof GraphQLList) plainLists.push(`Query.${field.name}`);
        }
      }
    }
    expect(connectionFields.length).toBeGreaterThan(0);
    expect(connectionFields.sort()).toEqual(REGISTRY.map((c) => c.field).sort());
    expect(plainLists.sort()).toEqual(Object.keys(PLAIN_LISTS).sort());
  });
});

describe(`with ${ROWS.toLocaleString('en')} rows in every listed table, a page reads O(page)`, () => {
  for (const entry of REGISTRY) {
    it(`${entry.field}: every order, first/last, after/before, each filter`, async () => {
      for (const [order, list] of Object.entries(entry.orders)) {
        // A cursor some way into the list: a keyset the index cannot use would read every row before it.
        let cursor: string | null = null;
        {
          const { result, rdb } = await capture(staff, async (rdb) => {
            let after: string | null = null;
            for (let i = 0; i < 10; i++) after = (await list(rdb, { first: 100, after })).pageInfo.endCursor;
            return after;
          });
          await rdb.abandon();
          cursor = result;
        }
        expect(cursor, `${entry.field} ${order} has rows`).not.toBeNull();
        for (const page of [{ first: PAGE }, { first: PAGE, after: cursor }, { last: PAGE }, { last: PAGE, before: cursor }]) {
          await assertPageSized(`${entry.field} ${order} ${JSON.stringify(page)}`, staff, (rdb) => list(rdb, page), PAGE);
        }
      }
      for (const [name, filtered] of Object.entries(entry.filters)) {
        const list = filtered();
        await assertPageSized(`${entry.field} filter ${name}`, staff, (rdb) => list(rdb, { first: PAGE }), PAGE);
        await assertPageSized(`${entry.field} filter ${name} (last)`, staff, (rdb) => list(rdb, { last: PAGE }), PAGE);
        // Resumed from the first page's end: the filter's index must also serve the keyset.
        const { result: cursor, rdb } = await capture(
          staff,
          async (rdb) => (await list(rdb, { first: PAGE })).pageInfo.endCursor,
        );
        await rdb.abandon();
        if (cursor) {
          for (const page of [
            { first: PAGE, after: cursor },
            { last: PAGE, before: cursor },
          ]) {
            await assertPageSized(`${entry.field} filter ${name} ${JSON.stringify(page)}`, staff, (rdb) => list(rdb, page), PAGE);
          }
        }
      }
      if (entry.confined) {
        const list = Object.values(entry.orders)[0]!;
        await assertPageSized(
          `${entry.field} as a customer-confined request`,
          customerConfined(),
          (rdb) => list(rdb, { first: PAGE }),
          PAGE,
        );
      }
    }, 120_000);
  }

  for (const [field, spec] of Object.entries(PLAIN_LISTS)) {
    if ('exempt' in spec) continue;
    it(`${field}: bounded by its limit of ${spec.pageSize}`, async () => {
      await assertPageSized(field, staff, spec.list, spec.pageSize);
    });
  }

  it('totalCount is the one place that counts, and only when asked', async () => {
    const { sent, rdb } = await capture(staff, (rdb) =>
      listDefinitions(rdb, 'workflow', {}, { field: 'CREATED_AT', direction: 'desc' }, { first: PAGE }),
    );
    expect(sent.map((s) => s.text).join('\n')).not.toMatch(/count\(/);
    await rdb.abandon();
    const counted = await capture(staff, (rdb) =>
      listDefinitions(rdb, 'workflow', {}, { field: 'CREATED_AT', direction: 'desc' }, { first: PAGE }, { withTotal: true }),
    );
    expect(await counted.result.totalCount()).toBe(ROWS);
    await counted.rdb.abandon();
  });
});

describe('substring search keeps tenants apart (indexed: the leakproof operator ahead of the policies)', () => {
  /** Staff of the other organization, with every permission (its owner is not a member there). */
  const otherStaff: DatabaseBinding = {
    userId: OWNER_USER,
    orgId: OTHER,
    access: 'staff',
    tenantId: null,
    permissions: ['agents.read', 'connections.read', 'connectors.read', 'customers.read', 'tools.read', 'workflows.read'],
  };
  const searches: Record<string, (rdb: RequestDatabase, search: string) => Promise<Connection<unknown>>> = {
    connectors: (rdb: RequestDatabase, search: string) =>
      listDefinitions(
        rdb,
        'connector',
        { search },
        { field: 'CREATED_AT', direction: 'desc' },
        { first: PAGE },
        { withTotal: true },
      ),
    workflows: (rdb: RequestDatabase, search: string) =>
      listDefinitions(
        rdb,
        'workflow',
        { search },
        { field: 'NAME', direction: 'asc' },
        { first: PAGE },
        { withTotal: true, withCreator: true },
      ),
    agents: (rdb: RequestDatabase, search: string) =>
      listDefinitions(rdb, 'agent', { search }, { field: 'UPDATED_AT', direction: 'desc' }, { last: PAGE }, { withTotal: true }),
    tools: (rdb: RequestDatabase, search: string) =>
      listDefinitions(rdb, 'tool', { search }, { field: 'CREATED_AT', direction: 'asc' }, { first: PAGE }, { withTotal: true }),
    connections: (rdb: RequestDatabase, search: string) => listConnections(rdb, { search }, { first: PAGE }, true),
    customers: (rdb: RequestDatabase, search: string) => listCustomers(rdb, { search }, { first: PAGE }, true),
  };

  it('the test database has indexed search (bootstrapped by a superuser), and ILIKE itself stays not leakproof', async () => {
    expect(await detectIndexedSearch(pool)).toBe(true);
    const { rows } = await pool.query(
      `select p.oid::regprocedure::text as fn, p.proleakproof, r.rolsuper from pg_proc p join pg_roles r on r.oid = p.proowner
       where p.oid in ('pg_catalog.texticlike(text,text)'::regprocedure, 'gateway_search.contains_ci(text,text)'::regprocedure)
       order by 1`,
    );
    expect(rows).toEqual([
      { fn: 'gateway_search.contains_ci(text,text)', proleakproof: true, rolsuper: true },
      { fn: 'texticlike(text,text)', proleakproof: false, rolsuper: true },
    ]);
  });

  it('a term only another organization has: no row, no count, whether the window or the index answers', async () => {
    for (const [list, search] of Object.entries(searches)) {
      for (const term of ['Initech', 'initech', 'INITECH', 'Acquisition of Initech']) {
        const { result, rdb } = await capture(staff, async (rdb) => {
          const connection = await search(rdb, term);
          return { edges: connection.edges, total: await connection.totalCount() };
        });
        await rdb.abandon();
        expect(result.edges, `${list} "${term}"`).toEqual([]);
        expect(result.total, `${list} "${term}"`).toBe(0);
      }
      // The other organization finds its own rows with the same searches.
      const { result, rdb } = await capture(otherStaff, (rdb) => search(rdb, 'initech'));
      await rdb.abandon();
      expect(result.edges.length, `${list} in the other organization`).toBe(1);
    }
  });

  it('the same rows as plain ILIKE, in the same order, for rare, common and escaped terms, across pages', async () => {
    for (const term of [RARE_DEFINITION, 'BILLING', 'workflow 8f1', '%', '_', 'ab\\', 'e4', 'x_y%z']) {
      const ilike = await capture(staff, async (rdb) => {
        const { rows } = await rdb.query<{ id: string }>(
          `select id from definitions where kind = 'workflow' and (name ilike $1 or description ilike $1)
           order by created_at desc, id desc limit 120`,
          [`%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`],
        );
        return rows.map((r) => r.id);
      });
      await ilike.rdb.abandon();
      const paged = await capture(staff, async (rdb) => {
        const ids: string[] = [];
        let after: string | null = null;
        for (let i = 0; i < 3; i++) {
          // With the creators' names joined after the cut (the decorated form of the page).
          const page = await listDefinitions(
            rdb,
            'workflow',
            { search: term },
            { field: 'CREATED_AT', direction: 'desc' },
            { first: 40, after },
            { withCreator: i === 1 },
          );
          ids.push(...page.edges.map((e) => e.node.id));
          if (!page.pageInfo.hasNextPage) break;
          after = page.pageInfo.endCursor;
        }
        return ids;
      });
      await paged.rdb.abandon();
      expect(paged.result, `"${term}"`).toEqual(ilike.result);
    }
  });

  it("the operator never raises: a malformed pattern is no oracle on other tenants' rows", async () => {
    // As ILIKE, this pattern raises "LIKE pattern must not end with escape character" exactly
    // when some row contains "Acquisition of " followed by more text (the other organization's);
    // the leakproof operator, evaluated ahead of the policies, answers NULL for any row.
    const { result, rdb } = await capture(staff, async (rdb) => {
      const explained = await rdb.query<{ 'QUERY PLAN': string }>(
        `explain (costs off) select count(*) from definitions d where d.name operator(gateway_search.~~~*) $1`,
        ['%Acquisition of \\'],
      );
      const counted = await rdb.query<{ n: number }>(
        `select count(*)::int as n from definitions d where d.name operator(gateway_search.~~~*) $1`,
        ['%Acquisition of \\'],
      );
      return { plan: explained.rows.map((r) => r['QUERY PLAN']).join('\n'), n: counted.rows[0]!.n };
    });
    await rdb.abandon();
    expect(result.n).toBe(0);
    expect(result.plan).toMatch(/Index Cond: .*~~~\*/); // evaluated in the index, before the policy
  });
});

describe("People's sort key follows the user's name", () => {
  it('a changed name (the identity upsert, as gateway_app) re-sorts the member in every organization', async () => {
    const client = await pool.connect();
    try {
      await client.query('select app_private.ensure_user($1, $2, $3, $4, $5)', [
        'bench',
        'u7',
        'user7@big.test',
        false,
        'Zed Renamed',
      ]);
    } finally {
      client.release();
    }
    const owner = new pg.Client({ connectionString: db.superuserUrl });
    await owner.connect();
    try {
      const { rows } = await owner.query(
        `select m.sort_key from app_public.memberships m join app_public.users u on u.id = m.user_id
         where u.issuer = 'bench' and u.subject = 'u7'`,
      );
      expect(rows).toEqual([{ sort_key: 'zed renamed' }]);
    } finally {
      await owner.end();
    }
  });
});
