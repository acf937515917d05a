/**
 * The SQL-level write cases, one registry keyed by permission: for every permission of the
 * matrix, the raw SQL each operation it gates writes (or, for read permissions, reads), so that
 * test/db/sql-matrix.test.ts can try every (role, case) pair as gateway_app with that role's
 * bindings. Two more keys: the Owner's capabilities, and the side writes no permission gates
 * (which must keep working for everyone acting in an organization).
 *
 * Adding a permission to src/authz/permissions.ts, or a table the app role may write, without a
 * case here fails the suite (the Record type says so at compile time; the test checks both at
 * run time, the tables against the catalog).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Permission } from '../../src/authz/permissions.js';

export type Command = 'insert' | 'update' | 'delete' | 'select';

/** What a case knows about where it runs. */
export interface CaseWorld {
  orgId: string;
  /** The End User's customer: rows here are visible to customer-confined bindings too. */
  customerId: string;
  ownerMembershipId: string;
  adminMembershipId: string;
  /** The user the case runs as (personal connections are theirs). */
  actorUserId: string;
  /** A user who is not a member of the organization (yet). */
  outsiderUserId: string;
}

export type Ids = Record<string, string>;

export interface SqlCase {
  /** For the test's name: what the operation does in SQL. */
  name: string;
  table: string;
  command: Command;
  /** Fixtures, written as the Owner in the case's transaction (rolled back afterwards). */
  setup?: (c: pg.ClientBase, w: CaseWorld) => Promise<Ids>;
  /** The attempt, as the actor: rows written (or seen). A refusal throws or touches nothing. */
  attempt: (c: pg.ClientBase, ids: Ids, w: CaseWorld) => Promise<number>;
}

export type Coverage =
  | { cases: readonly SqlCase[] }
  /** A read the database does not narrow by permission, and why; the probe shows it is readable. */
  | { notEnforced: string; probe: SqlCase };

/** The Owner's capabilities (no permission grants them) and the ungated side writes. */
export const OWNER_CAPABILITIES = 'owner capabilities';
export const UNGATED = 'ungated side writes';

const uid = () => randomUUID().slice(0, 8);
const claimIdempotencyKey = `insert into idempotency_keys (org_id, user_id, idempotency_key, fingerprint, expires_at)
  values (app_public.current_org_id(), app_public.current_user_id(), $1, repeat('0', 64), now() + interval '1 hour')`;
const rows = async (c: pg.ClientBase, sql: string, values: unknown[] = []) => (await c.query(sql, values)).rowCount ?? 0;
const one = async (c: pg.ClientBase, sql: string, values: unknown[] = []) =>
  (await c.query<{ id: string }>(sql, values)).rows[0]!.id;

/** Fixtures, as the Owner. */
export const fx = {
  workspace: (c: pg.ClientBase) =>
    one(c, 'insert into workspaces (org_id, name) values (app_public.current_org_id(), $1) returning id', [`Space ${uid()}`]),
  gitRepository: async (c: pg.ClientBase) => {
    const id = await fx.workspace(c);
    await c.query(
      `insert into git_repositories (org_id, workspace_id, url, branch) values (app_public.current_org_id(), $1, 'https://git.example/r.git', 'main')`,
      [id],
    );
    return id;
  },
  projectRole: async (c: pg.ClientBase) => {
    const id = await one(c, 'insert into project_roles (org_id, name) values (app_public.current_org_id(), $1) returning id', [
      `PR ${uid()}`,
    ]);
    await c.query(
      `insert into project_role_permissions (org_id, role_id, permission_key) values (app_public.current_org_id(), $1, 'project.flows.read')`,
      [id],
    );
    return id;
  },
  projectMember: async (c: pg.ClientBase, membershipId: string) =>
    one(
      c,
      `insert into project_members (org_id, workspace_id, membership_id, system_role_key) values (app_public.current_org_id(), $1, $2, 'viewer') returning id`,
      [await fx.workspace(c), membershipId],
    ),
  definition: (c: pg.ClientBase, kind: 'connector' | 'workflow' | 'agent' | 'tool') =>
    one(
      c,
      `with d as (
         insert into definitions (org_id, kind, name, auth_kind) values (app_public.current_org_id(), $1, $2, $3) returning org_id, id
       )
       insert into definition_versions (org_id, definition_id, version) select org_id, id, 1 from d returning definition_id as id`,
      [kind, `${kind} ${uid()}`, kind === 'connector' ? 'api_key' : null],
    ),
  deployment: async (c: pg.ClientBase, kind: 'connector' | 'workflow', environment: 'test' | 'production') => {
    const id = await fx.definition(c, kind);
    await c.query(
      `insert into definition_deployments (org_id, definition_id, kind, environment, version) values (app_public.current_org_id(), $1, $2, $3, 1)`,
      [id, kind, environment],
    );
    return id;
  },
  customer: (c: pg.ClientBase) =>
    one(c, `insert into customers (org_id, name, slug) values (app_public.current_org_id(), $1, $2) returning id`, [
      `Customer ${uid()}`,
      `c-${uid()}`,
    ]),
  connection: async (c: pg.ClientBase, w: CaseWorld, scope: 'user' | 'shared') =>
    one(
      c,
      `insert into connections (org_id, customer_id, connector_id, name, scope, owner_user_id)
       values (app_public.current_org_id(), $1, $2, $3, $4, $5) returning id`,
      [w.customerId, await fx.definition(c, 'connector'), `Connection ${uid()}`, scope, w.actorUserId],
    ),
  finishedExecution: (c: pg.ClientBase, w: CaseWorld) =>
    one(
      c,
      `insert into executions (org_id, customer_id, target_kind, target_name, status)
       values (app_public.current_org_id(), $1, 'tool', 'ran', 'failed') returning id`,
      [w.customerId],
    ),
  customRole: async (c: pg.ClientBase) => {
    const id = await one(c, `insert into roles (org_id, name) values (app_public.current_org_id(), $1) returning id`, [
      `Role ${uid()}`,
    ]);
    await c.query(
      `insert into role_permissions (org_id, role_id, permission_key) values (app_public.current_org_id(), $1, 'workflows.read')`,
      [id],
    );
    return id;
  },
  viewerRole: (c: pg.ClientBase) => one(c, `select id from roles where system_key = 'viewer'`),
  member: async (c: pg.ClientBase, w: CaseWorld) =>
    one(c, `insert into memberships (org_id, user_id, role_id) values (app_public.current_org_id(), $1, $2) returning id`, [
      w.outsiderUserId,
      await fx.viewerRole(c),
    ]),
  team: (c: pg.ClientBase) =>
    one(c, `insert into teams (org_id, name) values (app_public.current_org_id(), $1) returning id`, [`Team ${uid()}`]),
  invitation: async (c: pg.ClientBase) =>
    one(
      c,
      `insert into invitations (org_id, email, role_id, expires_at)
       values (app_public.current_org_id(), $1, $2, now() + interval '7 days') returning id`,
      [`invitee-${uid()}@example.test`, await fx.viewerRole(c)],
    ),
  joinRequest: (c: pg.ClientBase, w: CaseWorld) =>
    one(
      c,
      `insert into join_requests (org_id, user_id, email) values (app_public.current_org_id(), $1, 'asker@example.test') returning id`,
      [w.outsiderUserId],
    ),
  auditEvent: (c: pg.ClientBase) =>
    c.query(
      `insert into audit_events (org_id, actor_type, actor_user_id, action, resource_type, outcome)
       values (app_public.current_org_id(), 'user', app_public.current_user_id(), 'fixture.event', 'fixture', 'success')`,
    ),
};

