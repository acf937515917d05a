/**
 * The seeds' "Manage User Roles" page as a story: a client draws the Project Roles table from
 * the public catalogue (and it is the seeds' table, row for row); an Admin creates a custom
 * project role under Platform Admin → Security → Project Roles (the seeds' tip: view and retry
 * runs without editing flows) with the guards; a workspace Admin adds people and a team; each
 * sees, in the workspace, their project role and where their permissions come from.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { connectionQuery, expectWalk, type ConnectionData, type PageArgs } from '../helpers/paging.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let org: SeededOrg;
let workspace: string;

beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Pieces', { workflows: 1 });
  workspace = await t.world.workspace(org, 'Marketing');
});
afterAll(() => t?.stop());

async function send(member: SeededMember, query: string, variables: Record<string, unknown> = {}, inWorkspace = true) {
  return t.client.request(query, variables, {
    token: await t.world.token(member),
    orgId: org.id,
    headers: inWorkspace ? { 'x-workspace-id': workspace } : {},
  });
}

/** The seeds' table (seeds/003 and 004), as a reader sees it. */
const SEEDS_TABLE = `
| Permission | Admin | Editor | Operator | Viewer |
| **Flows** |
| View Flows | ✓ | ✓ | ✓ | ✓ |
| Edit Flows | ✓ | ✓ |  |  |
| Publish / Toggle Flows | ✓ | ✓ | ✓ |  |
| **Runs** |
| View Runs | ✓ | ✓ | ✓ | ✓ |
| Retry Runs | ✓ | ✓ | ✓ |  |
| **Connections** |
| View Connections | ✓ | ✓ | ✓ | ✓ |
| Edit Connections | ✓ | ✓ | ✓ |  |
| **Team** |
| View Project Members | ✓ | ✓ | ✓ | ✓ |
| Add/Remove Project Members | ✓ |  |  |  |
| **Git Sync** |
| Configure Git Repo | ✓ |  |  |  |
| Pull Flows from Git | ✓ |  |  |  |
| Push Flows to Git | ✓ |  |  |  |`.trim();

describe('the Project Roles table', () => {
  it('is drawn from the public catalogue, exactly as the seeds show it (Admin 12, Editor 8, Operator 7, Viewer 4)', async () => {
    const response = await t.client.request(`{ projectPermissionCatalogue {
      roles { key name permissionCount }
      groups { group { name } rows { permission { key label } roles { role { name } granted } } } } }`);
    const catalogue = expectData(response) as {
      projectPermissionCatalogue: {
        roles: { name: string; permissionCount: number }[];
        groups: { group: { name: string }; rows: { permission: { label: string }; roles: { granted: boolean }[] }[] }[];
      };
    };
    const { roles, groups } = catalogue.projectPermissionCatalogue;
    const drawn = [
      `| Permission | ${roles.map((r) => r.name).join(' | ')} |`,
      ...groups.flatMap((g) => [
        `| **${g.group.name}** |`,
        ...g.rows.map((r) => `| ${r.permission.label} | ${r.roles.map((c) => (c.granted ? '✓' : '')).join(' | ')} |`),
      ]),
    ].join('\n');
    expect(drawn).toBe(SEEDS_TABLE);
    expect(roles.map((r) => [r.name, r.permissionCount])).toEqual([
      ['Admin', 12],
      ['Editor', 8],
      ['Operator', 7],
      ['Viewer', 4],
    ]);
  });
});

