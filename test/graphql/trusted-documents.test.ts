/**
 * Trusted documents: the manifest codegen writes (test/generated/persisted-documents.json, from
 * the typed operations in test/graphql/operations.ts — the model frontend), and the gateway's
 * three modes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { print, type DocumentNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifest, useTrustedDocuments } from '../../src/http/trusted-documents.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';
import { CreateWorkflow, ViewerQuery } from './operations.js';

const MANIFEST = fileURLToPath(new URL('../generated/persisted-documents.json', import.meta.url));

function idOf(document: DocumentNode): string {
  const id = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!id) throw new Error('document has no persisted id (run npm run codegen)');
  return id;
}

async function send(t: TestGateway, body: Record<string, unknown>, token?: string) {
  const response = await fetch(t.gateway.graphqlUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as { data?: any; errors?: any[] } };
}

describe('the manifest (codegen client preset, persistedDocuments)', () => {
  it('holds every typed operation, each under the SHA-256 of its document', () => {
    const manifest = loadManifest(MANIFEST);
    expect(manifest.size).toBeGreaterThanOrEqual(10);
    expect(manifest.get(idOf(ViewerQuery).replace('sha256:', ''))).toMatch(/^query Viewer/);
  });

  it('a tampered or unreadable manifest stops the gateway at start', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-'));
    try {
      const tampered = path.join(dir, 'tampered.json');
      const original = JSON.parse(fs.readFileSync(MANIFEST, 'utf8')) as Record<string, string>;
      const [firstId] = Object.keys(original);
      fs.writeFileSync(
        tampered,
        JSON.stringify({ ...original, [firstId!]: 'mutation { deleteOrganization(confirmName: "x") }' }),
      );
      // What the gateway calls while it is built (src/yoga.ts): a throw here stops the start.
      expect(() => useTrustedDocuments('required', tampered)).toThrow(/not the SHA-256 of its document/);
      expect(() => useTrustedDocuments('allowed', path.join(dir, 'missing.json'))).toThrow(/cannot be read/);
      expect(useTrustedDocuments('off', path.join(dir, 'missing.json'))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TRUSTED_DOCUMENTS=required', () => {
  let t: TestGateway;
  let org: SeededOrg;
  let token: string;
  beforeAll(async () => {
    t = await startTestGateway({ TRUSTED_DOCUMENTS: 'required', TRUSTED_DOCUMENTS_MANIFEST: MANIFEST });
    org = await t.world.organization('Trusted', { workflows: 0 });
    token = await t.world.token(org.members.developer);
  });
  afterAll(() => t?.stop());

  it('runs a manifest id, queries and mutations with variables', async () => {
    const viewer = await send(t, { documentId: idOf(ViewerQuery) }, token);
    expect(viewer.status).toBe(200);
    expect(viewer.body.data.viewer.organization.name).toBe('Trusted');
    const created = await send(t, { documentId: idOf(CreateWorkflow), variables: { input: { name: 'Persisted' } } }, token);
    expect(created.body.errors).toBeUndefined();
    expect(created.body.data.createWorkflow.name).toBe('Persisted');
    // Apollo's persisted-query extension names the same ids.
    const apollo = await send(
      t,
      { extensions: { persistedQuery: { version: 1, sha256Hash: idOf(ViewerQuery).replace('sha256:', '') } } },
      token,
    );
    expect(apollo.body.data.viewer.user).toBeTruthy();
  });

  it('refuses any other document with PERSISTED_QUERY_ONLY — even the text of a manifest operation — and runs nothing', async () => {
    for (const query of [
      print(ViewerQuery),
      'mutation { createOrganization(input: { name: "Smuggled" }) { id } }',
      '{ __typename }',
    ]) {
      const response = await send(t, { query }, token);
      expect(response.status, query).toBe(400);
      expect(
        response.body.errors!.map((e) => e.extensions.code),
        query,
      ).toEqual(['PERSISTED_QUERY_ONLY']);
      expect(response.body.data, query).toBeUndefined();
    }
    const owner = new pg.Client({ connectionString: t.db.superuserUrl }); // forced RLS hides rows from the app role and the owner
    await owner.connect();
    try {
      const { rows } = await owner.query(`select count(*)::int as n from app_public.organizations where name = 'Smuggled'`);
      expect(rows[0].n).toBe(0);
      const { rows: all } = await owner.query(`select count(*)::int as n from app_public.organizations where name = 'Trusted'`);
      expect(all[0].n).toBe(1);
    } finally {
      await owner.end();
    }
  });

  it('refuses an unknown id with PERSISTED_QUERY_NOT_FOUND', async () => {
    const response = await send(t, { documentId: `sha256:${'0'.repeat(64)}` }, token);
    expect(response.status).toBe(400);
    expect(response.body.errors!.map((e) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('TRUSTED_DOCUMENTS=allowed', () => {
  let t: TestGateway;
  let token: string;
  beforeAll(async () => {
    t = await startTestGateway({ TRUSTED_DOCUMENTS: 'allowed', TRUSTED_DOCUMENTS_MANIFEST: MANIFEST });
    token = await t.world.token((await t.world.organization('Allowed')).members.viewer);
  });
  afterAll(() => t?.stop());

  it('runs manifest ids and arbitrary documents; an unknown id is still refused', async () => {
    expect((await send(t, { documentId: idOf(ViewerQuery) }, token)).body.data.viewer.organization.name).toBe('Allowed');
    expect((await send(t, { query: '{ viewer { organization { name } } }' }, token)).body.data.viewer.organization.name).toBe(
      'Allowed',
    );
    const unknown = await send(t, { documentId: `sha256:${'1'.repeat(64)}` }, token);
    expect(unknown.body.errors!.map((e) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('TRUSTED_DOCUMENTS=off (the default)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(() => t?.stop());

  it('runs documents and does not look ids up', async () => {
    expectData(await t.client.request('{ __typename }'));
    const byId = await send(t, { documentId: idOf(ViewerQuery) });
    expect(byId.status).toBe(400);
    expect(byId.body.data).toBeUndefined();
    expect(errorCodes({ status: byId.status, headers: byId.headers, body: byId.body })).not.toContain('PERSISTED_QUERY_ONLY');
  });
});
