import { describe, expect, it } from 'vitest';
import { CATEGORIES, PERMISSIONS, SYSTEM_ROLES, categoryCoverage, systemRole } from '../../src/authz/permissions.js';

describe('the role matrix (ARCHITECTURE.md §3)', () => {
  it('holds 39 distinct permissions', () => {
    expect(PERMISSIONS).toHaveLength(39);
    expect(new Set(PERMISSIONS.map((p) => p.key)).size).toBe(39);
  });

  it('gives the product’s counts per role: 39/39/34/18/7/9', () => {
    expect(Object.fromEntries(SYSTEM_ROLES.map((r) => [r.key, r.permissions.length]))).toEqual({
      owner: 39,
      admin: 39,
      developer: 34,
      operator: 18,
      viewer: 7,
      end_user: 9,
    });
  });

  it('has the five seed categories with 6/6/7/5/5 actions', () => {
    const resource = CATEGORIES.filter((c) => c.group === 'resource');
    expect(resource.map((c) => [c.key, PERMISSIONS.filter((p) => p.category === c.key).length])).toEqual([
      ['connectors', 6],
      ['connections', 6],
      ['workflows', 7],
      ['agents', 5],
      ['tools', 5],
    ]);
    expect(PERMISSIONS.filter((p) => CATEGORIES.find((c) => c.key === p.category)?.group === 'platform')).toHaveLength(10);
  });

  it('matches the Roles page’s matrix per category', () => {
    const coverage = (role: Parameters<typeof systemRole>[0]) =>
      Object.fromEntries(
        categoryCoverage(systemRole(role).permissions)
          .filter((c) => c.category.group === 'resource')
          .map((c) => [c.category.key, `${c.granted}/${c.total}`]),
      );
    const full = { connectors: '6/6', connections: '6/6', workflows: '7/7', agents: '5/5', tools: '5/5' };
    expect(coverage('owner')).toEqual(full);
    expect(coverage('admin')).toEqual(full);
    expect(coverage('developer')).toEqual(full);
    // Viewer: read-only in each category.
    for (const category of categoryCoverage(systemRole('viewer').permissions).filter((c) => c.category.group === 'resource')) {
      expect(category.permissions.filter((p) => p.granted).map((p) => p.permission.action)).toEqual(['read']);
    }
    // End User: only Connections among the five.
    expect(coverage('end_user')).toEqual({
      connectors: '0/6',
      connections: '6/6',
      workflows: '0/7',
      agents: '0/5',
      tools: '0/5',
    });
  });

  it('keeps Developer out of billing, settings and user roles', () => {
    const developer = new Set(systemRole('developer').permissions);
    for (const p of ['billing.manage', 'settings.manage', 'roles.manage', 'people.manage', 'customers.manage'] as const) {
      expect(developer.has(p)).toBe(false);
    }
  });
});