describe('custom project roles (Platform Admin → Security → Project Roles)', () => {
  let retrier: string;

  it('an Admin creates "view and retry runs without editing flows"', async () => {
    const created = expectData(
      await send(
        org.members.admin,
        `mutation { createProjectRole(input: { name: "Run Retrier", permissions: ["project.runs.retry", "project.flows.read", "project.runs.read"] }) {
          id name isSystem permissions groups { group { key } granted total } } }`,
        {},
        false,
      ),
    ) as {
      createProjectRole: {
        id: string;
        permissions: string[];
        groups: { group: { key: string }; granted: number; total: number }[];
      };
    };
    retrier = created.createProjectRole.id;
    expect(created.createProjectRole.permissions).toEqual(['project.flows.read', 'project.runs.read', 'project.runs.retry']);
    expect(created.createProjectRole.groups.map((g) => `${g.group.key} ${g.granted}/${g.total}`)).toEqual([
      'flows 1/3',
      'runs 2/2',
      'connections 0/2',
      'team 0/2',
      'git_sync 0/3',
    ]);
  });

  it('guards names, keys, system roles and escalation', async () => {
    const create = (name: string, permissions: string[], who = org.members.admin) =>
      send(
        who,
        'mutation($n: String!, $p: [String!]!) { createProjectRole(input: { name: $n, permissions: $p }) { id } }',
        { n: name, p: permissions },
        false,
      );
    expect(errorCodes(await create('run retrier', ['project.runs.read']))).toEqual(['CONFLICT']);
    expect(errorCodes(await create('Editor', ['project.runs.read']))).toEqual(['CONFLICT']);
    const unknown = await create(`Odd ${randomUUID().slice(0, 4)}`, ['project.flows.fly']);
    expect(errorCodes(unknown)).toEqual(['BAD_USER_INPUT']);
    expect(unknown.body.errors![0]!.extensions!.field).toBe('input.permissions');
    // A custom organization role with roles.manage but no git rights cannot hand git rights out.
    const { member: manager } = await t.world.customRole(org, 'Role manager', ['roles.manage', 'workflows.read', 'people.read']);
    const escalation = await create(`Gitter ${randomUUID().slice(0, 4)}`, ['project.git.push'], manager);
    expect(errorCodes(escalation)).toEqual(['FORBIDDEN']);
    expect(escalation.body.errors![0]!.extensions!.missing).toEqual(['project.git.push']);
    const system = await send(
      org.members.admin,
      'mutation { updateProjectRole(input: { id: "editor", name: "Writer" }) { id } }',
      {},
      false,
    );
    expect(errorCodes(system)).toEqual(['FORBIDDEN']);
    expect(
      errorCodes(
        await send(org.members.developer, 'mutation { duplicateProjectRole(input: { id: "viewer" }) { id } }', {}, false),
      ),
    ).toEqual(['FORBIDDEN']);
    const copy = expectData(
      await send(
        org.members.admin,
        'mutation { duplicateProjectRole(input: { id: "operator" }) { name permissions } }',
        {},
        false,
      ),
    ) as { duplicateProjectRole: { name: string; permissions: string[] } };
    expect(copy.duplicateProjectRole.name).toBe('Operator (custom)');
    expect(copy.duplicateProjectRole.permissions).toHaveLength(7);
  });

  it('gives people and teams project roles in a workspace, and shows each their role and sources', async () => {
    const viewer = await t.world.member(org, 'viewer', 'Vera');
    const teamMember = await t.world.member(org, 'viewer', 'Tom');
    const teamId = await t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>("insert into teams (org_id, name) values ($1, 'Publishers') returning id", [
        org.id,
      ]);
      await db.query('insert into team_members (org_id, team_id, membership_id) values ($1, $2, $3)', [
        org.id,
        rows[0]!.id,
        teamMember.membershipId,
      ]);
      return rows[0]!.id;
    });
    const add = 'mutation($input: AddProjectMemberInput!) { addProjectMember(input: $input) { id kind name role { name } } }';
    // The Owner holds every project permission in every workspace.
    const added = expectData(
      await send(org.members.owner, add, { input: { memberId: viewer.membershipId, roleId: retrier } }),
    ) as {
      addProjectMember: { id: string; kind: string; role: { name: string } };
    };
    expect(added.addProjectMember).toMatchObject({ kind: 'MEMBER', role: { name: 'Run Retrier' } });
    expectData(await send(org.members.owner, add, { input: { teamId, roleId: 'operator' } }));
    expect(
      errorCodes(await send(org.members.owner, add, { input: { memberId: viewer.membershipId, roleId: 'viewer' } })),
    ).toEqual(['CONFLICT']);
    expect(
      errorCodes(
        await send(org.members.owner, add, { input: { memberId: org.members.end_user.membershipId, roleId: 'viewer' } }),
      ),
    ).toEqual(['BAD_USER_INPUT']);

    const VIEWER = `{ viewer { permissions workspace { name projectPermissions translatedPermissions
      projectRoles { role { name } teamName } projectPermissionSources { permission sources { kind name } } }
      permissionSources { permission sources { kind name } } } }`;
    type ViewerData = {
      viewer: {
        permissions: string[];
        workspace: {
          name: string;
          projectPermissions: string[];
          translatedPermissions: string[];
          projectRoles: { role: { name: string }; teamName: string | null }[];
          projectPermissionSources: { permission: string; sources: { kind: string; name: string }[] }[];
        };
        permissionSources: { permission: string; sources: { kind: string; name: string }[] }[];
      };
    };
    const vera = (expectData(await send(viewer, VIEWER)) as ViewerData).viewer;
    expect(vera.workspace.name).toBe('Marketing');
    expect(vera.workspace.projectRoles).toEqual([{ role: { name: 'Run Retrier' }, teamName: null }]);
    expect(vera.workspace.translatedPermissions).toEqual(['executions.retry']);
    expect(vera.permissions).toContain('executions.retry');
    expect(vera.permissionSources.find((p) => p.permission === 'executions.retry')!.sources).toEqual([
      { kind: 'PROJECT_ROLE', name: 'Run Retrier' },
    ]);
    // Outside the workspace she is a plain Viewer again.
    const plain = (
      expectData(await send(viewer, '{ viewer { permissions workspace { name } } }', {}, false)) as {
        viewer: { permissions: string[]; workspace: null };
      }
    ).viewer;
    expect(plain.workspace).toBeNull();
    expect(plain.permissions).not.toContain('executions.retry');

    const tom = (expectData(await send(teamMember, VIEWER)) as ViewerData).viewer;
    expect(tom.workspace.projectRoles).toEqual([{ role: { name: 'Operator' }, teamName: 'Publishers' }]);
    expect(tom.workspace.projectPermissions).toHaveLength(7);
    expect(tom.workspace.projectPermissionSources.find((p) => p.permission === 'project.flows.publish')!.sources).toEqual([
      { kind: 'PROJECT_ROLE', name: 'Operator (team Publishers)' },
    ]);
    const owner = (expectData(await send(org.members.owner, VIEWER)) as ViewerData).viewer;
    expect(owner.workspace.projectPermissions).toHaveLength(12);
    expect(owner.workspace.projectPermissionSources.every((p) => p.sources[0]!.kind === 'ORGANIZATION_ROLE')).toBe(true);

    // In use: the custom role cannot be deleted, and says by whom.
    const inUse = await send(
      org.members.admin,
      'mutation($id: ID!) { deleteProjectRole(input: { id: $id }) { deletedProjectRoleId } }',
      { id: retrier },
      false,
    );
    expect(errorCodes(inUse)).toEqual(['CONFLICT']);
    expect(inUse.body.errors![0]!.message).toMatch(/in use by 1 project member/);

    // Her custom role does not show project members; Tom's team role (Operator) lists them but
    // cannot manage them; changing and removing works for the Owner.
    expect(errorCodes(await send(viewer, '{ projectMembers { name } }'))).toEqual(['FORBIDDEN']);
    const listed = expectData(await send(teamMember, '{ projectMembers { name kind role { name } } }')) as {
      projectMembers: { name: string; kind: string }[];
    };
    expect(listed.projectMembers.map((m) => m.kind)).toEqual(['MEMBER', 'TEAM']);
    expect(errorCodes(await send(teamMember, add, { input: { memberId: teamMember.membershipId, roleId: 'viewer' } }))).toEqual([
      'FORBIDDEN',
    ]);
    expectData(
      await send(
        org.members.owner,
        'mutation($id: ID!) { changeProjectMemberRole(input: { id: $id, roleId: "editor" }) { role { name } } }',
        {
          id: added.addProjectMember.id,
        },
      ),
    );
    const veraNow = (expectData(await send(viewer, VIEWER)) as ViewerData).viewer;
    expect(veraNow.permissions).toEqual(expect.arrayContaining(['workflows.update', 'workflows.deploy_prod']));
    expectData(
      await send(org.members.owner, 'mutation($id: ID!) { removeProjectMember(input: { id: $id }) { removedProjectMemberId } }', {
        id: added.addProjectMember.id,
      }),
    );
    expectData(
      await send(
        org.members.admin,
        'mutation($id: ID!) { deleteProjectRole(input: { id: $id }) { deletedProjectRoleId } }',
        { id: retrier },
        false,
      ),
    );
    const events = (await t.world.audit(org)).filter((e) => e.action.startsWith('project_'));
    expect(events.filter((e) => e.outcome === 'success').map((e) => e.action)).toEqual([
      'project_role.create',
      'project_role.duplicate',
      'project_member.add',
      'project_member.add',
      'project_member.change_role',
      'project_member.remove',
      'project_role.delete',
    ]);
  });
});