type DefinitionKind = 'connector' | 'workflow' | 'agent' | 'tool';

/** create / update / delete of one definition kind (plus, for workflows, their version rows). */
function definitionCases(kind: DefinitionKind) {
  return {
    create: {
      // As the gateway sends it (migration 023): both rows through the function, with the caller's policies.
      name: `insert a ${kind} and its first version (app_private.create_definition)`,
      table: 'definitions',
      command: 'insert',
      attempt: async (c) =>
        rows(c, `select id from app_private.create_definition($1, $2, '', $3, null, app_public.current_user_id(), null, '{}')`, [
          kind,
          `New ${kind} ${uid()}`,
          kind === 'connector' ? 'api_key' : null,
        ]),
    },
    update: {
      name: `update a ${kind}`,
      table: 'definitions',
      command: 'update',
      setup: async (c) => ({ id: await fx.definition(c, kind) }),
      attempt: (c, ids) => rows(c, `update definitions set description = 'edited' where id = $1`, [ids.id]),
    },
    delete: {
      name: `delete a ${kind}`,
      table: 'definitions',
      command: 'delete',
      setup: async (c) => ({ id: await fx.definition(c, kind) }),
      attempt: (c, ids) => rows(c, 'delete from definitions where id = $1', [ids.id]),
    },
    read: {
      name: `read ${kind}s`,
      table: 'definitions',
      command: 'select',
      setup: async (c) => ({ id: await fx.definition(c, kind) }),
      attempt: (c, ids) => rows(c, 'select 1 from definitions where id = $1', [ids.id]),
    },
    execute: {
      name: `queue a run of a ${kind}`,
      table: 'executions',
      command: 'insert',
      setup: async (c) => ({ id: await fx.definition(c, kind) }),
      attempt: (c, ids, w) =>
        rows(
          c,
          `insert into executions (org_id, customer_id, target_kind, definition_id, target_name, target_version)
           values (app_public.current_org_id(), $1, $2, $3, 'run', 1)`,
          [w.customerId, kind, ids.id],
        ),
    },
  } satisfies Record<string, SqlCase>;
}

