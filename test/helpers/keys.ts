/** Creating service principals through the API, as a `settings.manage` holder would. */
import { expect } from 'vitest';
import { expectData, type GatewayClient } from './gateway.js';

export const CREATE_KEY = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id name kind prefix environment status permissions role { id name } customer { id } workspaceId createdBy { id } } }
}`;

export interface CreatedKey {
  id: string;
  /** Null for OIDC clients (they have no key). */
  secret: string;
  permissions: string[];
}

export interface KeyInput {
  name?: string;
  kind?: 'API_KEY' | 'RUNNER' | 'OIDC_CLIENT';
  roleId?: string | null;
  customerId?: string | null;
  workspaceId?: string | null;
  environment?: 'TEST' | 'LIVE' | null;
  expiresAt?: string | null;
  oidcClientId?: string | null;
}

export async function createKey(client: GatewayClient, asToken: string, orgId: string, input: KeyInput): Promise<CreatedKey> {
  const kind = input.kind ?? 'API_KEY';
  const data = expectData(
    await client.request<{ createApiKey: { secret: string; apiKey: { id: string; permissions: string[] } } }>(
      CREATE_KEY,
      {
        input: {
          name: input.name ?? `key ${Math.random().toString(36).slice(2, 8)}`,
          kind,
          environment: input.environment === undefined ? (kind === 'OIDC_CLIENT' ? null : 'LIVE') : input.environment,
          ...(input.roleId ? { roleId: input.roleId } : {}),
          ...(input.customerId ? { customerId: input.customerId } : {}),
          ...(input.workspaceId ? { workspaceId: input.workspaceId } : {}),
          ...(input.expiresAt ? { expiresAt: input.expiresAt } : {}),
          ...(input.oidcClientId ? { oidcClientId: input.oidcClientId } : {}),
        },
      },
      { token: asToken, orgId },
    ),
  );
  if (kind !== 'OIDC_CLIENT') expect(data.createApiKey.secret).toMatch(/^gw[kr]_(live|test)_[a-z0-9]{16}_/);
  return { id: data.createApiKey.apiKey.id, secret: data.createApiKey.secret, permissions: data.createApiKey.apiKey.permissions };
}
