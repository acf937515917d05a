/**
 * The database's copy of the role matrix (permission categories, permissions, system roles and
 * their grants), rewritten from src/authz/permissions.ts at every migrate. Organizations' system
 * role rows point at this catalogue, so a matrix change reaches every organization at once.
 */
import type pg from 'pg';
import { CATEGORIES, PERMISSIONS, PROJECT_PERMISSIONS, SYSTEM_PROJECT_ROLES, SYSTEM_ROLES } from '../authz/permissions.js';

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function syncCatalogue(client: pg.ClientBase): Promise<void> {
  await client.query('begin');
  try {
    await client.query(
      `insert into app_public.permission_categories (key, name, grouping, description, position)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
       on conflict (key) do update set name = excluded.name, grouping = excluded.grouping,
         description = excluded.description, position = excluded.position`,
      [
        CATEGORIES.map((c) => c.key),
        CATEGORIES.map((c) => c.name),
        CATEGORIES.map((c) => c.group),
        CATEGORIES.map((c) => c.description),
        CATEGORIES.map((_, i) => i),
      ],
    );
    await client.query(
      `insert into app_public.permissions (key, category, action, description, position)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
       on conflict (key) do update set category = excluded.category, action = excluded.action,
         description = excluded.description, position = excluded.position`,
      [
        PERMISSIONS.map((p) => p.key),
        PERMISSIONS.map((p) => p.category),
        PERMISSIONS.map((p) => p.action),
        PERMISSIONS.map((p) => p.description),
        PERMISSIONS.map((_, i) => i),
      ],
    );
    await client.query('delete from app_public.permissions where key <> all($1::text[])', [PERMISSIONS.map((p) => p.key)]);
    await client.query('delete from app_public.permission_categories where key <> all($1::text[])', [
      CATEGORIES.map((c) => c.key),
    ]);
    await client.query(
      `insert into app_public.system_roles (key, name, description, customer_confined, position)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::int[])
       on conflict (key) do update set name = excluded.name, description = excluded.description,
         customer_confined = excluded.customer_confined, position = excluded.position`,
      [
        SYSTEM_ROLES.map((r) => r.key),
        SYSTEM_ROLES.map((r) => r.name),
        SYSTEM_ROLES.map((r) => r.description),
        SYSTEM_ROLES.map((r) => r.customerConfined),
        SYSTEM_ROLES.map((_, i) => i),
      ],
    );
    const pairs = SYSTEM_ROLES.flatMap((r) => r.permissions.map((p) => [r.key, p] as const));
    await client.query('delete from app_public.system_role_permissions');
    await client.query(
      `insert into app_public.system_role_permissions (role_key, permission_key)
       select * from unnest($1::text[], $2::text[])`,
      [pairs.map(([r]) => r), pairs.map(([, p]) => p)],
    );
    await syncProjectCatalogue(client);
    // A system role may have changed: every cached principal, in every organization, is stale.
    await client.query(
      `insert into app_private.authz_versions (org_id, version) values ('00000000-0000-0000-0000-000000000000', 1)
       on conflict (org_id) do update set version = app_private.authz_versions.version + 1`,
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
}

/** Project permissions and the system project roles (DESIGN §3b), from the same module. */
async function syncProjectCatalogue(client: pg.ClientBase): Promise<void> {
  await client.query(
    `insert into app_public.project_permissions (key, grouping, label, position)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::int[])
     on conflict (key) do update set grouping = excluded.grouping, label = excluded.label, position = excluded.position`,
    [
      PROJECT_PERMISSIONS.map((p) => p.key),
      PROJECT_PERMISSIONS.map((p) => p.group),
      PROJECT_PERMISSIONS.map((p) => p.label),
      PROJECT_PERMISSIONS.map((_, i) => i),
    ],
  );
  await client.query('delete from app_public.project_permissions where key <> all($1::text[])', [
    PROJECT_PERMISSIONS.map((p) => p.key),
  ]);
  await client.query(
    `insert into app_public.system_project_roles (key, name, description, position)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::int[])
     on conflict (key) do update set name = excluded.name, description = excluded.description, position = excluded.position`,
    [
      SYSTEM_PROJECT_ROLES.map((r) => r.key),
      SYSTEM_PROJECT_ROLES.map((r) => r.name),
      SYSTEM_PROJECT_ROLES.map((r) => r.description),
      SYSTEM_PROJECT_ROLES.map((_, i) => i),
    ],
  );
  const pairs = SYSTEM_PROJECT_ROLES.flatMap((r) => r.permissions.map((p) => [r.key, p] as const));
  await client.query('delete from app_public.system_project_role_permissions');
  await client.query(
    `insert into app_public.system_project_role_permissions (role_key, permission_key) select * from unnest($1::text[], $2::text[])`,
    [pairs.map(([r]) => r), pairs.map(([, p]) => p)],
  );
}

/** Refuses to serve with a catalogue that differs from this build's matrix. */
export async function verifyCatalogue(db: Queryable): Promise<void> {
  const { rows } = await db.query<{ role_key: string; permission_key: string }>(
    'select role_key, permission_key from app_public.system_role_permissions',
  );
  const inDb = new Set(rows.map((r) => `${r.role_key}:${r.permission_key}`));
  const inCode = new Set(SYSTEM_ROLES.flatMap((r) => r.permissions.map((p) => `${r.key}:${p}`)));
  const projectRows = await db.query<{ role_key: string; permission_key: string }>(
    'select role_key, permission_key from app_public.system_project_role_permissions',
  );
  for (const r of projectRows.rows) inDb.add(`project:${r.role_key}:${r.permission_key}`);
  for (const r of SYSTEM_PROJECT_ROLES) for (const p of r.permissions) inCode.add(`project:${r.key}:${p}`);
  const same = inDb.size === inCode.size && [...inCode].every((k) => inDb.has(k));
  if (!same) {
    throw new Error(
      'The permission catalogue in the database differs from this build. Run `npm run migrate` (as the owner) first.',
    );
  }
}