function deployCase(kind: 'connector' | 'workflow', environment: 'test' | 'production'): SqlCase[] {
  return [
    {
      name: `deploy a ${kind} to ${environment}`,
      table: 'definition_deployments',
      command: 'insert',
      setup: async (c) => ({ id: await fx.definition(c, kind) }),
      attempt: (c, ids) =>
        rows(
          c,
          `insert into definition_deployments (org_id, definition_id, kind, environment, version) values (app_public.current_org_id(), $1, $2, $3, 1)`,
          [ids.id, kind, environment],
        ),
    },
    {
      name: `redeploy a ${kind} in ${environment}`,
      table: 'definition_deployments',
      command: 'update',
      setup: async (c) => ({ id: await fx.deployment(c, kind, environment) }),
      attempt: (c, ids) =>
        rows(c, `update definition_deployments set deployed_at = now() where definition_id = $1 and environment = $2`, [
          ids.id,
          environment,
        ]),
    },
    {
      name: `withdraw a ${kind} from ${environment}`,
      table: 'definition_deployments',
      command: 'delete',
      setup: async (c) => ({ id: await fx.deployment(c, kind, environment) }),
      attempt: (c, ids) =>
        rows(c, `delete from definition_deployments where definition_id = $1 and environment = $2`, [ids.id, environment]),
    },
  ];
}

const connector = definitionCases('connector');
const workflow = definitionCases('workflow');
const agent = definitionCases('agent');
const tool = definitionCases('tool');

const peopleManage = (table: string, command: Command, attempt: SqlCase['attempt'], setup?: SqlCase['setup']): SqlCase => ({
  name: `${command} ${table}`,
  table,
  command,
  setup,
  attempt,
});