describe('projectRolesConnection and projectMembersConnection (issue 10: every row, page by page)', () => {
  it('page project roles in the order of projectRoles: the four system ones, then custom ones by name', async () => {
    for (const name of ['paged zulu', 'Paged alpha', 'paged Mike']) {
      expectData(
        await send(
          org.members.admin,
          'mutation($n: String!) { createProjectRole(input: { name: $n, permissions: ["project.flows.read"] }) { id } }',
          { n: name },
          false,
        ),
      );
    }
    type Roles = { projectRoles: { id: string; key: string | null; permissions: string[] }[] };
    const plain = (expectData(await send(org.members.viewer, '{ projectRoles { id key permissions } }', {}, false)) as Roles)
      .projectRoles;
    expect(plain.slice(0, 4).map((r) => r.key)).toEqual(['admin', 'editor', 'operator', 'viewer']);
    const query = connectionQuery('projectRolesConnection');
    const fetch = async (args: PageArgs) =>
      (expectData(await send(org.members.viewer, query, { ...args }, false)) as { projectRolesConnection: ConnectionData })
        .projectRolesConnection;
    // Pages of 3: the second crosses from the system roles (held in code) to the custom ones.
    await expectWalk(
      fetch,
      3,
      plain.map((r) => r.id),
    );
    await expectWalk(
      fetch,
      1,
      plain.map((r) => r.id),
    );
    const paged = expectData(
      await send(
        org.members.viewer,
        '{ projectRolesConnection(first: 100) { edges { node { id key permissions } } } }',
        {},
        false,
      ),
    ) as { projectRolesConnection: { edges: { node: unknown }[] } };
    expect(paged.projectRolesConnection.edges.map((e) => e.node)).toEqual(plain);
    // An End User sees the system ones only, as in the plain list.
    const endUser = org.members.end_user;
    const asEndUser = expectData(
      await send(
        endUser,
        '{ projectRoles { id } projectRolesConnection(first: 10) { totalCount edges { node { id } } } }',
        {},
        false,
      ),
    ) as { projectRoles: { id: string }[]; projectRolesConnection: { totalCount: number; edges: { node: { id: string } }[] } };
    expect(asEndUser.projectRolesConnection.edges.map((e) => e.node.id)).toEqual(asEndUser.projectRoles.map((r) => r.id));
    expect(asEndUser.projectRolesConnection.totalCount).toBe(4);
  });

  it('page a workspace’s project members (people first, then teams, as added); the same refusal; a foreign workspace like a missing one', async () => {
    const space = await t.world.workspace(org, `Paged space ${randomUUID().slice(0, 6)}`);
    const inSpace = async (member: SeededMember, query: string, variables: Record<string, unknown> = {}, ws = space) =>
      t.client.request(query, variables, {
        token: await t.world.token(member),
        orgId: org.id,
        headers: { 'x-workspace-id': ws },
      });
    for (let i = 0; i < 5; i++) {
      if (i % 2 === 0) {
        const team = expectData(
          await send(
            org.members.admin,
            'mutation($n: String!) { createTeam(input: { name: $n }) { id } }',
            { n: `PM team ${i} ${randomUUID().slice(0, 4)}` },
            false,
          ),
        ) as { createTeam: { id: string } };
        await t.world.projectMember(org, space, { teamId: team.createTeam.id }, 'editor');
      }
      const person = await t.world.member(org, 'viewer', `paged member ${i}`);
      await t.world.projectMember(org, space, { membershipId: person.membershipId }, 'viewer');
    }
    type Members = { projectMembers: { id: string; kind: string }[] };
    const plain = (expectData(await inSpace(org.members.owner, '{ projectMembers { id kind } }')) as Members).projectMembers;
    expect(plain.map((m) => m.kind)).toEqual(['MEMBER', 'MEMBER', 'MEMBER', 'MEMBER', 'MEMBER', 'TEAM', 'TEAM', 'TEAM']);
    const query = connectionQuery('projectMembersConnection');
    const fetch = async (args: PageArgs) =>
      (expectData(await inSpace(org.members.owner, query, { ...args })) as { projectMembersConnection: ConnectionData })
        .projectMembersConnection;
    await expectWalk(
      fetch,
      3,
      plain.map((m) => m.id),
    );
    await expectWalk(
      fetch,
      5,
      plain.map((m) => m.id),
    );

    // Whoever the plain list refuses, the connection refuses the same way.
    const viewer = org.members.viewer;
    const [plainDenied, pagedDenied] = [
      await inSpace(viewer, '{ projectMembers { id } }'),
      await inSpace(viewer, '{ projectMembersConnection(first: 5) { edges { node { id } } } }'),
    ];
    expect(plainDenied.body.data).toEqual({ projectMembers: null });
    expect(pagedDenied.body.data).toEqual({ projectMembersConnection: null });
    expect(errorCodes(pagedDenied)).toEqual(errorCodes(plainDenied));
    expect(errorCodes(pagedDenied)).toEqual(['FORBIDDEN']);

    // Another organization's workspace answers exactly like one that does not exist.
    const elsewhere = await t.world.organization('Elsewhere');
    const paging = '{ projectMembersConnection(first: 5) { edges { node { id } } } }';
    const foreign = await inSpace(org.members.owner, paging, {}, await t.world.defaultWorkspace(elsewhere));
    const unknown = await inSpace(org.members.owner, paging, {}, randomUUID());
    expect([foreign.status, unknown.status]).toEqual([403, 403]);
    expect(foreign.body).toEqual(unknown.body);
  });
});
