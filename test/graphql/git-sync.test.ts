/**
 * Git sync against real repositories (a bare repository this test creates, and a second clone
 * to change it from outside): push writes one readable file per definition with the caller as
 * author; a colleague changes the branch; pull creates new versions and new definitions and
 * says so; a push after the branch moved is refused; malformed files refuse the whole pull and
 * change nothing; credentials are write-only and encrypted; every operation is audited.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { createBareRepository, serveOverHttp, type BareRepository } from '../helpers/git.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let org: SeededOrg;
let workspace: string;
let repository: BareRepository;
let flowId: string;

beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Gitty', { workflows: 0 });
  workspace = await t.world.workspace(org, 'Synced');
  repository = await createBareRepository();
  flowId = await t.world.inOrg(org, async (db) => {
    const { createDefinition } = await import('../../src/domain/definitions.js');
    return createDefinition(db, 'workflow', org.members.owner.userId, {
      name: 'Lead Routing',
      workspaceId: workspace,
      definition: { steps: [{ type: 'trigger', on: 'lead.created' }], b: 2, a: 1 },
    });
  });
  await t.world.definitionIn(org, workspace, 'connector', 'HubSpot CRM');
  // A definition in another workspace never reaches this workspace's repository.
  await t.world.workflow(org, 'Elsewhere');
});
afterAll(async () => {
  await repository?.remove();
  await t?.stop();
});

async function send(member: SeededMember, query: string, variables: Record<string, unknown> = {}) {
  return t.client.request(query, variables, {
    token: await t.world.token(member),
    orgId: org.id,
    headers: { 'x-workspace-id': workspace },
  });
}

const CONFIGURE =
  'mutation($input: ConfigureGitRepositoryInput!) { configureGitRepository(input: $input) { url branch hasCredentials syncedCommit } }';
const PUSH = 'mutation($m: String) { pushToGit(input: { message: $m }) { commit changed files } }';
const PULL = `mutation { pullFromGit { commit
  added { path kind name version } updated { path kind name version } unchanged { path kind name version } } }`;

describe('configuring the repository', () => {
  it('refuses URLs it may not use and repositories it cannot read', async () => {
    const owner = org.members.owner;
    for (const url of ['ext::sh -c touch% /tmp/pwned', 'relative/path', 'https://user:secret@example.com/repo.git']) {
      const response = await send(owner, CONFIGURE, { input: { url } });
      expect(errorCodes(response), url).toEqual(['BAD_USER_INPUT']);
      expect(response.body.errors![0]!.extensions!.field).toBe('input.url');
    }
    const unreadable = await send(owner, CONFIGURE, { input: { url: `${repository.dir}-missing` } });
    expect(errorCodes(unreadable)).toEqual(['BAD_USER_INPUT']);
    const badBranch = await send(owner, CONFIGURE, { input: { url: repository.url, branch: '../main' } });
    expect(errorCodes(badBranch)).toEqual(['BAD_USER_INPUT']);
  });

  it('stores credentials encrypted and never returns them', async () => {
    const configured = expectData(
      await send(org.members.owner, CONFIGURE, {
        input: { url: repository.url, branch: 'main', credentials: { username: 'bot', password: 'super-secret-token-42' } },
      }),
    ) as { configureGitRepository: { hasCredentials: boolean; url: string } };
    expect(configured.configureGitRepository).toMatchObject({ hasCredentials: true, url: repository.url });
    const superuser = new pg.Client({ connectionString: t.db.superuserUrl });
    await superuser.connect();
    try {
      const { rows } = await superuser.query<{ credentials: Buffer }>('select credentials from app_public.git_repositories');
      expect(rows).toHaveLength(1);
      expect(rows[0]!.credentials.toString('latin1')).not.toContain('super-secret-token-42');
      const audit = await superuser.query<{ details: unknown }>(
        `select details from app_public.audit_events where action like 'git.%'`,
      );
      expect(JSON.stringify(audit.rows)).not.toContain('super-secret-token-42');
    } finally {
      await superuser.end();
    }
    expect(t.logs.join('\n')).not.toContain('super-secret-token-42');
    // A local repository ignores the header; the credentials still travel (and still work).
    const read = expectData(await send(org.members.owner, '{ gitRepository { url hasCredentials } }')) as {
      gitRepository: { hasCredentials: boolean };
    };
    expect(read.gitRepository.hasCredentials).toBe(true);
  });
});

describe('over HTTP with credentials (a hosted repository)', () => {
  it('refuses wrong credentials when configuring, and pushes with the right ones (as an Authorization header)', async () => {
    const hosted = await createBareRepository();
    const server = await serveOverHttp(hosted, 'bot', 'right-token-7');
    const other = await t.world.workspace(org, 'Hosted');
    await t.world.definitionIn(org, other, 'workflow', 'Hosted flow');
    const inOther = async (query: string, variables: Record<string, unknown> = {}) =>
      t.client.request(query, variables, {
        token: await t.world.token(org.members.owner),
        orgId: org.id,
        headers: { 'x-workspace-id': other },
      });
    try {
      const none = await inOther(CONFIGURE, { input: { url: server.url } });
      expect(errorCodes(none)).toEqual(['BAD_USER_INPUT']);
      const wrong = await inOther(CONFIGURE, { input: { url: server.url, credentials: { username: 'bot', password: 'wrong' } } });
      expect(errorCodes(wrong)).toEqual(['BAD_USER_INPUT']);
      expect(JSON.stringify(wrong.body)).not.toContain('wrong');
      expectData(
        await inOther(CONFIGURE, { input: { url: server.url, credentials: { username: 'bot', password: 'right-token-7' } } }),
      );
      const pushed = expectData(await inOther(PUSH, { m: 'Over HTTP' })) as { pushToGit: { commit: string } };
      expect(await hosted.head()).toBe(pushed.pushToGit.commit);
      expect(server.seen).toContain(`Basic ${Buffer.from('bot:right-token-7').toString('base64')}`);
      // The stored credentials keep working for a pull; nothing of them in the logs.
      expectData(await inOther(PULL));
      expect(t.logs.join('\n')).not.toContain('right-token-7');
    } finally {
      await server.stop();
      await hosted.remove();
    }
  });
});

describe('push, change outside, pull', () => {
  it('pushes one readable, stable file per definition with the caller as author', async () => {
    const pushed = expectData(await send(org.members.admin, PUSH, { m: 'First sync' })) as {
      pushToGit: { commit: string; changed: boolean; files: string[] };
    };
    expect(pushed.pushToGit.changed).toBe(true);
    expect(pushed.pushToGit.files).toEqual(['connectors/hubspot-crm.json', 'workflows/lead-routing.json']);
    expect(await repository.head()).toBe(pushed.pushToGit.commit);

    const clone = await repository.clone();
    const file = await clone.read('workflows/lead-routing.json');
    expect(file).toBe(
      `${JSON.stringify(
        {
          kind: 'workflow',
          id: flowId,
          name: 'Lead Routing',
          description: '',
          enabled: true,
          definition: { a: 1, b: 2, steps: [{ on: 'lead.created', type: 'trigger' }] },
        },
        null,
        2,
      )}\n`,
    );
    const [commit] = await clone.log();
    expect(commit).toMatchObject({ subject: 'First sync', author: `${org.members.admin.name} <${org.members.admin.email}>` });

    // Nothing changed: no new commit.
    const again = expectData(await send(org.members.admin, PUSH)) as { pushToGit: { changed: boolean; commit: string } };
    expect(again.pushToGit).toMatchObject({ changed: false, commit: pushed.pushToGit.commit });
  });

  it('pulls a colleague’s changes: a new version for the changed file, a new definition for the added one', async () => {
    const clone = await repository.clone();
    const flow = JSON.parse(await clone.read('workflows/lead-routing.json')) as Record<string, unknown>;
    flow.definition = {
      steps: [
        { type: 'trigger', on: 'lead.created' },
        { type: 'assign', to: 'sales' },
      ],
    };
    await clone.write('workflows/lead-routing.json', JSON.stringify(flow, null, 2));
    await clone.write(
      'workflows/churn-alert.json',
      JSON.stringify({ kind: 'workflow', name: 'Churn Alert', definition: { steps: [] } }, null, 2),
    );
    await clone.write('README.md', 'not a definition: ignored');
    const outside = await clone.commitAndPush('Colleague edits');

    const pulled = expectData(await send(org.members.admin, PULL)) as {
      pullFromGit: {
        commit: string;
        added: { path: string; name: string; version: number }[];
        updated: { path: string; version: number }[];
        unchanged: { path: string }[];
      };
    };
    expect(pulled.pullFromGit.commit).toBe(outside);
    expect(pulled.pullFromGit.added).toEqual([
      { path: 'workflows/churn-alert.json', kind: 'WORKFLOW', name: 'Churn Alert', version: 1 },
    ]);
    expect(pulled.pullFromGit.updated).toEqual([
      { path: 'workflows/lead-routing.json', kind: 'WORKFLOW', name: 'Lead Routing', version: 2 },
    ]);
    expect(pulled.pullFromGit.unchanged.map((u) => u.path)).toEqual(['connectors/hubspot-crm.json']);

    const flows = expectData(
      await send(
        org.members.admin,
        '{ workflows(first: 10, orderBy: { field: NAME, direction: ASC }) { edges { node { name version definition workspaceId } } } }',
      ),
    ) as { workflows: { edges: { node: { name: string; version: number; definition: unknown; workspaceId: string } }[] } };
    expect(flows.workflows.edges.map((e) => [e.node.name, e.node.version, e.node.workspaceId])).toEqual([
      ['Churn Alert', 1, workspace],
      ['Lead Routing', 2, workspace],
    ]);
    expect(flows.workflows.edges[1]!.node.definition).toEqual(flow.definition);

    // Pulling the same commit again changes nothing.
    const again = expectData(await send(org.members.admin, PULL)) as { pullFromGit: { added: unknown[]; updated: unknown[] } };
    expect([again.pullFromGit.added, again.pullFromGit.updated]).toEqual([[], []]);
  });

  it('refuses a push when the branch moved since the last sync, and pushes after a pull', async () => {
    const clone = await repository.clone();
    await clone.write('workflows/notes.json', JSON.stringify({ kind: 'workflow', name: 'Notes', definition: {} }));
    const moved = await clone.commitAndPush('Moved on');
    await t.world.inOrg(org, (db) => db.query(`update definitions set description = 'changed here' where id = $1`, [flowId]));
    const rejected = await send(org.members.admin, PUSH, { m: 'Would overwrite' });
    expect(errorCodes(rejected)).toEqual(['CONFLICT']);
    expect(rejected.body.errors![0]!.message).toMatch(/branch moved.*pull first/i);
    expect(await repository.head()).toBe(moved);

    expectData(await send(org.members.admin, PULL));
    const pushed = expectData(await send(org.members.admin, PUSH, { m: 'After pull' })) as { pushToGit: { commit: string } };
    expect(await repository.head()).toBe(pushed.pushToGit.commit);
    const log = await (await repository.clone()).log();
    expect(log.map((c) => c.subject).slice(0, 2)).toEqual(['After pull', 'Moved on']);
  });

  it('refuses a pull with malformed files and changes nothing', async () => {
    const before = expectData(
      await send(org.members.admin, '{ workflows(first: 20) { totalCount edges { node { id version } } } }'),
    );
    const clone = await repository.clone();
    await clone.write('workflows/broken.json', '{ "name": "Broken", ');
    await clone.write('connectors/no-auth.json', JSON.stringify({ name: 'No auth', definition: {} }));
    await clone.write('workflows/fine.json', JSON.stringify({ name: 'Would be fine', definition: { ok: true } }));
    const flow = JSON.parse(await clone.read('workflows/lead-routing.json')) as Record<string, unknown>;
    flow.definition = { steps: ['changed again'] };
    await clone.write('workflows/lead-routing.json', JSON.stringify(flow));
    await clone.commitAndPush('Bad files');

    const response = await send(org.members.admin, PULL);
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    const refused = response.body.errors![0]!.extensions!.refused as { path: string; reason: string }[];
    expect(refused.map((r) => r.path).sort()).toEqual(['connectors/no-auth.json', 'workflows/broken.json']);
    expect(refused.find((r) => r.path === 'workflows/broken.json')!.reason).toBe('not valid JSON');
    const after = expectData(
      await send(org.members.admin, '{ workflows(first: 20) { totalCount edges { node { id version } } } }'),
    );
    expect(after).toEqual(before);
  });

  it('audits every operation, with its outcome', async () => {
    const events = (await t.world.audit(org)).filter((e) => e.action.startsWith('git.'));
    const outcomes = events.map((e) => `${e.action}:${e.outcome}`);
    expect(outcomes).toContain('git.configure:success');
    expect(outcomes).toContain('git.configure:failure');
    expect(outcomes).toContain('git.push:success');
    expect(outcomes).toContain('git.push:failure');
    expect(outcomes).toContain('git.pull:success');
    expect(outcomes).toContain('git.pull:failure');
    // Successes name the workspace they synced (this one, or the hosted one above).
    const workspaces = (await t.world.inOrg(org, (db) => db.query<{ id: string }>('select id from workspaces'))).rows.map(
      (w) => w.id,
    );
    expect(events.filter((e) => e.outcome === 'success').every((e) => workspaces.includes(e.resource_id!))).toBe(true);
    expect(events.some((e) => e.outcome === 'success' && e.resource_id === workspace)).toBe(true);
  });

  it('is only for the workspace’s project Admins (and organization Owner/Admin)', async () => {
    const developer = await send(org.members.developer, PUSH);
    expect(errorCodes(developer)).toEqual(['FORBIDDEN']);
    const noWorkspace = await t.client.request(PUSH, {}, { token: await t.world.token(org.members.owner), orgId: org.id });
    expect(errorCodes(noWorkspace)).toEqual(['FORBIDDEN']);
    expect(noWorkspace.body.errors![0]!.message).toMatch(/X-Workspace-Id/);
  });
});
