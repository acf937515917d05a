/**
 * Migration 010 on a database that already has data: every existing organization gets its
 * default workspace, every existing definition lands in it (its updated_at untouched), and the
 * tables the backfill briefly un-forced are forced again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { APP_ROLE } from '../../src/db/bootstrap.js';
import { createUnmigratedDatabase, type UnmigratedDatabase } from '../helpers/unmigrated-database.js';

let db: UnmigratedDatabase;
let owner: UnmigratedDatabase['owner'];
let superuser: UnmigratedDatabase['superuser'];

beforeAll(async () => {
  db = await createUnmigratedDatabase('backfill');
  ({ owner, superuser } = db);
});
afterAll(() => db?.drop());

const apply = (which: (id: number) => boolean) => db.apply(which);

it('puts existing definitions into their organization’s new default workspace', async () => {
  await apply((id) => id < 10);
  // Just enough of the catalogue for an organization's one Owner (the migrate step writes the rest).
  await owner.query(
    `insert into app_public.system_roles (key, name, description, customer_confined, position) values ('owner', 'Owner', '', false, 0)`,
  );
  const user = (
    await owner.query<{ id: string }>(`select app_private.ensure_user('https://issuer.test', $1, null, false, 'Olga') as id`, [
      randomUUID(),
    ])
  ).rows[0]!.id;
  const orgs = [randomUUID(), randomUUID()];
  const definitions: { id: string; org: string; updated_at: Date }[] = [];
  for (const org of orgs) {
    await owner.query('begin');
    await owner.query(`select set_config('app.org_id', $1, true), set_config('app.role', 'staff', true)`, [org]);
    await owner.query(`insert into app_public.organizations (id, name) values ($1, 'Before workspaces')`, [org]);
    const role = (
      await owner.query<{ id: string }>(
        `insert into app_public.roles (org_id, system_key, name) values ($1, 'owner', 'Owner') returning id`,
        [org],
      )
    ).rows[0]!.id;
    await owner.query('insert into app_public.memberships (org_id, user_id, role_id) values ($1, $2, $3)', [org, user, role]);
    for (const kind of ['workflow', 'agent']) {
      const { rows } = await owner.query<{ id: string; updated_at: Date }>(
        `insert into app_public.definitions (org_id, kind, name, updated_at) values ($1, $2, $3, now() - interval '3 days') returning id, updated_at`,
        [org, kind, `${kind} ${org.slice(0, 4)}`],
      );
      definitions.push({ ...rows[0]!, org });
    }
    await owner.query('commit');
  }

  await apply((id) => id >= 10);

  {
    const workspaces = (
      await superuser.query<{ org_id: string; id: string; name: string; is_default: boolean }>(
        'select org_id, id, name, is_default from app_public.workspaces order by org_id',
      )
    ).rows;
    expect(workspaces.map((w) => [w.org_id, w.name, w.is_default])).toEqual(
      [...orgs].sort().map((org) => [org, 'Default', true]),
    );
    const after = (
      await superuser.query<{ id: string; org_id: string; workspace_id: string; updated_at: Date }>(
        'select id, org_id, workspace_id, updated_at from app_public.definitions',
      )
    ).rows;
    expect(after).toHaveLength(4);
    for (const row of after) {
      expect(row.workspace_id).toBe(workspaces.find((w) => w.org_id === row.org_id)!.id);
      expect(row.updated_at).toEqual(definitions.find((d) => d.id === row.id)!.updated_at);
    }
    const forced = (
      await superuser.query<{ relname: string; relforcerowsecurity: boolean }>(
        `select relname, relforcerowsecurity from pg_class where relnamespace = 'app_public'::regnamespace
         and relname in ('organizations', 'workspaces', 'definitions', 'project_members', 'project_roles', 'git_repositories')`,
      )
    ).rows;
    expect(forced).toHaveLength(6);
    expect(forced.every((r) => r.relforcerowsecurity)).toBe(true);
    // The app role owns nothing and bypasses nothing: the default workspace is invisible unbound.
    const role = (
      await superuser.query<{ rolbypassrls: boolean }>('select rolbypassrls from pg_roles where rolname = $1', [APP_ROLE])
    ).rows[0]!;
    expect(role.rolbypassrls).toBe(false);
  }
});