export const SQL_CASES: Record<Permission | typeof OWNER_CAPABILITIES | typeof UNGATED, Coverage> = {
  'connectors.create': { cases: [connector.create] },
  'connectors.read': { cases: [connector.read] },
  'connectors.update': { cases: [connector.update] },
  'connectors.delete': { cases: [connector.delete] },
  'connectors.deploy_test': { cases: deployCase('connector', 'test') },
  'connectors.deploy_prod': { cases: deployCase('connector', 'production') },

  'connections.create': {
    cases: [
      {
        name: 'connect an app (a personal connection)',
        table: 'connections',
        command: 'insert',
        setup: async (c) => ({ connector: await fx.definition(c, 'connector') }),
        attempt: (c, ids, w) =>
          rows(
            c,
            `insert into connections (org_id, customer_id, connector_id, name, scope, owner_user_id)
             values (app_public.current_org_id(), $1, $2, 'Mine', 'user', app_public.current_user_id())`,
            [w.customerId, ids.connector],
          ),
      },
    ],
  },
  'connections.read': {
    cases: [
      {
        name: 'read connections',
        table: 'connections',
        command: 'select',
        setup: async (c, w) => ({ id: await fx.connection(c, w, 'shared') }),
        attempt: (c, ids) => rows(c, 'select 1 from connections where id = $1', [ids.id]),
      },
    ],
  },
  'connections.update': {
    cases: [
      {
        name: 'rename a connection and replace its credentials',
        table: 'connections',
        command: 'update',
        setup: async (c, w) => ({ id: await fx.connection(c, w, 'shared') }),
        attempt: (c, ids) =>
          rows(
            c,
            `update connections set name = 'Renamed', credentials = '\\x00', token_expires_at = now() + interval '1 hour' where id = $1`,
            [ids.id],
          ),
      },
    ],
  },
  'connections.delete': {
    cases: [
      {
        name: 'delete a connection',
        table: 'connections',
        command: 'delete',
        setup: async (c, w) => ({ id: await fx.connection(c, w, 'shared') }),
        attempt: (c, ids) => rows(c, 'delete from connections where id = $1', [ids.id]),
      },
    ],
  },
  'connections.execute': {
    cases: [
      {
        name: 'queue an action on a connection',
        table: 'executions',
        command: 'insert',
        setup: async (c, w) => ({ id: await fx.connection(c, w, 'shared') }),
        attempt: (c, ids, w) =>
          rows(
            c,
            `insert into executions (org_id, customer_id, target_kind, connection_id, target_name)
             values (app_public.current_org_id(), $1, 'connection', $2, 'action')`,
            [w.customerId, ids.id],
          ),
      },
      {
        name: "record a connection test's outcome",
        table: 'connections',
        command: 'update',
        setup: async (c, w) => ({ id: await fx.connection(c, w, 'shared') }),
        attempt: (c, ids) => rows(c, `update connections set status = 'error', last_error = 'expired' where id = $1`, [ids.id]),
      },
    ],
  },
  'connections.share': {
    cases: [
      {
        name: 'share a personal connection with the customer',
        table: 'connections',
        command: 'update',
        setup: async (c, w) => ({ id: await fx.connection(c, w, 'user') }),
        attempt: (c, ids) => rows(c, `update connections set scope = 'shared' where id = $1`, [ids.id]),
      },
    ],
  },

  'workflows.create': { cases: [workflow.create] },
  'workflows.read': { cases: [workflow.read] },
  'workflows.update': {
    cases: [
      workflow.update,
      {
        name: 'add a version to a workflow',
        table: 'definition_versions',
        command: 'insert',
        setup: async (c) => ({ id: await fx.definition(c, 'workflow') }),
        attempt: (c, ids) =>
          rows(
            c,
            `insert into definition_versions (org_id, definition_id, version) values (app_public.current_org_id(), $1, 2)`,
            [ids.id],
          ),
      },
      {
        name: "rewrite a workflow's version",
        table: 'definition_versions',
        command: 'update',
        setup: async (c) => ({ id: await fx.definition(c, 'workflow') }),
        attempt: (c, ids) => rows(c, `update definition_versions set definition = '{"x":1}' where definition_id = $1`, [ids.id]),
      },
    ],
  },
  'workflows.delete': {
    cases: [
      workflow.delete,
      {
        name: "delete a workflow's version",
        table: 'definition_versions',
        command: 'delete',
        setup: async (c) => ({ id: await fx.definition(c, 'workflow') }),
        attempt: (c, ids) => rows(c, 'delete from definition_versions where definition_id = $1', [ids.id]),
      },
    ],
  },
  // Changing a run (progress, outcome) is a runner's, through migration 013's functions: the app
  // role has no UPDATE grant on executions (016), checked for every role in sql-matrix.test.ts.
  'workflows.execute': { cases: [workflow.execute] },
  'workflows.deploy_test': { cases: deployCase('workflow', 'test') },
  'workflows.deploy_prod': { cases: deployCase('workflow', 'production') },

  'agents.create': { cases: [agent.create] },
  'agents.read': { cases: [agent.read] },
  'agents.update': { cases: [agent.update] },
  'agents.delete': { cases: [agent.delete] },
  'agents.execute': { cases: [agent.execute] },

  'tools.create': { cases: [tool.create] },
  'tools.read': { cases: [tool.read] },
  'tools.update': { cases: [tool.update] },
  'tools.delete': { cases: [tool.delete] },
  'tools.execute': { cases: [tool.execute] },

  'executions.read': {
    cases: [
      {
        name: 'read executions',
        table: 'executions',
        command: 'select',
        setup: async (c, w) => ({ id: await fx.finishedExecution(c, w) }),
        attempt: (c, ids) => rows(c, 'select 1 from executions where id = $1', [ids.id]),
      },
    ],
  },
  'executions.retry': {
    cases: [
      {
        name: 'retry a finished run',
        table: 'executions',
        command: 'insert',
        setup: async (c, w) => ({ id: await fx.finishedExecution(c, w) }),
        attempt: (c, ids, w) =>
          rows(
            c,
            `insert into executions (org_id, customer_id, target_kind, target_name, retry_of)
             values (app_public.current_org_id(), $1, 'tool', 'ran', $2)`,
            [w.customerId, ids.id],
          ),
      },
    ],
  },

  'customers.read': {
    notEnforced:
      'every write and run checks its customer (status, limits) whatever the caller may read, and a staff ' +
      'request confined to a customer checks that customer exists; every system role holds it',
    probe: {
      name: 'read customers',
      table: 'customers',
      command: 'select',
      attempt: (c, _ids, w) => rows(c, 'select 1 from customers where id = $1', [w.customerId]),
    },
  },
  'customers.manage': {
    cases: [
      {
        name: 'create a customer',
        table: 'customers',
        command: 'insert',
        attempt: (c) =>
          rows(c, `insert into customers (org_id, name, slug) values (app_public.current_org_id(), $1, $2)`, [
            `New ${uid()}`,
            `n-${uid()}`,
          ]),
      },
      {
        name: 'suspend a customer',
        table: 'customers',
        command: 'update',
        setup: async (c) => ({ id: await fx.customer(c) }),
        attempt: (c, ids) => rows(c, `update customers set status = 'suspended' where id = $1`, [ids.id]),
      },
      {
        name: 'delete a customer',
        table: 'customers',
        command: 'delete',
        setup: async (c) => ({ id: await fx.customer(c) }),
        attempt: (c, ids) => rows(c, 'delete from customers where id = $1', [ids.id]),
      },
      {
        name: "invite a customer's administrator (an End User invitation)",
        table: 'invitations',
        command: 'insert',
        attempt: async (c, _ids, w) =>
          rows(
            c,
            `insert into invitations (org_id, email, role_id, customer_id, expires_at)
             select app_public.current_org_id(), $1, r.id, $2, now() + interval '7 days' from roles r where r.system_key = 'end_user'`,
            [`admin-${uid()}@example.test`, w.customerId],
          ),
      },
    ],
  },

  'people.read': {
    cases: [
      {
        name: 'read join requests',
        table: 'join_requests',
        command: 'select',
        setup: async (c, w) => ({ id: await fx.joinRequest(c, w) }),
        attempt: (c, ids) => rows(c, 'select 1 from join_requests where id = $1', [ids.id]),
      },
    ],
  },
  'people.manage': {
    cases: [
      // Project members: people.manage (Owner, Admin), or project.members.manage bound in the
      // workspace in use (app.project_permissions; test/graphql/project-matrix.test.ts).
      {
        name: 'give a member a project role in a workspace',
        table: 'project_members',
        command: 'insert',
        setup: async (c) => ({ id: await fx.workspace(c) }),
        attempt: (c, ids, w) =>
          rows(
            c,
            `insert into project_members (org_id, workspace_id, membership_id, system_role_key) values (app_public.current_org_id(), $1, $2, 'viewer')`,
            [ids.id, w.adminMembershipId],
          ),
      },
      {
        name: "change a member's project role",
        table: 'project_members',
        command: 'update',
        setup: async (c, w) => ({ id: await fx.projectMember(c, w.adminMembershipId) }),
        attempt: (c, ids) => rows(c, `update project_members set system_role_key = 'editor' where id = $1`, [ids.id]),
      },
      {
        name: 'remove a project member',
        table: 'project_members',
        command: 'delete',
        setup: async (c, w) => ({ id: await fx.projectMember(c, w.adminMembershipId) }),
        attempt: (c, ids) => rows(c, 'delete from project_members where id = $1', [ids.id]),
      },
      peopleManage('memberships', 'insert', async (c, _ids, w) =>
        rows(
          c,
          `insert into memberships (org_id, user_id, role_id) select app_public.current_org_id(), $1, id from roles where system_key = 'viewer'`,
          [w.outsiderUserId],
        ),
      ),
      peopleManage(
        'memberships',
        'update',
        (c, ids) => rows(c, `update memberships set status = 'inactive' where id = $1`, [ids.id]),
        async (c, w) => ({ id: await fx.member(c, w) }),
      ),
      peopleManage(
        'memberships',
        'delete',
        (c, ids) => rows(c, 'delete from memberships where id = $1', [ids.id]),
        async (c, w) => ({ id: await fx.member(c, w) }),
      ),
      peopleManage('invitations', 'insert', async (c) =>
        rows(
          c,
          `insert into invitations (org_id, email, role_id, expires_at)
           select app_public.current_org_id(), $1, id, now() + interval '7 days' from roles where system_key = 'viewer'`,
          [`invitee-${uid()}@example.test`],
        ),
      ),
      peopleManage(
        'invitations',
        'update',
        (c, ids) => rows(c, `update invitations set status = 'revoked' where id = $1`, [ids.id]),
        async (c) => ({ id: await fx.invitation(c) }),
      ),
      peopleManage(
        'invitations',
        'delete',
        (c, ids) => rows(c, 'delete from invitations where id = $1', [ids.id]),
        async (c) => ({ id: await fx.invitation(c) }),
      ),
      peopleManage(
        'invitation_teams',
        'insert',
        (c, ids) =>
          rows(c, `insert into invitation_teams (org_id, invitation_id, team_id) values (app_public.current_org_id(), $1, $2)`, [
            ids.invitation,
            ids.team,
          ]),
        async (c) => ({ invitation: await fx.invitation(c), team: await fx.team(c) }),
      ),
      peopleManage(
        'invitation_teams',
        'update',
        (c, ids) => rows(c, `update invitation_teams set team_id = $2 where invitation_id = $1`, [ids.invitation, ids.other]),
        async (c) => {
          const ids = { invitation: await fx.invitation(c), team: await fx.team(c), other: await fx.team(c) };
          await c.query(
            `insert into invitation_teams (org_id, invitation_id, team_id) values (app_public.current_org_id(), $1, $2)`,
            [ids.invitation, ids.team],
          );
          return ids;
        },
      ),
      peopleManage(
        'invitation_teams',
        'delete',
        (c, ids) => rows(c, 'delete from invitation_teams where invitation_id = $1', [ids.invitation]),
        async (c) => {
          const ids = { invitation: await fx.invitation(c), team: await fx.team(c) };
          await c.query(
            `insert into invitation_teams (org_id, invitation_id, team_id) values (app_public.current_org_id(), $1, $2)`,
            [ids.invitation, ids.team],
          );
          return ids;
        },
      ),
      peopleManage('join_requests', 'insert', (c, _ids, w) =>
        rows(
          c,
          `insert into join_requests (org_id, user_id, email) values (app_public.current_org_id(), $1, 'asker@example.test')`,
          [w.outsiderUserId],
        ),
      ),
      peopleManage(
        'join_requests',
        'update',
        (c, ids) => rows(c, `update join_requests set status = 'rejected', decided_at = now() where id = $1`, [ids.id]),
        async (c, w) => ({ id: await fx.joinRequest(c, w) }),
      ),
      peopleManage(
        'join_requests',
        'delete',
        (c, ids) => rows(c, 'delete from join_requests where id = $1', [ids.id]),
        async (c, w) => ({ id: await fx.joinRequest(c, w) }),
      ),
      peopleManage('teams', 'insert', (c) =>
        rows(c, `insert into teams (org_id, name) values (app_public.current_org_id(), $1)`, [`Team ${uid()}`]),
      ),
      peopleManage(
        'teams',
        'update',
        (c, ids) => rows(c, `update teams set description = 'edited' where id = $1`, [ids.id]),
        async (c) => ({ id: await fx.team(c) }),
      ),
      peopleManage(
        'teams',
        'delete',
        (c, ids) => rows(c, 'delete from teams where id = $1', [ids.id]),
        async (c) => ({ id: await fx.team(c) }),
      ),
      peopleManage(
        'team_members',
        'insert',
        (c, ids, w) =>
          rows(c, `insert into team_members (org_id, team_id, membership_id) values (app_public.current_org_id(), $1, $2)`, [
            ids.team,
            w.adminMembershipId,
          ]),
        async (c) => ({ team: await fx.team(c) }),
      ),
      peopleManage(
        'team_members',
        'update',
        (c, ids) => rows(c, `update team_members set team_id = $2 where team_id = $1`, [ids.team, ids.other]),
        async (c, w) => {
          const ids = { team: await fx.team(c), other: await fx.team(c) };
          await c.query(
            `insert into team_members (org_id, team_id, membership_id) values (app_public.current_org_id(), $1, $2)`,
            [ids.team, w.adminMembershipId],
          );
          return ids;
        },
      ),
      peopleManage(
        'team_members',
        'delete',
        (c, ids) => rows(c, 'delete from team_members where team_id = $1', [ids.team]),
        async (c, w) => {
          const ids = { team: await fx.team(c) };
          await c.query(
            `insert into team_members (org_id, team_id, membership_id) values (app_public.current_org_id(), $1, $2)`,
            [ids.team, w.adminMembershipId],
          );
          return ids;
        },
      ),
    ],
  },
  'roles.manage': {
    cases: [
      {
        name: 'create a custom role',
        table: 'roles',
        command: 'insert',
        attempt: (c) => rows(c, `insert into roles (org_id, name) values (app_public.current_org_id(), $1)`, [`Role ${uid()}`]),
      },
      {
        name: 'rename a custom role',
        table: 'roles',
        command: 'update',
        setup: async (c) => ({ id: await fx.customRole(c) }),
        attempt: (c, ids) => rows(c, `update roles set name = $2 where id = $1`, [ids.id, `Renamed ${uid()}`]),
      },
      {
        name: 'delete a custom role',
        table: 'roles',
        command: 'delete',
        setup: async (c) => ({ id: await fx.customRole(c) }),
        attempt: (c, ids) => rows(c, 'delete from roles where id = $1', [ids.id]),
      },
      {
        name: 'grant a permission to a custom role',
        table: 'role_permissions',
        command: 'insert',
        setup: async (c) => ({ id: await fx.customRole(c) }),
        attempt: (c, ids) =>
          rows(
            c,
            `insert into role_permissions (org_id, role_id, permission_key) values (app_public.current_org_id(), $1, 'tools.read')`,
            [ids.id],
          ),
      },
      {
        name: "change a custom role's grant",
        table: 'role_permissions',
        command: 'update',
        setup: async (c) => ({ id: await fx.customRole(c) }),
        attempt: (c, ids) => rows(c, `update role_permissions set permission_key = 'agents.read' where role_id = $1`, [ids.id]),
      },
      {
        name: "revoke a custom role's grant",
        table: 'role_permissions',
        command: 'delete',
        setup: async (c) => ({ id: await fx.customRole(c) }),
        attempt: (c, ids) => rows(c, 'delete from role_permissions where role_id = $1', [ids.id]),
      },
      {
        name: 'create a custom project role',
        table: 'project_roles',
        command: 'insert',
        attempt: (c) =>
          rows(c, 'insert into project_roles (org_id, name) values (app_public.current_org_id(), $1)', [`PR ${uid()}`]),
      },
      {
        name: 'rename a custom project role',
        table: 'project_roles',
        command: 'update',
        setup: async (c) => ({ id: await fx.projectRole(c) }),
        attempt: (c, ids) => rows(c, 'update project_roles set name = $2 where id = $1', [ids.id, `Renamed ${uid()}`]),
      },
      {
        name: 'delete a custom project role',
        table: 'project_roles',
        command: 'delete',
        setup: async (c) => ({ id: await fx.projectRole(c) }),
        attempt: (c, ids) => rows(c, 'delete from project_roles where id = $1', [ids.id]),
      },
      {
        name: 'grant a project permission to a custom project role',
        table: 'project_role_permissions',
        command: 'insert',
        setup: async (c) => ({ id: await fx.projectRole(c) }),
        attempt: (c, ids) =>
          rows(
            c,
            `insert into project_role_permissions (org_id, role_id, permission_key) values (app_public.current_org_id(), $1, 'project.runs.read')`,
            [ids.id],
          ),
      },
      {
        name: "change a custom project role's grant",
        table: 'project_role_permissions',
        command: 'update',
        setup: async (c) => ({ id: await fx.projectRole(c) }),
        attempt: (c, ids) =>
          rows(c, `update project_role_permissions set permission_key = 'project.runs.retry' where role_id = $1`, [ids.id]),
      },
      {
        name: "revoke a custom project role's grant",
        table: 'project_role_permissions',
        command: 'delete',
        setup: async (c) => ({ id: await fx.projectRole(c) }),
        attempt: (c, ids) => rows(c, 'delete from project_role_permissions where role_id = $1', [ids.id]),
      },
    ],
  },
  'audit_log.read': {
    cases: [
      {
        name: 'read the audit trail',
        table: 'audit_events',
        command: 'select',
        setup: async (c) => {
          await fx.auditEvent(c);
          return {};
        },
        attempt: (c) => rows(c, `select 1 from audit_events where action = 'fixture.event'`),
      },
      {
        // Seals (migration 015) are filed by the sealer: the system (no user, no principal) holding
        // audit_log.read. The attempt drops the actor's user and principal, keeping its access and
        // permissions, so what the matrix checks is the permission; test/audit/ checks that a
        // request bound to a user can never file one.
        name: 'file an audit seal as the sealer',
        table: 'audit_seals',
        command: 'insert',
        attempt: async (c) => {
          await c.query(
            `select set_config('app.user_id', '', true), set_config('app.principal_kind', '', true), set_config('app.principal_id', '', true)`,
          );
          return rows(
            c,
            `insert into audit_seals (org_id, seal_no, xact_from, xact_to, event_count, first_seq, last_seq, first_at, last_at,
               prev_head, head, manifest, key_id, sealed_at, mac)
             values (app_public.current_org_id(), 1000000 + (random() * 1000000)::int, 0, 1, 1, 1, 1, now(), now(),
               '\\x00', '\\x00', '\\x', 'k', now(), '\\x00')`,
          );
        },
      },
      {
        name: 'read the audit seals and purge checkpoints',
        table: 'audit_seals',
        command: 'select',
        setup: async (c) => {
          // As the Owner's binding (user bound): the sealer's is needed to file one.
          await c.query(
            `select set_config('app.user_id', '', true), set_config('app.principal_kind', '', true), set_config('app.principal_id', '', true)`,
          );
          await c.query(
            `insert into audit_seals (org_id, seal_no, xact_from, xact_to, event_count, first_seq, last_seq, first_at, last_at,
               prev_head, head, manifest, key_id, sealed_at, mac)
             values (app_public.current_org_id(), 1, 0, 1, 1, 1, 1, now(), now(), '\\x00', '\\x00', '\\x', 'k', now(), '\\x00')`,
          );
          return {};
        },
        attempt: (c) => rows(c, `select 1 from audit_seals where key_id = 'k'`),
      },
      {
        // Chain tips (migration 019): filed by the sealer's binding only, like seals.
        name: 'file a chain tip as the sealer',
        table: 'audit_seal_tips',
        command: 'insert',
        attempt: async (c) => {
          await c.query(
            `select set_config('app.user_id', '', true), set_config('app.principal_kind', '', true), set_config('app.principal_id', '', true)`,
          );
          return rows(
            c,
            `insert into audit_seal_tips (org_id, seal_no, xact_to, head, unsigned_upto_seq, key_id, written_at, mac)
             values (app_public.current_org_id(), 1000000 + (random() * 1000000)::int, 1, '\\x00', 0, 'k', now(), '\\x00')`,
          );
        },
      },
      {
        name: 'read the chain tips',
        table: 'audit_seal_tips',
        command: 'select',
        setup: async (c) => {
          await c.query(
            `select set_config('app.user_id', '', true), set_config('app.principal_kind', '', true), set_config('app.principal_id', '', true)`,
          );
          await c.query(
            `insert into audit_seal_tips (org_id, seal_no, xact_to, head, unsigned_upto_seq, key_id, written_at, mac)
             values (app_public.current_org_id(), 1, 1, '\\x00', 0, 'k', now(), '\\x00')`,
          );
          return {};
        },
        attempt: (c) => rows(c, `select 1 from audit_seal_tips where key_id = 'k'`),
      },
    ],
  },
  'billing.manage': {
    cases: [
      {
        name: "set a customer's limits",
        table: 'customers',
        command: 'update',
        setup: async (c) => ({ id: await fx.customer(c) }),
        attempt: (c, ids) =>
          rows(c, 'update customers set max_connections = 3, max_executions_per_month = 100 where id = $1', [ids.id]),
      },
    ],
  },
  'settings.manage': {
    cases: [
      {
        name: "update the organization's settings",
        table: 'organizations',
        command: 'update',
        attempt: (c) => rows(c, `update organizations set timezone = 'Europe/Berlin' where id = app_public.current_org_id()`),
      },
      {
        name: 'create an API key (its identity, then the key with only a hash of its secret)',
        table: 'service_principals',
        command: 'insert',
        setup: async (c) => ({ role: await fx.viewerRole(c), id: randomUUID() }),
        attempt: (c, ids) =>
          rows(
            c,
            `insert into service_principals (org_id, id, kind, name, user_id, role_id, environment, public_id, secret_hash)
             values (app_public.current_org_id(), $1, 'api_key', 'key', app_private.create_service_identity($1, 'key'), $2, 'live',
                     substr(md5($1::text), 1, 16), sha256('secret'::bytea))`,
            [ids.id, ids.role],
          ),
      },
      {
        name: 'revoke (or rotate) an API key',
        table: 'service_principals',
        command: 'update',
        setup: async (c) => {
          const id = randomUUID();
          await c.query(
            `insert into service_principals (org_id, id, kind, name, user_id, role_id, environment, public_id, secret_hash)
             values (app_public.current_org_id(), $1, 'api_key', 'key', app_private.create_service_identity($1, 'key'), $2, 'live',
                     substr(md5($1::text), 1, 16), sha256('secret'::bytea))`,
            [id, await fx.viewerRole(c)],
          );
          return { id };
        },
        attempt: (c, ids) => rows(c, 'update service_principals set revoked_at = now() where id = $1', [ids.id]),
      },
      {
        name: 'create a workspace',
        table: 'workspaces',
        command: 'insert',
        attempt: (c) =>
          rows(c, 'insert into workspaces (org_id, name) values (app_public.current_org_id(), $1)', [`Space ${uid()}`]),
      },
      {
        name: 'rename a workspace',
        table: 'workspaces',
        command: 'update',
        setup: async (c) => ({ id: await fx.workspace(c) }),
        attempt: (c, ids) => rows(c, 'update workspaces set name = $2 where id = $1', [ids.id, `Renamed ${uid()}`]),
      },
      {
        name: 'delete a workspace',
        table: 'workspaces',
        command: 'delete',
        setup: async (c) => ({ id: await fx.workspace(c) }),
        attempt: (c, ids) => rows(c, 'delete from workspaces where id = $1', [ids.id]),
      },
      {
        name: "configure a workspace's git repository",
        table: 'git_repositories',
        command: 'insert',
        setup: async (c) => ({ id: await fx.workspace(c) }),
        attempt: (c, ids) =>
          rows(
            c,
            `insert into git_repositories (org_id, workspace_id, url, branch) values (app_public.current_org_id(), $1, 'https://git.example/r.git', 'main')`,
            [ids.id],
          ),
      },
      {
        name: "record a workspace's synced commit",
        table: 'git_repositories',
        command: 'update',
        setup: async (c) => ({ id: await fx.gitRepository(c) }),
        attempt: (c, ids) =>
          rows(c, `update git_repositories set synced_commit = repeat('a', 40) where workspace_id = $1`, [ids.id]),
      },
      {
        name: "remove a workspace's git repository",
        table: 'git_repositories',
        command: 'delete',
        setup: async (c) => ({ id: await fx.gitRepository(c) }),
        attempt: (c, ids) => rows(c, 'delete from git_repositories where workspace_id = $1', [ids.id]),
      },
    ],
  },

  [OWNER_CAPABILITIES]: {
    cases: [
      {
        name: 'transfer ownership (the Owner becomes an Admin, an Admin the Owner)',
        table: 'memberships',
        command: 'update',
        attempt: (c, _ids, w) =>
          rows(
            c,
            `update memberships m set role_id = r.id
             from roles r where r.org_id = m.org_id and r.system_key = case when m.id = $1 then 'owner' else 'admin' end
               and m.id in ($1, $2)`,
            [w.adminMembershipId, w.ownerMembershipId],
          ),
      },
      {
        name: 'delete the organization',
        table: 'organizations',
        command: 'delete',
        attempt: (c) => rows(c, 'delete from organizations where id = app_public.current_org_id()'),
      },
    ],
  },
  [UNGATED]: {
    cases: [
      {
        name: 'record an audit event as yourself',
        table: 'audit_events',
        command: 'insert',
        attempt: (c, _ids, w) =>
          rows(
            c,
            `insert into audit_events (org_id, actor_type, actor_user_id, action, resource_type, outcome, customer_id)
             values (app_public.current_org_id(), 'user', app_public.current_user_id(), 'auth.login', 'session', 'success',
                     case when app_public.current_access() = 'customer' then $1::uuid end)`,
            [w.customerId],
          ),
      },
      {
        name: 'record your sign-in session',
        table: 'sign_in_sessions',
        command: 'insert',
        attempt: (c) =>
          rows(
            c,
            `insert into sign_in_sessions (org_id, session_key, user_id) values (app_public.current_org_id(), $1, app_public.current_user_id())`,
            [`sid-${uid()}`],
          ),
      },
      {
        // Idempotency keys are the caller's own (migration 004): claimed, completed, or freed.
        name: 'claim an idempotency key as yourself',
        table: 'idempotency_keys',
        command: 'insert',
        attempt: (c) => rows(c, claimIdempotencyKey, [`key-${uid()}`]),
      },
      {
        name: 'store the result under your idempotency key',
        table: 'idempotency_keys',
        command: 'update',
        attempt: async (c) => {
          const key = `key-${uid()}`;
          await c.query(claimIdempotencyKey, [key]);
          return rows(
            c,
            `update idempotency_keys set result = '{}' where idempotency_key = $1 and user_id = app_public.current_user_id()`,
            [key],
          );
        },
      },
      {
        name: 'free your idempotency key',
        table: 'idempotency_keys',
        command: 'delete',
        attempt: async (c) => {
          const key = `key-${uid()}`;
          await c.query(claimIdempotencyKey, [key]);
          return rows(c, `delete from idempotency_keys where idempotency_key = $1 and user_id = app_public.current_user_id()`, [
            key,
          ]);
        },
      },
      {
        name: 'create an organization (bound to the new one, as its creator)',
        table: 'organizations',
        command: 'insert',
        attempt: async (c) => {
          const id = randomUUID();
          await c.query(`select set_config('app.org_id', $1, true), set_config('app.role', 'staff', true)`, [id]);
          return rows(c, `insert into organizations (id, name, created_by) values ($1, 'New', app_public.current_user_id())`, [
            id,
          ]);
        },
      },
    ],
  },
};

/** Every case of the registry with the key it is filed under. */
export interface FiledCase {
  key: string;
  coverage: 'enforced' | 'not enforced';
  case: SqlCase;
}

export function allCases(): FiledCase[] {
  return Object.entries(SQL_CASES).flatMap(([key, coverage]): FiledCase[] =>
    'cases' in coverage
      ? coverage.cases.map((c) => ({ key, coverage: 'enforced', case: c }))
      : [{ key, coverage: 'not enforced', case: coverage.probe }],
  );
}
